"""Cross-camera batching: the newest frame of several sources, gathered for one engine call."""

from __future__ import annotations

import asyncio
import time
from typing import Callable, List, Optional, Sequence

from edged.frames import Frame
from edged.slot import SlotReader

__all__ = ["FrameGatherer"]


class FrameGatherer:
    """Collects at most one frame per source, up to ``max_frames``, into one batch.

    A batch closes when ``max_frames`` sources have a new frame, when every source
    still running has one, or ``wait_s`` after the first frame of the batch arrived
    (its capture time), whichever comes first. A frame that came while the last batch
    was running has already waited, so a busy model does not wait again for stragglers.

    Frames are taken from the slots only when the batch closes, so each is the newest
    of its source at that moment: latest-frame-wins and the readers' ``skipped``
    counts work as with one reader per source. When more sources are ready than fit,
    the ones served longest ago go first, so every camera gets its turn.
    """

    def __init__(
        self,
        readers: Sequence[SlotReader],
        max_frames: int,
        wait_s: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._order: List[SlotReader] = list(readers)  # least recently served first
        self.max_frames = max_frames
        self.wait_s = wait_s
        self._clock = clock

    async def next_batch(self) -> Optional[List[Frame]]:
        """The next batch (never empty); None once every source has ended."""
        while True:
            live = [r for r in self._order if not r.ended]
            if not live:
                return None
            await _any_ready(live, None)
            ready = [r for r in live if r.pending is not None]
            if not ready:
                continue  # a source ended: look again at those left
            first = min(r.pending.mono for r in ready)  # type: ignore[union-attr]
            deadline = min(first, self._clock()) + self.wait_s
            await self._wait_for_more(live, deadline)
            return await self._take(live)

    async def _wait_for_more(self, live: List[SlotReader], deadline: float) -> None:
        while True:
            ready = sum(r.pending is not None for r in live)
            waiting = [r for r in live if r.pending is None and not r.ended]
            if ready >= self.max_frames or not waiting:
                return
            remaining = deadline - self._clock()
            if remaining <= 0:
                return
            await _any_ready(waiting, remaining)

    async def _take(self, live: List[SlotReader]) -> List[Frame]:
        chosen = [r for r in live if r.pending is not None][: self.max_frames]
        frames = []
        for reader in chosen:
            frame = await reader.next()  # returns at once: it has a pending frame
            if frame is not None:
                frames.append(frame)
            self._order.remove(reader)
            self._order.append(reader)
        return frames


async def _any_ready(readers: Sequence[SlotReader], timeout_s: Optional[float]) -> None:
    """Wait until one of ``readers`` has a new frame or ended, or ``timeout_s`` passed."""
    waits = [asyncio.ensure_future(r.ready()) for r in readers]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
