"""MJPEG fan-out: one broadcaster per watched stream, one latest-only mailbox per viewer.

A broadcaster exists only while its stream has viewers. It samples its
target, and for each new picture (within the fps cap) has it drawn and
encoded once, frames it as one multipart part, and offers the same bytes to
every viewer. It never waits on a viewer: a viewer that is still writing the
previous part just has it replaced (counted as skipped), so a slow client
costs the others nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Callable, Dict, Optional, Set

from edged.http.encoder import PreviewEncoder
from edged.http.targets import GONE, TargetKey

__all__ = ["BOUNDARY", "Broadcaster", "Broadcasts", "Viewer", "mjpeg_part"]

log = logging.getLogger(__name__)

BOUNDARY = "edgedframe"
#: How often a broadcaster looks for a new picture while it has viewers.
SAMPLE_S = 0.01
#: A stream whose source or pipeline has been gone this long ends.
GONE_GRACE_S = 5.0
#: With no new frame for this long the last one is sent again, so a viewer that went
#: away is noticed (on the write) even while the picture stands still.
KEEPALIVE_S = 5.0


def mjpeg_part(jpeg: bytes) -> bytes:
    """One part of a multipart/x-mixed-replace stream, ready to write."""
    head = (
        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    ).encode("ascii")
    return b"".join((head, jpeg, b"\r\n"))


class Viewer:
    """One client's mailbox: holds only the newest part it has not written yet.

    Waiting is one plain future per part, and the write timeout is watched by
    the broadcaster, so a viewer costs no timer or task per frame: ten viewers
    cost little more than one.
    """

    def __init__(self, key: TargetKey, peer: str):
        self.key = key
        self.peer = peer
        self.sent = 0
        self.skipped = 0
        #: monotonic time the current write began; None while not writing.
        self.writing_since: Optional[float] = None
        #: Set by the broadcaster when a write took longer than the timeout.
        self.timed_out = False
        #: Called to cut the connection of a viewer whose write timed out.
        self.abort: Callable[[], None] = lambda: None
        self._part: Optional[bytes] = None
        self._closed = False
        self._waiter: Optional[asyncio.Future] = None

    def offer(self, part: bytes) -> None:
        if self._part is not None:
            self.skipped += 1
        self._part = part
        self._wake()

    def close(self) -> None:
        """End this viewer's stream: ``next`` returns None from now on."""
        self._closed = True
        self._wake()

    @property
    def closed(self) -> bool:
        return self._closed

    async def next(self) -> Optional[bytes]:
        """The next part to write; None once closed."""
        while self._part is None and not self._closed:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._closed:
            return None
        part, self._part = self._part, None
        return part

    def check_write(self, now: float, timeout_s: float) -> bool:
        """Cut this viewer off if its current write is older than ``timeout_s``."""
        since = self.writing_since
        if since is None or self.timed_out or now - since <= timeout_s:
            return False
        self.timed_out = True
        self.close()
        self.abort()
        return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Broadcaster:
    """Samples one target and hands each new encoded picture to all its viewers."""

    def __init__(
        self,
        key: TargetKey,
        sample: Callable[[], Any],
        encoder: PreviewEncoder,
        fps: float,
        on_end: Callable[[Broadcaster], None],
        write_timeout_s: float = 5.0,
        on_timeout: Callable[[Viewer], None] = lambda viewer: None,
    ):
        self.key = key
        self.viewers: Set[Viewer] = set()
        self.frames = 0
        self.errors = 0
        #: The newest part, handed to a viewer that joins so it sees a picture at once.
        self.last_part: Optional[bytes] = None
        self._sample = sample
        self._encoder = encoder
        self._period = 1.0 / fps
        self._on_end = on_end
        self._write_timeout_s = write_timeout_s
        self._on_timeout = on_timeout
        self._sent_mono = 0.0
        self._task: Optional[asyncio.Task] = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def cancel(self) -> Optional[asyncio.Task]:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        return task

    async def _run(self) -> None:
        try:
            await self._broadcast()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stream %s crashed; closing its viewers", self.key.label)
        finally:
            for viewer in list(self.viewers):
                viewer.close()
            self._on_end(self)

    async def _broadcast(self) -> None:
        due = 0.0
        shown: object = None
        gone_since: Optional[float] = None
        while self.viewers:
            now = time.monotonic()
            self._watch(now)
            picture = self._sample()
            if picture is GONE:
                if gone_since is None:
                    gone_since = now
                elif now - gone_since > GONE_GRACE_S:
                    log.info("stream %s ended: its part is gone", self.key.label)
                    return
                await asyncio.sleep(SAMPLE_S)
                continue
            gone_since = None
            if picture is None or picture.ident is shown:
                await asyncio.sleep(SAMPLE_S)
                continue
            if now < due:
                await asyncio.sleep(min(due - now, SAMPLE_S * 10))
                continue  # sample again: a newer picture may have come meanwhile
            due = now + self._period if now - due > self._period else due + self._period
            shown = picture.ident
            try:
                jpeg = await self._encoder.jpeg(self.key, picture)
            except Exception as exc:
                self.errors += 1
                if self.errors == 1 or self.errors % 1000 == 0:
                    log.warning("stream %s: cannot render a frame: %s", self.key.label, exc)
                continue
            self._send(mjpeg_part(jpeg))

    def _send(self, part: bytes) -> None:
        self.last_part = part
        self.frames += 1
        self._sent_mono = time.monotonic()
        for viewer in list(self.viewers):
            viewer.offer(part)

    def _watch(self, now: float) -> None:
        """Drop viewers whose write hangs; repeat the last part on a still picture."""
        for viewer in list(self.viewers):
            if viewer.check_write(now, self._write_timeout_s):
                self.viewers.discard(viewer)
                self._on_timeout(viewer)
        if self.last_part is not None and now - self._sent_mono > KEEPALIVE_S:
            self._sent_mono = now
            for viewer in list(self.viewers):
                viewer.offer(self.last_part)


class Broadcasts:
    """The broadcasters of one app, created on a stream's first viewer, ended on its last."""

    def __init__(
        self,
        sample: Callable[[TargetKey], Any],
        encoder: PreviewEncoder,
        fps: float,
        write_timeout_s: float = 5.0,
    ) -> None:
        self._sample = sample
        self._encoder = encoder
        self._fps = fps
        self._write_timeout_s = write_timeout_s
        self._by_key: Dict[TargetKey, Broadcaster] = {}
        self.joined = 0
        self.dropped_slow = 0

    def join(self, key: TargetKey, peer: str) -> Viewer:
        broadcaster = self._by_key.get(key)
        if broadcaster is None:
            broadcaster = Broadcaster(
                key,
                lambda: self._sample(key),
                self._encoder,
                self._fps,
                self._ended,
                self._write_timeout_s,
                self._timed_out,
            )
            self._by_key[key] = broadcaster
        viewer = Viewer(key, peer)
        broadcaster.viewers.add(viewer)
        if len(broadcaster.viewers) == 1:
            broadcaster.start()
            log.debug("stream %s started", key.label)
        elif broadcaster.last_part is not None:
            viewer.offer(broadcaster.last_part)
        self.joined += 1
        return viewer

    def leave(self, viewer: Viewer) -> None:
        broadcaster = self._by_key.get(viewer.key)
        viewer.close()
        if broadcaster is None:
            return
        broadcaster.viewers.discard(viewer)
        if not broadcaster.viewers:
            broadcaster.cancel()
            self._ended(broadcaster)

    def _timed_out(self, viewer: Viewer) -> None:
        self.dropped_slow += 1
        log.info(
            "viewer %s of %s took no frame for %.1f s; disconnected",
            viewer.peer,
            viewer.key.label,
            self._write_timeout_s,
        )

    def _ended(self, broadcaster: Broadcaster) -> None:
        if self._by_key.get(broadcaster.key) is broadcaster:
            del self._by_key[broadcaster.key]
            self._encoder.forget(broadcaster.key)
            log.debug("stream %s stopped: no viewers", broadcaster.key.label)

    def viewers(self) -> Dict[str, int]:
        """Viewers per active stream, by label."""
        return {k.label: len(b.viewers) for k, b in self._by_key.items()}

    @property
    def active(self) -> int:
        return len(self._by_key)

    async def close(self) -> None:
        """End every stream (shutdown): viewers get None, tasks are cancelled and awaited."""
        tasks = []
        for broadcaster in list(self._by_key.values()):
            for viewer in list(broadcaster.viewers):
                viewer.close()
            task = broadcaster.cancel()
            if task is not None:
                tasks.append(task)
        self._by_key.clear()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
