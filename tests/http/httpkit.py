"""Helpers for the HTTP tests: a small stand-in daemon with real slots and pipelines."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from edged.config.http import HttpSinkConfig
from edged.frames import Frame
from edged.pipelines.base import Pipeline
from edged.results import Result
from edged.slot import LatestFrameSlot

BOUNDARY = b"--edgedframe"


def grey_frame(seq: int, source_id: str = "cam0", width: int = 64, height: int = 48) -> Frame:
    """A frame whose grey level tells which one it is (seq * 20 mod 250)."""
    image = np.full((height, width, 3), (seq * 20) % 250, np.uint8)
    return Frame(source_id, seq, time.time(), time.monotonic(), image)


def level_of(jpeg: bytes) -> float:
    """The mean grey level of a JPEG, to check which frame a viewer got."""
    import cv2

    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return float(image.mean())


class FakeSource:
    def __init__(self, source_id: str, slot: LatestFrameSlot):
        self.id = source_id
        self.slot = slot
        self.state = "streaming"
        self.reconnects = 0

    def status(self) -> Dict[str, Any]:
        frame = self.slot.latest
        return {
            "id": self.id,
            "kind": "synthetic",
            "uri": "test pattern",
            "state": self.state,
            "frames": self.slot.received,
            "fps": 10.0,
            "dropped": self.slot.dropped,
            "throttled": 0,
            "reconnects": self.reconnects,
            "last_error": None,
            "frame_age_s": None if frame is None else round(frame.age_s(), 3),
            "width": 0 if frame is None else frame.width,
            "height": 0 if frame is None else frame.height,
        }


class MarkPipeline(Pipeline):
    """Counts pixels above 128 and draws a white box; counts its draws."""

    kind = "mark"

    def __init__(self, pipeline_id: str = "marks"):
        class _Config:
            id = pipeline_id

        super().__init__(_Config())
        self.draws = 0

    def postprocess(self, outputs: np.ndarray, frame: Frame) -> Dict[str, Any]:
        return {"bright": int((outputs > 128).sum()), "level": float(outputs.mean())}

    def draw(self, image: np.ndarray, result: Result) -> np.ndarray:
        self.draws += 1
        image[:8, :8] = 255
        return image

    def summary(self, result: Result) -> Dict[str, Any]:
        return {"bright": result.payload["bright"]}

    def describe(self) -> Dict[str, Any]:
        return {"model": "none", "backend": "numpy"}


class FakeRunner:
    def __init__(self, pipeline: Pipeline, slots: Dict[str, LatestFrameSlot]):
        self.pipeline = pipeline
        self.slots = slots
        self.state = "running"
        self.last_progress_mono: Optional[float] = None

    def status(self) -> Dict[str, Any]:
        last = self.pipeline.last_result
        return {
            "id": self.pipeline.id,
            "kind": self.pipeline.kind,
            "sources": list(self.slots),
            "state": self.state,
            "processed": self.pipeline.processed,
            "errors": 0,
            "restarts": 0,
            "skipped_frames": 0,
            "last_error": None,
            "timings_ms": dict(last.timings_ms) if last else {},
            "last_result": self.pipeline.summary(last) if last else None,
            **self.pipeline.describe(),
        }

    def publish(self, frame: Frame) -> Result:
        """What the real runner does for one frame (synchronously, for tests)."""
        result = self.pipeline.process(frame)
        self.pipeline.processed += 1
        self.pipeline.last_result = result
        self.last_progress_mono = time.monotonic()
        return result


class FakeDaemon:
    """Just enough of edged.daemon.Daemon for the HTTP app."""

    def __init__(self) -> None:
        self._sources: Dict[str, FakeSource] = {}
        self._pipelines: Dict[str, FakeRunner] = {}
        self.failed: List[Dict[str, str]] = []

    def add_source(self, source_id: str = "cam0") -> FakeSource:
        source = FakeSource(source_id, LatestFrameSlot(source_id))
        self._sources[source_id] = source
        return source

    def add_pipeline(self, pipeline: Pipeline, *source_ids: str) -> FakeRunner:
        slots = {s: self._sources[s].slot for s in source_ids}
        runner = FakeRunner(pipeline, slots)
        self._pipelines[pipeline.id] = runner
        return runner

    def remove(self, ident: str) -> None:
        self._sources.pop(ident, None)
        runner = self._pipelines.pop(ident, None)
        if runner is not None:
            runner.pipeline.executor.shutdown(wait=False)

    def sources(self) -> Dict[str, FakeSource]:
        return dict(self._sources)

    def pipelines(self) -> Dict[str, FakeRunner]:
        return dict(self._pipelines)

    def status(self) -> Dict[str, Any]:
        return {
            "version": "test",
            "device_id": "bench-1",
            "uptime_s": 1.0,
            "reloads": 0,
            "sources": [s.status() for s in self._sources.values()],
            "pipelines": [p.status() for p in self._pipelines.values()],
            "sinks": [],
            "failed": list(self.failed),
            "bus": {},
        }

    def close(self) -> None:
        for runner in self._pipelines.values():
            runner.pipeline.executor.shutdown(wait=True)


def http_config(**overrides: Any) -> HttpSinkConfig:
    values = {"port": 8080, "stream_fps": 60.0}
    values.update(overrides)
    return HttpSinkConfig(**values)


class MjpegReader:
    """Reads parts of a multipart/x-mixed-replace response, one JPEG at a time."""

    def __init__(self, response: Any):
        self.response = response
        self.parts = 0

    async def next(self, timeout_s: float = 5.0) -> bytes:
        return await asyncio.wait_for(self._next(), timeout_s)

    async def _next(self) -> bytes:
        content = self.response.content
        line = await content.readline()
        while line in (b"\r\n", b""):
            if line == b"":
                raise EOFError("the stream ended")
            line = await content.readline()
        assert line.rstrip() == BOUNDARY, line
        headers = {}
        while True:
            line = await content.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        data = await content.readexactly(int(headers["content-length"]))
        self.parts += 1
        return data

    def close(self) -> None:
        self.response.close()


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def until(predicate: Any, timeout_s: float = 5.0, what: str = "condition") -> None:
    """Wait for in-process state that offers no event (a peer noticed gone, a task ended)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def fake_daemon() -> Iterator[FakeDaemon]:
    """Fixture body (each test module registers it as ``daemon``; no conftest needed)."""
    fake = FakeDaemon()
    yield fake
    fake.close()
