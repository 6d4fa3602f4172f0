"""One MQTT connection: a paho client bridged to asyncio, used for exactly one session.

paho's network loop runs in its own thread (``loop_start()``); its callbacks do
nothing but hand over to the event loop with ``call_soon_threadsafe``. The
blocking parts of connecting (DNS, TCP, the TLS handshake) run in a short-lived
daemon thread (``mqtt-connect``), so a connect stuck on a dead network can delay
neither the loop nor the process's exit.
paho's own reconnecting is switched off (``reconnect_on_failure=False``): when
the link drops, this object is finished and the MQTT sink makes a new one after
a backoff. A fresh client per session means paho never holds (and resends) a
message that the spool will resend anyway, so the spool is the only outbox.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from edged.config.mqtt import MqttTlsConfig

__all__ = ["AckCallback", "ClientSettings", "MqttConnectError", "MqttConnection", "MqttError"]

AckCallback = Callable[[Optional[str]], None]
"""Called on the loop with None when the broker acknowledged, or with the broker's refusal
(an MQTT 5 reason code). Not called for a message whose connection ended first."""


class MqttError(Exception):
    """Base of the MQTT errors edged raises."""


class MqttConnectError(MqttError):
    """A connection attempt failed; ``str()`` says why in words a person can act on.

    ``config_problem`` is True when retrying alone will not help (credentials, TLS,
    client id): the sink logs those as errors, and network trouble as warnings.
    """

    def __init__(self, message: str, config_problem: bool = False):
        super().__init__(message)
        self.config_problem = config_problem


@dataclass(frozen=True)
class ClientSettings:
    host: str
    port: int
    client_id: str
    protocol: str = "3.1.1"
    keepalive_s: int = 30
    connect_timeout_s: float = 10.0
    username: Optional[str] = None
    password: Optional[Callable[[], Optional[str]]] = None  # read when connecting (file/env)
    tls: Optional[MqttTlsConfig] = None
    will: Optional[Tuple[str, bytes, int, bool]] = None  # topic, payload, qos, retain

    @property
    def broker(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def tls_context(tls: MqttTlsConfig) -> ssl.SSLContext:
    """An SSL context from the TLS config; raises MqttConnectError naming the bad file."""
    try:
        context = ssl.create_default_context(cafile=tls.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise MqttConnectError(
            f"TLS: cannot load ca_file {tls.ca_file!r}: {_strerror(exc)}", True
        ) from None
    if tls.cert_file:
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise MqttConnectError(
                f"TLS: cannot load cert_file {tls.cert_file!r}"
                f"{f' / key_file {tls.key_file!r}' if tls.key_file else ''}: {_strerror(exc)}",
                True,
            ) from None
    if tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class MqttConnection:
    """A paho client for one session. ``open()`` connects; ``closed`` is set when it ends."""

    def __init__(
        self,
        settings: ClientSettings,
        on_message: Optional[Callable[[str, bytes], None]] = None,
        log: Optional[logging.Logger] = None,
    ):
        self.settings = settings
        self.log = log or logging.getLogger(__name__)
        self._on_message_cb = on_message
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._client: Optional[paho.Client] = None
        self._connack: Optional[asyncio.Future] = None
        self._acks: Dict[int, AckCallback] = {}
        self._waiting: Deque[Tuple[str, bytes, int, bool, Optional[AckCallback]]] = deque()
        self._inbox: List[Tuple[int, Optional[str]]] = []  # acks from paho's thread
        self._inbox_lock = threading.Lock()
        self.receive_maximum = 65535  # MQTT 5 brokers may announce less in CONNACK
        self._abandoned = False
        self._client_started = False
        self._start_lock = threading.Lock()
        self.closed = asyncio.Event()
        self.close_reason: Optional[str] = None
        self.connected = False

    # ------------------------------------------------------------ connecting

    async def open(self) -> None:
        """Connect and wait for the broker's CONNACK; raises MqttConnectError saying why not."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._connack = loop.create_future()
        timeout_s = self.settings.connect_timeout_s
        try:
            await _in_thread(self._connect_blocking, "mqtt-connect")
            await asyncio.wait_for(asyncio.shield(self._connack), timeout_s)
        except asyncio.CancelledError:
            # The thread may still be inside connect(); it sees this flag when it
            # returns and stops the client itself. Nothing here waits for a TCP timeout.
            self._drop_connack()
            with self._start_lock:
                self._abandoned = True
                started = self._client_started
            if started:  # nobody awaits the stop: a failure in it is logged, not lost
                _in_thread(self._stop_blocking, "mqtt-stop").add_done_callback(self._log_failure)
            self._set_closed("cancelled")
            raise
        except asyncio.TimeoutError:
            self._drop_connack()
            await self._abandon()
            raise MqttConnectError(
                f"{self.settings.broker}: no answer (CONNACK) from the broker within "
                f"{timeout_s:g} s"
            ) from None
        except BaseException:
            self._drop_connack()
            await self._abandon()
            raise
        self.connected = True

    def _drop_connack(self) -> None:
        """Nobody waits for the CONNACK any more: settle its future as cancelled.

        Stopping paho makes it report a disconnect, which would otherwise fail this
        future with an exception no one retrieves, and asyncio then logs "Future
        exception was never retrieved" when the future is collected (at shutdown,
        typically). A cancelled future is never reported.
        """
        fut = self._connack
        if fut is not None and not fut.done():
            fut.cancel()

    def _connect_blocking(self) -> None:
        """Runs in its own thread: build the client, TCP/TLS connect, send CONNECT, start paho."""
        s = self.settings
        v5 = s.protocol == "5"
        try:
            password = s.password() if s.password is not None else None
        except ValueError as exc:  # SecretError: an unreadable password_file, a missing env
            raise MqttConnectError(f"{s.broker}: {exc}", True) from None
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else True,
            reconnect_on_failure=False,
        )
        client.connect_timeout = s.connect_timeout_s
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(0)  # the outbox keeps its own window
        if s.username is not None:
            client.username_pw_set(s.username, password)
        if s.tls is not None:
            client.tls_set_context(tls_context(s.tls))
            if s.tls.insecure:
                client.tls_insecure_set(True)
        if s.will is not None:
            topic, payload, qos, retain = s.will
            client.will_set(topic, payload, qos, retain)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client
        try:
            if v5:
                client.connect(s.host, s.port, s.keepalive_s, clean_start=True)
            else:
                client.connect(s.host, s.port, s.keepalive_s)
        except ssl.SSLCertVerificationError as exc:
            raise MqttConnectError(
                f"{s.broker}: TLS certificate check failed: {exc.verify_message or exc.reason}"
                "; check tls.ca_file and that the broker's certificate names this host",
                True,
            ) from None
        except ssl.SSLError as exc:
            text = str(exc)
            hint = (
                "; is this port a TLS listener?"
                if "WRONG_VERSION_NUMBER" in text or "record layer" in text
                else ""
            )
            raise MqttConnectError(
                f"{s.broker}: TLS handshake failed: {exc.reason or exc}{hint}", True
            ) from None
        except ConnectionRefusedError:
            raise MqttConnectError(
                f"{s.broker}: connection refused (is the broker running and listening there?)"
            ) from None
        except socket.gaierror as exc:
            raise MqttConnectError(
                f"{s.broker}: cannot resolve host {s.host!r}: {exc.strerror}"
            ) from None
        except (socket.timeout, TimeoutError):
            raise MqttConnectError(
                f"{s.broker}: timed out after {s.connect_timeout_s:g} s connecting"
            ) from None
        except OSError as exc:
            raise MqttConnectError(f"{s.broker}: cannot connect: {_strerror(exc)}") from None
        with self._start_lock:
            if self._abandoned:  # cancelled while connecting: nobody will use this client
                _stop_client(client)
                return
            client.loop_start()
            self._client_started = True

    def _log_failure(self, fut: asyncio.Future) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            self.log.warning("stopping the MQTT client failed: %s", fut.exception())

    def _stop_blocking(self) -> None:
        if self._client is not None:
            _stop_client(self._client)

    async def _abandon(self) -> None:
        with self._start_lock:
            self._abandoned = True
        await _in_thread(self._stop_blocking, "mqtt-stop")
        self._set_closed("connect failed")

    # ------------------------------------------------------------ using

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        on_ack: Optional[AckCallback] = None,
    ) -> bool:
        """Hand a message to paho; False when the link is already gone.

        ``on_ack`` runs on the loop when the broker acknowledges (QoS 1/2). paho's
        acknowledgement reaches the loop via ``call_soon_threadsafe``, so it always
        finds the callback registered here, even when the PUBACK was very quick.
        QoS 1/2 messages beyond the broker's Receive Maximum (MQTT 5) wait here, in
        order, until acknowledgements make room: paho itself does not honour it.
        """
        if self._client is None or self.closed.is_set():
            return False
        if qos > 0 and (self._waiting or len(self._acks) >= self.receive_maximum):
            self._waiting.append((topic, payload, qos, retain, on_ack))
            return True
        return self._send(topic, payload, qos, retain, on_ack)

    def _send(
        self, topic: str, payload: bytes, qos: int, retain: bool, on_ack: Optional[AckCallback]
    ) -> bool:
        assert self._client is not None
        info = self._client.publish(topic, payload, qos, retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        if qos > 0:
            self._acks[info.mid] = on_ack or _ignore
        return True

    @property
    def quota(self) -> int:
        """QoS 1/2 messages that may still be sent before the broker's Receive Maximum."""
        return max(0, self.receive_maximum - len(self._acks) - len(self._waiting))

    async def publish_wait(
        self, topic: str, payload: bytes, qos: int, retain: bool, timeout_s: float
    ) -> Optional[str]:
        """Publish and wait for the acknowledgement; None when acknowledged, else why not."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        def acked(error: Optional[str]) -> None:
            if not done.done():
                done.set_result(error)

        if not self.publish(topic, payload, qos, retain, acked):
            return "not connected"
        if qos == 0:
            return None
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            finished, _ = await asyncio.wait(
                {done, closed}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closed.cancel()
        if done in finished:
            return done.result()
        return "connection lost" if self.closed.is_set() else "no acknowledgement in time"

    def subscribe(self, topic: str, qos: int = 1) -> None:
        if self._client is not None:
            self._client.subscribe(topic, qos)

    @property
    def pending_acks(self) -> int:
        return len(self._acks) + len(self._waiting)

    async def close(self, timeout_s: float = 1.0) -> None:
        """Disconnect cleanly (the broker then discards the last will) and stop paho's thread."""
        client = self._client
        if client is None:
            return
        if not self.closed.is_set():
            client.disconnect()
            try:
                await asyncio.wait_for(self.closed.wait(), timeout_s)
            except asyncio.TimeoutError:
                self.log.debug("no clean disconnect within %.1f s", timeout_s)
        await _in_thread(lambda: _stop_client(client), "mqtt-stop")
        self._set_closed("closed")

    # ------------------------------------------------------------ paho's side

    # runs on paho's thread
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        receive_maximum = getattr(props, "ReceiveMaximum", None)
        self._call(self._connected, _reason_text(reason), bool(reason.is_failure), receive_maximum)

    # runs on paho's thread
    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._call(self._disconnected, _reason_text(reason))

    # runs on paho's thread
    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        # Acknowledgements come in bursts: they are handed over as a batch, with one
        # wake-up of the loop per batch instead of one per PUBACK.
        failure = _reason_text(reason) if getattr(reason, "is_failure", False) else None
        with self._inbox_lock:
            self._inbox.append((mid, failure))
            first = len(self._inbox) == 1
        if first:
            self._call(self._published)

    # runs on paho's thread
    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self._call(self._received, message.topic, bytes(message.payload))

    # runs on paho's thread
    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # the loop closed between the check and the call
                pass

    # ------------------------------------------------------------ back on the loop

    def _connected(self, reason: str, failed: bool, receive_maximum: Optional[int]) -> None:
        fut = self._connack
        if fut is None or fut.done():  # paho may report a connect twice
            return
        if receive_maximum:
            self.receive_maximum = int(receive_maximum)
        if failed:
            hint = ""
            low = reason.lower()
            if "authori" in low or "user name" in low or "password" in low:
                hint = " (check username and password)"
            elif "identifier" in low:
                hint = " (check client_id)"
            fut.set_exception(
                MqttConnectError(
                    f"{self.settings.broker}: broker refused the connection: {reason}{hint}",
                    True,
                )
            )
        else:
            fut.set_result(None)

    def _disconnected(self, reason: str) -> None:
        fut = self._connack
        if fut is not None and not fut.done():
            fut.set_exception(
                MqttConnectError(
                    f"{self.settings.broker}: the broker closed the connection before "
                    f"accepting it ({reason}); wrong port, a TLS-only listener, or a "
                    "client id it refuses?"
                )
            )
        self._set_closed(reason)

    def _set_closed(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.connected = False
        self.close_reason = reason
        self.closed.set()
        self._acks.clear()  # never acknowledged: the spool still has them
        self._waiting.clear()

    def _published(self) -> None:
        with self._inbox_lock:
            batch, self._inbox = self._inbox, []
        for mid, failure in batch:
            callback = self._acks.pop(mid, None)
            if callback is not None:
                callback(failure)
        while self._waiting and len(self._acks) < self.receive_maximum:
            if not self._send(*self._waiting.popleft()):
                self._waiting.clear()
                break

    def _received(self, topic: str, payload: bytes) -> None:
        if self._on_message_cb is not None:
            self._on_message_cb(topic, payload)


def _in_thread(fn: Callable[[], Any], name: str) -> asyncio.Future:
    """Run a blocking call in a new daemon thread; its result as a future of this loop."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future = loop.create_future()

    def settle(error: Optional[BaseException], value: Any) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(value)

    def run() -> None:
        try:
            value = fn()
        except BaseException as exc:  # handed to the awaiting coroutine
            _call_quietly(loop, settle, exc, None)
        else:
            _call_quietly(loop, settle, None, value)

    threading.Thread(target=run, name=name, daemon=True).start()
    return fut


def _call_quietly(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # the loop is closed: nobody waits any more
        pass


def _stop_client(client: paho.Client) -> None:
    """Blocking: end paho's thread and close its socket."""
    try:
        client.disconnect()
    except Exception:  # best effort on a client being thrown away
        pass
    client.loop_stop()


def _ignore(error: Optional[str]) -> None:
    """The acknowledgement of a message nobody waits for (it still counts in the quota)."""


def _reason_text(reason: Any) -> str:
    if isinstance(reason, MQTTErrorCode):
        return paho.error_string(reason)
    return str(reason)


def _strerror(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
