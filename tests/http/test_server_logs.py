"""What the real HTTP server logs about bad clients: one line per kind, rate-limited."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
from contextlib import contextmanager
from typing import AsyncIterator, Iterator, List

import pytest
from httpkit import FakeDaemon, free_tcp_port, http_config

from edged.logs import RateLimitFilter
from edged.sinks.http import HttpSink

BAD_HEADER = b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"
LONG_LINE = b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"


def _record(msg: str = "boom from %s", *args: object) -> logging.LogRecord:
    return logging.LogRecord("t", logging.WARNING, __file__, 1, msg, args or ("a",), None)


def test_rate_limit_lets_one_line_of_a_kind_through_per_interval_and_counts_the_rest():
    now = [100.0]
    limiter = RateLimitFilter(interval_s=60, clock=lambda: now[0])
    assert limiter.filter(_record("boom from %s", "10.0.0.1"))
    assert not any(limiter.filter(_record("boom from %s", f"10.0.0.{i}")) for i in range(3))
    assert limiter.filter(_record("another kind"))
    now[0] += 60
    later = _record("boom from %s", "10.0.0.9")
    assert limiter.filter(later)
    held = "(3 more like this not shown since the last one)"
    assert later.getMessage() == f"boom from 10.0.0.9 {held}"
    assert not limiter.filter(_record("boom from %s", "10.0.0.9"))


@pytest.fixture
async def sink() -> AsyncIterator[HttpSink]:
    daemon = FakeDaemon()
    sink = HttpSink(http_config(host="127.0.0.1", port=free_tcp_port()), daemon)
    await sink.open()
    yield sink
    await sink.close()
    daemon.close()


def _port(sink: HttpSink) -> int:
    return sink.config.port


async def _send(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(64), 10)
    finally:
        writer.close()


def _lines(caplog: pytest.LogCaptureFixture, name: str) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name]


async def test_malformed_requests_are_one_warning_line_per_kind(sink, caplog):
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    for _ in range(5):
        for raw in (BAD_HEADER, LONG_LINE):
            assert (await _send(_port(sink), raw)).startswith(b"HTTP/1.0 400")
    ok = await _send(_port(sink), b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200")
    lines = _lines(caplog, "aiohttp.server")
    assert len(lines) == 2, [r.getMessage() for r in lines]
    assert all(r.levelno == logging.WARNING and not r.exc_info for r in lines)
    assert "(BadHttpMessage)" in lines[0].getMessage()
    assert "(LineTooLong)" in lines[1].getMessage()
    assert all("\n" not in r.getMessage() for r in lines)


@contextmanager
def no_more_fds() -> Iterator[None]:
    """From now on this process cannot open one more file descriptor (until restored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest_free = os.dup(0)
    os.close(lowest_free)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_accept_out_of_file_descriptors_is_one_line_not_one_per_attempt(sink, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop = asyncio.get_running_loop()
    clients = [socket.create_connection(("127.0.0.1", _port(sink))) for _ in range(3)]
    try:
        with no_more_fds():
            # asyncio retries accept() once a second: let it fail three or four times.
            deadline = loop.time() + 3.5
            while loop.time() < deadline:
                await asyncio.sleep(0.1)
    finally:
        for client in clients:
            client.close()
    lines = [r for r in _lines(caplog, "asyncio") if "accept" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].levelno == logging.ERROR and not lines[0].exc_info
    assert "EMFILE" in lines[0].getMessage()
