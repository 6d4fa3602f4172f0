"""systemd integration: READY/STATUS/STOPPING notifications and a watchdog tied to progress.

``WATCHDOG=1`` is sent at half of ``WATCHDOG_USEC`` only while edged makes
progress: the pings come from a task on the event loop (a blocked or dead loop
sends none) and each ping first checks that no pipeline is stuck on a frame
and no capture thread has died. A camera that is unplugged is *not* a reason
to stop pinging: its source retries by itself, and restarting edged would not
bring the camera back.

Notifications use ``systemd.daemon.notify`` (systemd-python) when it is
importable, else a datagram to ``$NOTIFY_SOCKET`` (a path, or an abstract
socket written ``@name``), as sd_notify(3) describes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any, Callable, List, Mapping, Optional

__all__ = ["Notifier", "SystemdWatchdog", "health_problems", "status_line"]

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages; a no-op outside systemd."""

    def __init__(self, environ: Optional[Mapping[str, str]] = None):
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET") or None
        self._native: Optional[Callable[[str], Any]] = None
        if self.address and environ is None:
            try:
                from systemd import daemon as sd_daemon

                self._native = sd_daemon.notify
            except ImportError:
                pass

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, message: str) -> bool:
        """Send one ``KEY=value`` message (several joined by newlines); False if not sent."""
        if not self.address:
            return False
        if self._native is not None:
            return bool(self._native(message))
        target = self.address
        if target.startswith("@"):
            target = "\0" + target[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(target)
                sock.sendall(message.encode("utf-8"))
            return True
        except OSError as exc:
            log.warning("cannot notify systemd at %s: %s", self.address, exc)
            return False


def watchdog_interval_s(environ: Optional[Mapping[str, str]] = None) -> Optional[float]:
    """Half of WATCHDOG_USEC (as sd_watchdog_enabled(3) advises), or None when not asked for."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        return max(int(usec) / 2e6, 0.01)
    except ValueError:
        return None


def health_problems(daemon: Any, stuck_after_s: float, now: Optional[float] = None) -> List[str]:
    """Reasons to stop the watchdog pings: stuck pipelines and dead capture threads."""
    now = time.monotonic() if now is None else now
    problems = []
    for pipeline_id, runner in daemon.pipelines().items():
        busy_since = runner.busy_since
        if busy_since is not None and now - busy_since > stuck_after_s:
            problems.append(
                f"pipeline {pipeline_id} stuck on one frame for {now - busy_since:.0f} s"
            )
    for source_id, source in daemon.sources().items():
        if source.should_run and not source.alive:
            problems.append(f"source {source_id}: capture thread died")
    return problems


def status_line(daemon: Any) -> str:
    """One line for ``systemctl status``: per-source fps or state, then the sinks."""
    parts = []
    for source in daemon.sources().values():
        state = source.state.value
        parts.append(
            f"{source.id} {source.fps():.1f} fps"
            if state == "streaming"
            else f"{source.id} {state}"
        )
    for name, sink in daemon.sinks().items():
        summary = getattr(sink, "status_summary", None)
        if summary is not None:
            parts.append(f"{name}: {summary()}")
    failed = len(daemon.failed)
    if failed:
        parts.append(f"{failed} part(s) failed")
    return "; ".join(parts) or "no sources"


class SystemdWatchdog:
    """The task that pings the watchdog and refreshes STATUS= while the daemon runs."""

    def __init__(
        self,
        daemon: Any,
        notifier: Notifier,
        interval_s: Optional[float],
        *,
        stuck_after_s: float = 60.0,
        status_every_s: float = 5.0,
    ):
        self.daemon = daemon
        self.notifier = notifier
        self.interval_s = interval_s
        self.stuck_after_s = stuck_after_s
        self.status_every_s = status_every_s
        self.pings = 0
        self.last_ping_mono: Optional[float] = None
        self.withheld: List[str] = []
        self._task: Optional[asyncio.Task] = None
        self._last_status = ""

    def start(self) -> None:
        if self.notifier.enabled:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        tick = min(self.interval_s or self.status_every_s, self.status_every_s)
        last_status = 0.0
        while True:
            now = time.monotonic()
            if self.interval_s is not None:
                self._ping()
            if now - last_status >= self.status_every_s:
                self._status()
                last_status = now
            await asyncio.sleep(tick)

    def _ping(self) -> None:
        problems = health_problems(self.daemon, self.stuck_after_s)
        if problems:
            if problems != self.withheld:
                log.error("withholding watchdog pings: %s", "; ".join(problems))
            self.withheld = problems
            return
        self.withheld = []
        if self.notifier.notify("WATCHDOG=1"):
            self.pings += 1
            self.last_ping_mono = time.monotonic()

    def _status(self) -> None:
        line = status_line(self.daemon)
        if line != self._last_status:
            self.notifier.notify(f"STATUS={line}")
            self._last_status = line
