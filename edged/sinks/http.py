"""The HTTP sink: the status page, JSON API, metrics and previews, as one daemon part.

It is a sink so that it starts before and stops after the pipelines, and so
that it sees every result on the bus (for latency histograms and for the
newest result per pipeline and source). Everything else it reads from the
daemon when asked. Starting binds the port (``AppRunner`` + ``TCPSite``);
stopping is aiohttp's graceful shutdown: stop listening, end the MJPEG
streams, a short grace period, then cleanup.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Dict, List, Optional

from aiohttp import web

from edged.config.http import HttpSinkConfig
from edged.http.app import make_app, note_results
from edged.http.guard import FD_RESERVE, GuardedSite, connection_budget
from edged.http.keys import AUTH, BROADCASTS, ENCODER, GUARD
from edged.http.logfilters import install_server_log_filters
from edged.results import Result
from edged.sinks.base import Sink

__all__ = ["SHUTDOWN_TIMEOUT_S", "HttpSink"]

#: Grace period for open requests at shutdown (streams are ended before it starts).
SHUTDOWN_TIMEOUT_S = 1.0


class HttpSink(Sink):
    name = "http"
    queue_size = 256

    def __init__(self, config: HttpSinkConfig, daemon: Any):
        super().__init__()
        if daemon is None:
            raise ValueError("the http sink needs the daemon: create_sink('http', ..., daemon=)")
        self.config = config
        self.app = make_app(daemon, config)
        self.runner: Optional[web.AppRunner] = None
        host = f"[{config.host}]" if ":" in config.host else config.host
        self.url = f"http://{host}:{config.port}/"

    async def open(self) -> None:
        install_server_log_filters()  # a flood of bad requests is one line a minute
        guard = self.app[GUARD]
        guard.limit = self._connection_limit()
        runner = web.AppRunner(
            self.app,
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            keepalive_timeout=self.config.keepalive_timeout_s,
        )
        await runner.setup()
        try:
            await GuardedSite(runner, self.config.host, self.config.port, guard).start()
        except BaseException:
            await runner.cleanup()
            raise
        self.runner = runner
        self.log.info("status page on %s", self.url)
        if not self.app[AUTH].enabled and not _is_loopback(self.config.host):
            self.log.warning(
                "listening on %s without a token: anyone on the network can watch the "
                "cameras; set sinks.http.token_file",
                self.config.host,
            )

    def _connection_limit(self) -> int:
        """max_connections, or fewer when the fd limit would leave too little for the rest."""
        wanted = self.config.max_connections
        limit = connection_budget(wanted)
        if limit < wanted:
            self.log.warning(
                "sinks.http.max_connections lowered from %d to %d: the file descriptor limit "
                "leaves no more after %d kept for cameras, the spool and models; raise "
                "LimitNOFILE (ulimit -n)",
                wanted,
                limit,
                FD_RESERVE,
            )
        return limit

    async def handle_batch(self, results: List[Result]) -> None:
        note_results(self.app, results)

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def status(self) -> Dict[str, Any]:
        encoder = self.app.get(ENCODER)
        broadcasts = self.app.get(BROADCASTS)
        viewers = broadcasts.viewers() if broadcasts is not None else {}
        return {
            "url": self.url,
            "viewers": sum(viewers.values()),
            "encodes": encoder.encodes if encoder is not None else 0,
            "connections": self.app[GUARD].status(),
        }


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
