"""Keep a long-running coroutine alive: log a crash, wait a backoff, start it again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Awaitable, Callable, Optional

from edged.backoff import Backoff

__all__ = ["Supervised"]

log = logging.getLogger(__name__)


class Supervised:
    """Runs ``factory()`` as a task; restarts it with backoff when it raises.

    A normal return ends supervision (e.g. a file source that reached its end).
    A crash loop backs off up to ``max_s`` instead of spinning, and the count of
    restarts and the last error are kept for the status page.
    """

    def __init__(
        self,
        name: str,
        factory: Callable[[], Awaitable[None]],
        *,
        initial_s: float = 0.5,
        max_s: float = 30.0,
        on_restart: Optional[Callable[[], None]] = None,
    ):
        self.name = name
        self._factory = factory
        self._backoff = Backoff(initial_s, max_s, stable_s=60.0)
        self._on_restart = on_restart
        self.restarts = 0
        self.last_error: Optional[str] = None
        self.last_crash_mono: Optional[float] = None
        self._task: Optional[asyncio.Task] = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        while True:
            self._backoff.succeeded()
            try:
                await self._factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.restarts += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.last_crash_mono = time.monotonic()
                delay = self._backoff.next_delay()
                log.exception("%s crashed; restarting in %.1f s", self.name, delay)
            await asyncio.sleep(delay)
            if self._on_restart is not None:
                self._on_restart()

    async def wait(self, timeout_s: float) -> bool:
        """Wait for the task to end by itself; True if it did."""
        if self._task is None:
            return True
        done, _ = await asyncio.wait({self._task}, timeout=timeout_s)
        return bool(done)

    async def cancel(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
