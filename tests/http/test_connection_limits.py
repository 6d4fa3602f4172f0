"""Slowloris against the real HTTP server: bounded connections, header and idle timeouts."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
from typing import AsyncIterator, List

import pytest
from httpkit import FakeDaemon, free_tcp_port, grey_frame, http_config

from edged.http.guard import FD_RESERVE, connection_budget
from edged.http.keys import VIEW
from edged.sinks.http import HttpSink

LIMIT = 8
SLOW = 30
START = b"GET /healthz HTTP/1.1\r\nHost: edge\r\n"


@pytest.fixture
async def sink() -> AsyncIterator[HttpSink]:
    daemon = FakeDaemon()
    config = http_config(
        host="127.0.0.1",
        port=free_tcp_port(),
        max_connections=LIMIT,
        header_timeout_s=1.0,
        keepalive_timeout_s=1.0,
    )
    sink = HttpSink(config, daemon)
    await sink.open()
    yield sink
    await sink.close()
    daemon.close()


def _slowloris(port: int) -> socket.socket:
    """A client that starts a request and never finishes its headers."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(START)
    sock.setblocking(False)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed its end (a 503 before that is read and skipped)."""
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:  # reset: closed too
        return True


def _trickle(socks: List[socket.socket]) -> None:
    for sock in socks:
        try:
            sock.send(b"X")
        except OSError:
            pass


async def _until(predicate, timeout_s: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _get_healthz(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(START + b"Connection: close\r\n\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_slowloris_beyond_the_limit_is_closed_and_a_normal_request_is_answered(sink):
    port = sink.config.port
    loop = asyncio.get_running_loop()
    slow = []
    for _ in range(SLOW):
        slow.append(_slowloris(port))
        await asyncio.sleep(0.01)  # let the server accept it
    try:
        assert await _until(lambda: sink.status()["connections"]["open"] <= LIMIT, 5)
        still_open = lambda: sum(not _closed_by_server(s) for s in slow)  # noqa: E731
        assert await _until(lambda: still_open() <= LIMIT, 5), f"{still_open()} still open"
        answer = await _get_healthz(port)  # while slow clients keep coming and trickling
        assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
        # Trickling a byte at a time does not keep a connection past the header timeout.
        deadline = loop.time() + 10
        while not all(_closed_by_server(s) for s in slow) and loop.time() < deadline:
            _trickle(slow)
            await asyncio.sleep(0.2)
        assert all(_closed_by_server(s) for s in slow), "slow headers were never timed out"
    finally:
        for sock in slow:
            sock.close()
    counts = sink.status()["connections"]
    assert counts["evicted"] >= SLOW - LIMIT and counts["timed_out"] >= 1, counts


async def test_an_idle_keep_alive_connection_is_closed(sink):
    reader, writer = await asyncio.open_connection("127.0.0.1", sink.config.port)
    try:
        writer.write(START + b"\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"connection: close" not in head.lower()  # kept alive, then idle
        await asyncio.wait_for(reader.read(), 10)  # the body, then the server's close
        assert reader.at_eof()
    finally:
        writer.close()


async def test_when_every_connection_is_busy_a_newcomer_gets_503(sink):
    source = sink.app[VIEW].add_source("cam0")
    source.slot.put(grey_frame(1))
    viewers = [_viewer(sink.config.port) for _ in range(LIMIT)]
    try:
        assert await _until(lambda: sink.status()["viewers"] == LIMIT, 10), sink.status()
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.config.port)
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert sink.status()["viewers"] == LIMIT  # no stream was cut for it
        assert sink.status()["connections"]["refused"] == 1
    finally:
        for sock in viewers:
            sock.close()


def _viewer(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /stream/cam0.mjpg HTTP/1.1\r\nHost: edge\r\n\r\n")
    return sock


def test_the_budget_keeps_file_descriptors_in_reserve():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + FD_RESERVE + 20, hard))
    try:
        assert 10 <= connection_budget(1000) <= 21
        assert connection_budget(5) == 5
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
