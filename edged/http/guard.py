"""Bounds on the HTTP server's connections: how many, and how long each may dawdle.

aiohttp accepts every connection and waits for its headers forever, so 1,100
slowloris clients (one byte every few seconds) took every file descriptor:
HTTP went silent and cameras could not reopen. aiohttp has no header timeout
and no connection limit, so they live here, at the protocol level:

- at most ``max_connections`` at once, and never more than the file
  descriptors left after a reserve for sources, the spool and models;
- a connection must complete a request's headers within ``header_timeout_s``
  of opening or of its first byte after a response, and may sit idle between
  requests (keep-alive) for ``keepalive_timeout_s``; either way it is closed;
- at the limit, a new connection closes the one that has waited longest
  without a request in progress (idle, or headers unfinished), so a flood of
  slow clients cannot keep a normal request out; only when every connection
  is inside a request (MJPEG viewers, uploads) is the newcomer answered 503.

Each connection's aiohttp ``RequestHandler`` is wrapped by a ``GuardedProtocol``;
a middleware tells it when a request starts and ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, Optional

from aiohttp import web

from edged.logs import RateLimitFilter

__all__ = ["FD_RESERVE", "ConnectionGuard", "GuardedProtocol", "GuardedSite", "connection_budget"]

log = logging.getLogger(__name__)
log.addFilter(RateLimitFilter())  # under attack this would be one line per connection

#: File descriptors kept free for cameras, the spool, model files and threads.
FD_RESERVE = 256

BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 44\r\nRetry-After: 5\r\nConnection: close\r\n\r\n"
    b"too many connections; try again in a moment\n"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ConnectionGuard:
    """The open connections, which of them wait without a request, and the counts."""

    def __init__(self, max_connections: int, header_timeout_s: float, keepalive_timeout_s: float):
        self.limit = max_connections
        self.header_timeout_s = header_timeout_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self._open: Dict[Any, GuardedProtocol] = {}  # transport -> its connection
        self._waiting: OrderedDict = OrderedDict()  # connections without a request, oldest first
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0

    def admit(self, conn: GuardedProtocol) -> bool:
        """Take a slot for a new connection, closing the longest-waiting one if need be."""
        if len(self._open) >= self.limit:
            if not self._waiting:
                self.refused += 1
                log.warning("HTTP connections at the limit (%d), all busy: 503", self.limit)
                return False
            self.evicted += 1
            log.warning(
                "HTTP connections at the limit (%d): closing the one that waited longest "
                "without a request",
                self.limit,
            )
            next(iter(self._waiting)).drop()
        self._open[conn.transport] = conn
        return True

    def release(self, conn: GuardedProtocol) -> None:
        if self._open.get(conn.transport) is conn:
            del self._open[conn.transport]
        self._waiting.pop(conn, None)

    def waiting(self, conn: GuardedProtocol, waits: bool) -> None:
        if waits:
            self._waiting[conn] = None
            self._waiting.move_to_end(conn)
        else:
            self._waiting.pop(conn, None)

    def find(self, transport: Any) -> Optional[GuardedProtocol]:
        return self._open.get(transport)

    def status(self) -> Dict[str, Any]:
        return {
            "open": len(self._open),
            "limit": self.limit,
            "refused": self.refused,
            "evicted": self.evicted,
            "timed_out": self.timed_out,
        }

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Headers are complete once a request reaches here: no header timer while it runs."""
        conn = self.find(request.transport)
        if conn is not None:
            conn.request_started()
        try:
            return await handler(request)
        finally:
            if conn is not None:
                conn.request_done()


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, inside a slot and a timer."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard):
        self.inner = inner
        self.guard = guard
        self.transport: Optional[asyncio.Transport] = None
        self._admitted = False
        self._idle = False  # True between a response and the next request's first byte
        self._timer: Optional[asyncio.TimerHandle] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.guard.admit(self):
            transport.write(BUSY)  # type: ignore[attr-defined]
            transport.close()
            return
        self._admitted = True
        self.inner.connection_made(transport)
        self._wait_for_headers()

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if self._idle:  # the first byte of the next request: its headers are now due
            self._wait_for_headers()
        self.inner.data_received(data)

    def eof_received(self) -> Optional[bool]:
        return self.inner.eof_received() if self._admitted else None

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._cancel_timer()
        self.guard.release(self)
        if self._admitted:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self.inner.resume_writing()

    # ------------------------------------------------------------ told by the middleware

    def request_started(self) -> None:
        self._idle = False
        self._cancel_timer()
        self.guard.waiting(self, False)

    def request_done(self) -> None:
        self._idle = True
        self._arm(self.guard.keepalive_timeout_s)
        self.guard.waiting(self, True)

    # ------------------------------------------------------------ timers

    def _wait_for_headers(self) -> None:
        self._idle = False
        self._arm(self.guard.header_timeout_s)
        self.guard.waiting(self, True)

    def _arm(self, delay_s: float) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(delay_s, self._expired)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        self.guard.timed_out += 1
        log.debug("closing an HTTP connection that sent no complete request in time")
        self.drop()

    def drop(self) -> None:
        """Close now and give the slot back at once (the socket goes on the next loop pass)."""
        self._cancel_timer()
        self.guard.release(self)
        if self.transport is not None:
            self.transport.abort()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through the guard (what TCPSite does, plus that)."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard):
        super().__init__(runner)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        guard = self._guard
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: GuardedProtocol(server(), guard), self._host, self._port
        )


def connection_budget(wanted: int, reserve: int = FD_RESERVE) -> int:
    """``wanted``, lowered to the file descriptors left after ``reserve`` (at least 1)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 0
    return max(1, min(wanted, soft - in_use - reserve))
