"""Cross-camera batching: gathering the newest frames, the runner's one task, the daemon."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Dict, List

import numpy as np
import pytest

from edged.bus import ResultBus
from edged.config import parse_config
from edged.config.motion import MotionPipelineConfig
from edged.daemon import Daemon
from edged.engines.errors import EngineUnavailableError
from edged.frames import Frame
from edged.pipelines import create_pipeline
from edged.pipelines import runner as runner_module
from edged.pipelines.base import Pipeline
from edged.pipelines.gather import FrameGatherer
from edged.pipelines.motion import MotionPipeline
from edged.pipelines.runner import PipelineRunner
from edged.slot import LatestFrameSlot

from sourcekit import until

IMAGE = np.zeros((4, 4, 3), np.uint8)


def _frame(source_id: str, seq: int) -> Frame:
    return Frame(source_id, seq, 1000.0 + seq, time.monotonic(), IMAGE)


def _slots(count: int) -> Dict[str, LatestFrameSlot]:
    return {f"cam{i}": LatestFrameSlot(f"cam{i}") for i in range(count)}


def _gatherer(slots: Dict[str, LatestFrameSlot], max_frames: int, wait_s: float) -> FrameGatherer:
    return FrameGatherer([slot.reader() for slot in slots.values()], max_frames, wait_s)


def _ids(frames: List[Frame]) -> List[str]:
    return [f"{f.source_id}#{f.seq}" for f in frames]


# ---------------------------------------------------------------- gathering


async def test_a_batch_closes_as_soon_as_every_source_has_a_frame():
    slots = _slots(3)
    gatherer = _gatherer(slots, 4, wait_s=30.0)  # the wait would fail the test
    for i, slot in enumerate(slots.values()):
        slot.put(_frame(slot.source_id, 1))
        slot.put(_frame(slot.source_id, 2 + i))  # newest wins
    frames = await asyncio.wait_for(gatherer.next_batch(), 5)
    assert _ids(frames) == ["cam0#2", "cam1#3", "cam2#4"]


async def test_a_batch_closes_at_max_and_the_sources_left_out_go_first_next_time():
    slots = _slots(5)
    gatherer = _gatherer(slots, 2, wait_s=30.0)
    seen = []
    for round_ in range(1, 4):
        for slot in slots.values():
            slot.put(_frame(slot.source_id, round_))
        seen.append(_ids(await asyncio.wait_for(gatherer.next_batch(), 5)))
    assert seen == [["cam0#1", "cam1#1"], ["cam2#2", "cam3#2"], ["cam4#3", "cam0#3"]]
    skipped = {r._slot.source_id: r.skipped for r in gatherer._order}
    # counted as a reader counts them: the gap before the next frame taken (cam0 missed #2)
    assert skipped == {"cam0": 1, "cam1": 0, "cam2": 0, "cam3": 0, "cam4": 0}


async def test_a_batch_waits_for_stragglers_at_most_wait_ms():
    slots = _slots(3)
    gatherer = _gatherer(slots, 4, wait_s=0.05)
    slots["cam0"].put(_frame("cam0", 1))
    start = time.monotonic()
    pending = asyncio.ensure_future(gatherer.next_batch())
    await asyncio.sleep(0.01)
    slots["cam1"].put(_frame("cam1", 1))  # inside the wait: joins the batch
    frames = await asyncio.wait_for(pending, 5)
    waited = time.monotonic() - start
    assert _ids(frames) == ["cam0#1", "cam1#1"]
    assert 0.04 <= waited < 1.0


async def test_frames_that_waited_during_the_last_call_do_not_wait_again():
    """The wait counts from the first frame's capture: a busy model adds no delay."""
    slots = _slots(2)
    gatherer = _gatherer(slots, 4, wait_s=0.5)
    stale = Frame("cam0", 1, 1000.0, time.monotonic() - 1.0, IMAGE)  # captured 1 s ago
    slots["cam0"].put(stale)
    start = time.monotonic()
    frames = await asyncio.wait_for(gatherer.next_batch(), 5)
    assert _ids(frames) == ["cam0#1"] and time.monotonic() - start < 0.4


async def test_ended_sources_leave_the_batch_and_the_end_is_none():
    slots = _slots(2)
    gatherer = _gatherer(slots, 4, wait_s=30.0)
    slots["cam0"].put(_frame("cam0", 1))
    slots["cam0"].close()
    slots["cam1"].put(_frame("cam1", 1))
    assert _ids(await asyncio.wait_for(gatherer.next_batch(), 5)) == ["cam0#1", "cam1#1"]
    slots["cam1"].put(_frame("cam1", 2))  # cam0 has ended: no waiting for it
    assert _ids(await asyncio.wait_for(gatherer.next_batch(), 5)) == ["cam1#2"]
    slots["cam1"].close()
    assert await asyncio.wait_for(gatherer.next_batch(), 5) is None


# ---------------------------------------------------------------- the runner


class Recording(Pipeline):
    """Records each batch; raises what ``failures`` holds for the call with that number."""

    kind = "recording"

    def __init__(self, config, failures=None):
        super().__init__(config)
        self.batches: List[List[str]] = []
        self.failures = failures or {}

    def process_batch(self, frames):
        self.batches.append(_ids(frames))
        failure = self.failures.get(len(self.batches))
        if failure is not None:
            raise failure
        return super().process_batch(frames)

    def postprocess(self, outputs, frame):
        return {"seen": f"{frame.source_id}#{frame.seq}"}


def _batch_pipeline(count: int, failures=None) -> Recording:
    config = MotionPipelineConfig(
        id="rec",
        kind="motion",
        source=[f"cam{i}" for i in range(count)],
        batch={"max": 4, "wait_ms": 5},
    )
    return Recording(config, failures)


async def _feed(slots: Dict[str, LatestFrameSlot], seq: int) -> None:
    for slot in slots.values():
        slot.put(_frame(slot.source_id, seq))


async def test_the_runner_publishes_each_result_of_a_batch_in_order():
    slots = _slots(3)
    bus = ResultBus()
    results = bus.subscribe("test")
    runner = PipelineRunner(_batch_pipeline(3), slots, bus)
    await runner.start()
    try:
        assert len(runner._tasks) == 1
        await _feed(slots, 1)
        got = await asyncio.wait_for(results.get_batch(), 5)
        while len(got) < 3:
            got += await asyncio.wait_for(results.get_batch(), 5)
    finally:
        await runner.stop()
    assert [(r.source_id, r.frame_seq, r.payload["seen"]) for r in got] == [
        ("cam0", 1, "cam0#1"),
        ("cam1", 1, "cam1#1"),
        ("cam2", 1, "cam2#1"),
    ]
    status = runner.status()
    assert status["processed"] == 3 and status["state"] == "stopped"
    assert status["batch"] == {"max": 4, "wait_ms": 5.0, "batches": 1, "mean_frames": 3.0}


async def test_a_failing_batch_counts_its_frames_and_three_in_a_row_restart_the_task():
    slots = _slots(2)
    boom = RuntimeError("boom")
    pipeline = _batch_pipeline(2, {1: boom, 3: boom, 4: boom, 5: boom})
    runner = PipelineRunner(pipeline, slots, ResultBus())
    await runner.start()
    try:
        for seq in range(1, 8):
            await _feed(slots, seq)
            calls = len(pipeline.batches)
            await until(lambda c=calls: len(pipeline.batches) > c, 10)
        status = runner.status()
    finally:
        await runner.stop()
    assert status["errors"] == 8  # four failed calls of two frames
    assert status["restarts"] == 1 and status["processed"] == 6
    assert status["last_error"] == "RuntimeError: boom"


async def test_a_batch_waits_for_an_unreachable_engine_then_goes_on(monkeypatch):
    monkeypatch.setattr(runner_module, "ENGINE_RETRY_INITIAL_S", 0.01)
    slots = _slots(2)
    away = EngineUnavailableError("server at 10.0.0.9:8001 did not answer")
    pipeline = _batch_pipeline(2, {1: away})
    runner = PipelineRunner(pipeline, slots, ResultBus())
    await runner.start()
    try:
        await _feed(slots, 1)
        await until(lambda: runner.state == "waiting", 5)
        assert "did not answer" in runner.last_error
        await _feed(slots, 2)  # the retries take the newest frames
        await until(lambda: pipeline.processed == 2, 5)
        assert runner.state == "running"
        status = runner.status()
    finally:
        await runner.stop()
    assert pipeline.batches[-1] == ["cam0#2", "cam1#2"]
    assert status["errors"] == 0 and status["restarts"] == 0


class FailsOnCam1(Recording):
    """The default ``process_batch``; cam1's frames fail in postprocess."""

    def postprocess(self, outputs, frame):
        if frame.source_id == "cam1":
            raise ValueError(f"cannot read frame {frame.seq}")
        return super().postprocess(outputs, frame)


async def test_one_failing_frame_costs_the_others_of_its_batch_nothing():
    slots = _slots(3)
    bus = ResultBus()
    results = bus.subscribe("test")
    config = MotionPipelineConfig(
        id="rec", kind="motion", source=["cam0", "cam1", "cam2"], batch={"max": 4, "wait_ms": 5}
    )
    pipeline = FailsOnCam1(config)
    runner = PipelineRunner(pipeline, slots, bus)
    await runner.start()
    try:
        got = []
        for seq in range(1, 6):  # cam1 fails in every batch: the others go on, no restart
            await _feed(slots, seq)
            while len(got) < 2 * seq:
                got += await asyncio.wait_for(results.get_batch(), 5)
            await until(lambda s=seq: runner.status()["errors"] == s, 5)
        status = runner.status()
    finally:
        await runner.stop()
    assert [r.payload["seen"] for r in got[:2]] == ["cam0#1", "cam2#1"]
    assert status["processed"] == 10 and status["errors"] == 5
    assert status["restarts"] == 0 and status["state"] == "running"
    assert status["last_error"] == "ValueError: cannot read frame 5"


# ---------------------------------------------------------------- the daemon

CONFIG = """
device_id: test
sources:
  - {id: cam0, kind: synthetic, width: 64, height: 48, rate: 10}
  - {id: cam1, kind: synthetic, width: 80, height: 60, rate: 10}
  - {id: cam2, kind: synthetic, width: 64, height: 48, rate: 10}
  - {id: cam3, kind: synthetic, width: 96, height: 72, rate: 10}
pipelines:
  - {id: moving, kind: motion, source: [cam0, cam1, cam2, cam3], batch: {max: 4, wait_ms: 150}}
sinks:
  jsonl: {path: RESULTS, fsync: never}
"""


class CountingMotion(MotionPipeline):
    """The motion pipeline (default ``process_batch``), noting each batch's size."""

    def __init__(self, config):
        super().__init__(config)
        self.sizes: List[int] = []

    def process_batch(self, frames):
        self.sizes.append(len(frames))
        return super().process_batch(frames)


async def test_four_cameras_one_batched_pipeline_in_the_daemon(tmp_path):
    pytest.importorskip("cv2")
    results = tmp_path / "r.jsonl"
    config = parse_config(CONFIG.replace("RESULTS", str(results)))
    daemon = Daemon(config, pipeline_factory=lambda c: CountingMotion(c))
    await daemon.start()
    try:
        runner = daemon.pipelines()["moving"]
        pipeline = runner.pipeline
        await until(lambda: pipeline.processed >= 24, 20)
        assert len(runner._tasks) == 1  # one gathering task, not one per camera
        status = runner.status()
    finally:
        await asyncio.wait_for(daemon.stop(), 5)
    assert max(pipeline.sizes) > 1 and all(1 <= n <= 4 for n in pipeline.sizes)
    assert 0 < status["batch"]["batches"] <= len(pipeline.sizes)
    assert status["batch"]["mean_frames"] > 1
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(records) == daemon.bus.published  # stopping drained the last batch
    sizes = {"cam0": (64, 48), "cam1": (80, 60), "cam2": (64, 48), "cam3": (96, 72)}
    by_source: Dict[str, List[int]] = {}
    for record in records:
        assert record["pipeline_id"] == "moving" and record["kind"] == "motion"
        assert (record["width"], record["height"]) == sizes[record["source_id"]]
        by_source.setdefault(record["source_id"], []).append(record["frame_seq"])
    assert set(by_source) == set(sizes)
    assert all(seqs == sorted(set(seqs)) for seqs in by_source.values())
    assert not daemon.parts


async def test_without_batch_each_camera_keeps_its_own_task(tmp_path):
    pytest.importorskip("cv2")
    text = CONFIG.replace("RESULTS", str(tmp_path / "r.jsonl"))
    text = text.replace(", batch: {max: 4, wait_ms: 150}", "")
    daemon = Daemon(parse_config(text), pipeline_factory=create_pipeline)
    await daemon.start()
    try:
        runner = daemon.pipelines()["moving"]
        await until(lambda: runner.pipeline.processed >= 4, 20)
        assert len(runner._tasks) == 4 and "batch" not in runner.status()
    finally:
        await daemon.stop()
