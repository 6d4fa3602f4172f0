"""What every sink is: a consumer of one bus subscription, run as a supervised task."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from edged.bus import ResultBus, Subscription
from edged.results import Result
from edged.supervise import Supervised

__all__ = ["Sink"]


class Sink:
    """Subclasses implement ``handle_batch``; the base class owns the queue and the task.

    A sink gets its own bounded subscription, so a slow or dead sink only loses
    its own (counted) results and never stalls a pipeline or another sink.
    """

    name = "sink"
    queue_size = 1000

    def __init__(self) -> None:
        self.log = logging.getLogger(f"edged.sinks.{self.name}")
        self.handled = 0
        self._sub: Optional[Subscription] = None
        self._task: Optional[Supervised] = None
        self._bus: Optional[ResultBus] = None

    async def open(self) -> None:
        """Acquire resources (files, connections) before results flow."""

    async def handle_batch(self, results: List[Result]) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Flush and release, after the last batch."""

    def status(self) -> Dict[str, Any]:
        return {}

    async def start(self, bus: ResultBus) -> None:
        await self.open()
        self._bus = bus
        self._sub = bus.subscribe(self.name, self.queue_size)
        self._task = Supervised(f"sink {self.name}", self._consume)
        self._task.start()

    async def stop(self, timeout_s: float = 2.0) -> None:
        """Drain what is queued (within ``timeout_s``), then close."""
        if self._sub is not None:
            self._sub.close()
        if self._task is not None and not await self._task.wait(timeout_s):
            self.log.warning("could not drain %d result(s) in time", self._sub.depth)
            await self._task.cancel()
        if self._bus is not None:
            self._bus.unsubscribe(self.name)
        await self.close()

    async def _consume(self) -> None:
        while True:
            batch = await self._sub.get_batch()
            if batch is None:
                return
            await self.handle_batch(batch)
            self.handled += len(batch)

    def base_status(self) -> Dict[str, Any]:
        sub = self._sub
        return {
            "name": self.name,
            "handled": self.handled,
            "queue_depth": sub.depth if sub else 0,
            "queue_dropped": sub.dropped if sub else 0,
            "restarts": self._task.restarts if self._task else 0,
            "last_error": self._task.last_error if self._task else None,
            **self.status(),
        }
