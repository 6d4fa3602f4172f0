"""The result bus: fans pipeline results out to sinks without letting one stall another."""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Deque, Dict, List, Optional

from edged.results import Result

__all__ = ["ResultBus", "Subscription"]

log = logging.getLogger(__name__)


class Subscription:
    """One sink's bounded queue of results; when full, the oldest result is dropped (counted)."""

    def __init__(self, name: str, maxsize: int):
        self.name = name
        self.maxsize = maxsize
        self.dropped = 0
        self.delivered = 0
        self._items: Deque[Result] = collections.deque()
        self._wakeup = asyncio.Event()
        self._closed = False

    def put(self, result: Result) -> None:
        if len(self._items) >= self.maxsize:
            self._items.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("sink %s is too slow: %d result(s) dropped", self.name, self.dropped)
        self._items.append(result)
        self._wakeup.set()

    async def get_batch(self, limit: int = 256) -> Optional[List[Result]]:
        """Wait for at least one result and return up to ``limit``; None once closed and empty."""
        while not self._items:
            if self._closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        batch = [self._items.popleft() for _ in range(min(limit, len(self._items)))]
        self.delivered += len(batch)
        return batch

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    @property
    def depth(self) -> int:
        return len(self._items)


class ResultBus:
    """Publish is synchronous and never waits: each subscriber has its own bounded queue."""

    def __init__(self) -> None:
        self._subs: Dict[str, Subscription] = {}
        self.published = 0

    def subscribe(self, name: str, maxsize: int = 1000) -> Subscription:
        sub = Subscription(name, maxsize)
        self._subs[name] = sub
        return sub

    def unsubscribe(self, name: str) -> None:
        sub = self._subs.pop(name, None)
        if sub is not None:
            sub.close()

    def publish(self, result: Result) -> None:
        self.published += 1
        for sub in self._subs.values():
            sub.put(result)

    def status(self) -> Dict[str, Dict[str, int]]:
        return {
            name: {"depth": s.depth, "delivered": s.delivered, "dropped": s.dropped}
            for name, s in self._subs.items()
        }
