"""One MQTT connection against a broker that accepts TCP but never sends CONNACK."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
from typing import Any, AsyncIterator, Dict, Iterator, List

import pytest

from edged.sinks.mqtt_client import ClientSettings, MqttConnectError, MqttConnection


class SilentBroker:
    """A loopback listener that accepts connections, reads what comes, and never answers.

    ``greeted`` is set once a client's CONNECT has arrived, i.e. it now awaits CONNACK."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        self.accepted = threading.Event()
        self.greeted = threading.Event()
        self._clients: List[socket.socket] = []
        threading.Thread(target=self._accept, name="silent-broker", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._clients.append(client)
            self.accepted.set()
            threading.Thread(target=self._read, args=(client,), daemon=True).start()

    def _read(self, client: socket.socket) -> None:
        while True:
            try:
                data = client.recv(4096)
            except OSError:
                return
            if not data:
                return
            self.greeted.set()

    def close(self) -> None:
        self._listener.close()
        for client in self._clients:
            client.close()


@pytest.fixture
def silent_broker() -> Iterator[SilentBroker]:
    broker = SilentBroker()
    yield broker
    broker.close()


@pytest.fixture
async def loop_errors() -> AsyncIterator[List[Dict[str, Any]]]:
    """What reaches the loop's exception handler (e.g. 'Future exception was never retrieved')."""
    loop = asyncio.get_running_loop()
    errors: List[Dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield errors
    loop.set_exception_handler(None)


def _settings(port: int, timeout_s: float) -> ClientSettings:
    return ClientSettings(
        host="127.0.0.1", port=port, client_id="edged-silent", connect_timeout_s=timeout_s
    )


async def _settle() -> None:
    """Let the threads that stop paho end and their callbacks reach the loop."""
    loop = asyncio.get_running_loop()
    for thread in threading.enumerate():
        if thread.name == "mqtt-stop":
            await loop.run_in_executor(None, thread.join, 5)
    for _ in range(10):  # callbacks handed over with call_soon_threadsafe run here
        await asyncio.sleep(0.02)


async def _collect() -> None:
    """Free the futures nobody references any more: an unretrieved exception is reported now."""
    gc.collect()
    await asyncio.sleep(0)


def _unretrieved(errors: List[Dict[str, Any]]) -> List[str]:
    return [str(e.get("message")) + " " + repr(e.get("exception")) for e in errors]


async def test_a_connack_timeout_leaves_no_unretrieved_exception(silent_broker, loop_errors):
    connection = MqttConnection(_settings(silent_broker.port, 0.3))
    with pytest.raises(MqttConnectError, match="no answer"):
        await connection.open()
    assert silent_broker.greeted.is_set()
    await _settle()
    del connection
    await _collect()
    assert not loop_errors, _unretrieved(loop_errors)


async def test_shutdown_while_waiting_for_connack_leaves_no_unretrieved_exception(
    silent_broker, loop_errors
):
    connection = MqttConnection(_settings(silent_broker.port, 30))
    opening = asyncio.ensure_future(connection.open())
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, silent_broker.greeted.wait, 5)
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    assert connection.closed.is_set()
    await _settle()
    del connection
    await _collect()
    assert not loop_errors, _unretrieved(loop_errors)
