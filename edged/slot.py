"""The latest-frame slot: a live stream must never queue up behind a slow model."""

from __future__ import annotations

import asyncio
import threading
from typing import Optional

from edged.frames import Frame

__all__ = ["LatestFrameSlot", "SlotReader"]


class LatestFrameSlot:
    """Holds only the newest frame of one source; every reader gets the newest.

    Lives on the event loop. A capture thread hands frames over with
    ``put_threadsafe``. A frame replaced before any reader took it is counted in
    ``dropped`` (only while somebody reads: with no reader nothing is lost).
    """

    def __init__(self, source_id: str, loop: Optional[asyncio.AbstractEventLoop] = None):
        self.source_id = source_id
        self._loop = loop or asyncio.get_running_loop()
        self._frame: Optional[Frame] = None
        self._taken = True
        self._changed: asyncio.Future = self._loop.create_future()
        self._readers = 0
        self._handover: Optional[Frame] = None
        self._handover_lock = threading.Lock()
        self.closed = False
        #: Set when a reader took the held frame; lets a file source wait for its consumer.
        self.consumed = threading.Event()
        self.dropped = 0
        self.received = 0

    @property
    def latest(self) -> Optional[Frame]:
        return self._frame

    def put_threadsafe(self, frame: Frame) -> None:
        """Hand a frame over from any thread.

        At most one hand-over is queued on the loop at a time, holding the newest
        frame: a loop that falls behind must not pile up full images in its queue.
        """
        with self._handover_lock:
            superseded = self._handover is not None
            self._handover = frame
        if superseded:
            if self._readers:
                self.dropped += 1
            self.received += 1
        else:
            self._loop.call_soon_threadsafe(self._take_handover)

    def _take_handover(self) -> None:
        with self._handover_lock:
            frame, self._handover = self._handover, None
        if frame is not None:
            self.put(frame)

    def put(self, frame: Frame) -> None:
        """Replace the held frame (on the loop) and wake the readers."""
        if self._readers and not self._taken:
            self.dropped += 1
        self._frame = frame
        self._taken = False
        self.received += 1
        self._wake()

    def close(self) -> None:
        """No more frames will come (a file that ended); readers get None."""
        self.closed = True
        self._wake()

    def close_threadsafe(self) -> None:
        self._loop.call_soon_threadsafe(self.close)

    def reopen(self) -> None:
        self.closed = False

    @property
    def has_readers(self) -> bool:
        return self._readers > 0

    def reader(self) -> SlotReader:
        return SlotReader(self)

    def _wake(self) -> None:
        if not self._changed.done():
            self._changed.set_result(None)
        self._changed = self._loop.create_future()


class SlotReader:
    """One consumer's view of a slot: returns each newer frame once, counts skips."""

    def __init__(self, slot: LatestFrameSlot):
        self._slot = slot
        self.last_seq: Optional[int] = None
        self.skipped = 0
        slot._readers += 1

    @property
    def pending(self) -> Optional[Frame]:
        """The frame ``next()`` would return now, without taking it; None if none is new."""
        frame = self._slot._frame
        if frame is not None and (self.last_seq is None or frame.seq > self.last_seq):
            return frame
        return None

    @property
    def ended(self) -> bool:
        """The slot is closed and this reader has had its last frame."""
        return self._slot.closed and self.pending is None

    async def ready(self) -> None:
        """Wait until ``next()`` would return at once (a new frame, or the end), taking nothing.

        Lets a consumer of several slots watch them all and take frames only when it
        decides to, so each one taken is the newest at that moment.
        """
        slot = self._slot
        while self.pending is None and not slot.closed:
            await asyncio.shield(slot._changed)

    async def next(self) -> Optional[Frame]:
        """The newest frame this reader has not had yet; None once the slot is closed."""
        slot = self._slot
        while True:
            frame = self.pending
            if frame is not None:
                if self.last_seq is not None and frame.seq > self.last_seq + 1:
                    self.skipped += frame.seq - self.last_seq - 1
                self.last_seq = frame.seq
                slot._taken = True
                slot.consumed.set()
                return frame
            if slot.closed:
                return None
            await asyncio.shield(slot._changed)

    def close(self) -> None:
        self._slot._readers -= 1
