"""A running source: one capture thread, reconnects with backoff, state and counters."""

from __future__ import annotations

import collections
import enum
import logging
import threading
import time
from typing import Any, Deque, Dict, Optional

import numpy as np

from edged.backoff import Backoff
from edged.cvutil import OpenCVMissingError
from edged.frames import Frame
from edged.redact import redact
from edged.slot import LatestFrameSlot
from edged.sources.capture import (
    Capture,
    CaptureError,
    CaptureSpec,
    EndOfStream,
    UnfixableCaptureError,
)
from edged.sources.isolation import IsolatedCapture

__all__ = ["Source", "SourceState", "open_capture"]

log = logging.getLogger("edged.sources")

FPS_WINDOW_S = 5.0


class SourceState(str, enum.Enum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    BACKOFF = "backoff"
    STOPPED = "stopped"
    FAILED = "failed"


class Source:
    """Captures frames on a thread named ``capture-<id>`` into a latest-frame slot.

    The thread connects, reads until the stream fails or stalls, then waits a
    jittered exponential backoff and connects again, until ``stop()``. Isolated
    captures (cameras, streams) run in a child process that is killed when it
    stalls; file and synthetic captures run in the thread itself.
    """

    def __init__(self, config: Any, spec: CaptureSpec, slot: LatestFrameSlot):
        self.config = config
        self.id: str = config.id
        self.spec = spec
        self.slot = slot
        self.log = log.getChild(self.id)
        reconnect = config.reconnect
        self.backoff = Backoff(reconnect.initial_s, reconnect.max_s, stable_s=reconnect.stable_s)
        self.state = SourceState.STOPPED
        self.state_since = time.monotonic()
        self.frames = 0
        self.throttled = 0
        #: a file source waits for its reader to take the newest frame (``_wait_for_consumer``)
        self.held = False
        self.reconnects = 0
        self.last_error: Optional[str] = None
        self.last_frame_mono: Optional[float] = None
        self.width = 0
        self.height = 0
        self._stamps: Deque[float] = collections.deque()
        self._fps = 0.0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._seq = 0
        self._next_emit = 0.0
        self._pace_next = 0.0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.id}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        """Ask the thread to stop and wait for it (a killed child returns promptly)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self.log.warning("capture thread did not stop within %.1f s", timeout_s)
        if self.state is not SourceState.FAILED:
            self._set_state(SourceState.STOPPED)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def should_run(self) -> bool:
        """True while the capture thread is meant to be running (started, not ended)."""
        return (
            self._thread is not None
            and not self._stop.is_set()
            and self.state not in (SourceState.STOPPED, SourceState.FAILED)
        )

    # ------------------------------------------------------------ status

    def status(self) -> Dict[str, Any]:
        now = time.monotonic()
        age = None if self.last_frame_mono is None else round(now - self.last_frame_mono, 3)
        return {
            "id": self.id,
            "kind": self.config.kind,
            "uri": self.spec.label,
            "state": self.state.value,
            "state_for_s": round(now - self.state_since, 1),
            "frames": self.frames,
            "fps": round(self.fps(now), 2),
            "dropped": self.slot.dropped,
            "throttled": self.throttled,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "frame_age_s": age,
            # a file read at its consumer's pace holds its frame until taken: not stale
            "held_for_reader": self.held,
            "width": self.width,
            "height": self.height,
        }

    def fps(self, now: Optional[float] = None) -> float:
        """Frames per second over the last few seconds (0 once frames stop)."""
        now = time.monotonic() if now is None else now
        last = self.last_frame_mono
        if last is None or now - last > FPS_WINDOW_S:
            return 0.0
        return self._fps

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        while not self._stop.is_set():
            self._set_state(SourceState.CONNECTING)
            try:
                self._stream_once()
            except EndOfStream:
                self.log.info("end of stream after %d frames", self.frames)
                self.slot.close_threadsafe()
                self._set_state(SourceState.STOPPED)
                return
            except (UnfixableCaptureError, OpenCVMissingError) as exc:
                self.last_error = redact(str(exc))
                self.log.error("%s; not retrying", exc)
                self.slot.close_threadsafe()
                self._set_state(SourceState.FAILED)
                return
            except CaptureError as exc:
                if self._stop.is_set():
                    break  # the read was interrupted by stop(): not a failure
                self._failed(str(exc))
            except Exception as exc:  # a bug must not end capture for good
                self.log.exception("capture crashed")
                self._failed(f"{type(exc).__name__}: {exc}")
            if self._stop.is_set():
                break
            delay = self.backoff.next_delay()
            self._set_state(SourceState.BACKOFF)
            self.log.debug("reconnecting in %.2f s", delay)
            self._stop.wait(delay)
            self.reconnects += 1

    def _stream_once(self) -> None:
        """One connection: open, read until failure, always close."""
        capture = self._make_capture()
        try:
            capture.open()
            timeout = self.config.open_timeout_s
            while not self._stop.is_set():
                image = capture.read(timeout, self._stop)
                if self._stop.is_set():
                    return
                if self.state is not SourceState.STREAMING:
                    self._set_state(SourceState.STREAMING)
                    self.backoff.succeeded()
                timeout = self.config.stall_timeout_s
                self._emit(image, capture)
                self._pace(capture)
                if capture.follow_consumer:
                    self._wait_for_consumer()
        finally:
            capture.close()

    def _make_capture(self) -> Any:
        return open_capture(self.spec, self.id)

    def _emit(self, image: np.ndarray, capture: Any) -> None:
        now = time.monotonic()
        cap = self.config.fps
        if cap and not capture.pace_fps:
            if now < self._next_emit:
                self.throttled += 1
                return
            self._next_emit = max(self._next_emit + 1.0 / cap, now - 0.5 / cap)
        self._seq += 1
        self.frames += 1
        self.last_frame_mono = now
        self.height, self.width = image.shape[:2]
        stamps = self._stamps  # touched only by the capture thread; status reads _fps
        stamps.append(now)
        while now - stamps[0] > FPS_WINDOW_S:
            stamps.popleft()
        span = now - stamps[0]
        self._fps = (len(stamps) - 1) / span if span > 0 else 0.0
        frame = Frame(self.id, self._seq, capture.ts, now, image, capture.meta)
        self.slot.consumed.clear()
        self.slot.put_threadsafe(frame)

    def _wait_for_consumer(self) -> None:
        """Hold the next frame until a reader took this one, waiting for a first reader too.

        In the daemon a source starts before its pipelines, which may spend seconds
        loading a model: a file read ahead of them would lose its beginning.
        """
        self.held = True
        try:
            while not self._stop.is_set():
                if self.slot.consumed.wait(0.2):
                    return
        finally:
            self.held = False

    def _pace(self, capture: Any) -> None:
        fps = capture.pace_fps
        if not fps:
            return
        if self.config.fps:
            fps = min(fps, self.config.fps)  # paced captures honour the cap by reading slower
        period = 1.0 / fps
        now = time.monotonic()
        target = self._pace_next + period
        if target < now - period:  # fell behind (slow consumer, first frame): resync
            target = now + period
        self._pace_next = target
        self._stop.wait(max(0.0, target - now))

    def _failed(self, reason: str) -> None:
        reason = redact(reason)  # OpenCV and FFmpeg errors may quote the URI with its password
        if reason != self.last_error:
            self.log.warning("%s", reason)
        self.last_error = reason

    def _set_state(self, state: SourceState) -> None:
        if state is self.state:
            return
        previous, self.state = self.state, state
        self.state_since = time.monotonic()
        if state is SourceState.STREAMING and self.reconnects:
            self.log.info("streaming again after %d reconnect(s)", self.reconnects)
        elif state is SourceState.STREAMING:
            self.log.info("streaming")
        else:
            self.log.debug("%s -> %s", previous.value, state.value)


def open_capture(spec: CaptureSpec, name: str) -> Any:
    """The capture of ``spec`` as a source reads it: ``open()``, ``read(timeout_s, stop)``,
    ``close()``, in a child process when the spec is isolated, else in the calling thread.

    Not opened yet; ``name`` names the child process (``capture-<name>``).
    """
    if spec.isolated:
        return IsolatedCapture(spec, name)
    return _InThread(spec.build())


class _InThread:
    """Adapter giving an in-thread Capture the same face as IsolatedCapture."""

    def __init__(self, capture: Capture):
        self._capture = capture
        self.pace_fps = capture.pace_fps
        self.follow_consumer = capture.follow_consumer
        self.ts = 0.0
        self.meta: Dict[str, Any] = {}

    def open(self) -> None:
        self._capture.open()
        self.pace_fps = self._capture.pace_fps

    def read(self, timeout_s: float, stop: Optional[threading.Event] = None) -> np.ndarray:
        image = self._capture.read()
        self.ts = time.time()
        self.meta = self._capture.frame_meta()
        return image

    def close(self) -> None:
        self._capture.close()
