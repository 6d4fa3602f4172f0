"""The orchestrator in-process: parts start and stop in order, crashes are survived."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from edged.config import parse_config
from edged.daemon import Daemon
from edged.pipelines import create_pipeline
from edged.pipelines.base import Pipeline

from sourcekit import until

pytest.importorskip("cv2")

CONFIG = """
device_id: test
sources:
  - {id: cam0, kind: synthetic, width: 64, height: 48, rate: 40}
  - {id: cam1, kind: synthetic, width: 64, height: 48, rate: 40}
pipelines:
  - {id: flaky, kind: motion, source: cam0}
  - {id: steady, kind: motion, source: cam1}
sinks:
  jsonl: {path: RESULTS, fsync: never}
"""


class FlakyPipeline(Pipeline):
    """Fails on frames 3-5 in a row (a crash: restarted) and on frame 8 alone (skipped)."""

    kind = "flaky"

    def postprocess(self, outputs, frame):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls in (3, 4, 5, 8):
            raise RuntimeError(f"boom on call {self.calls}")
        return {"calls": self.calls}


def factory(config):
    return FlakyPipeline(config) if config.id == "flaky" else create_pipeline(config)


async def test_crashing_pipeline_is_restarted_and_the_rest_keeps_running(tmp_path):
    results = tmp_path / "r.jsonl"
    config = parse_config(CONFIG.replace("RESULTS", str(results)))
    daemon = Daemon(config, pipeline_factory=factory)
    await daemon.start()
    try:
        flaky = daemon.pipelines()["flaky"]
        steady = daemon.pipelines()["steady"]
        await until(lambda: flaky.pipeline.processed >= 6, 15)
        status = {p["id"]: p for p in daemon.status()["pipelines"]}
        assert status["flaky"]["restarts"] == 1 and status["flaky"]["errors"] == 4
        assert "boom on call 8" in status["flaky"]["last_error"]
        assert status["steady"]["restarts"] == 0 and steady.pipeline.processed > 10
        assert all(s["state"] == "streaming" for s in daemon.status()["sources"])
    finally:
        await daemon.stop()
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert {r["pipeline_id"] for r in records} == {"flaky", "steady"}
    assert not daemon.parts


async def test_a_part_that_fails_to_start_is_reported_not_fatal(tmp_path):
    class Broken(Pipeline):
        def open(self):
            raise FileNotFoundError("model.onnx: no such file")

    def broken_factory(config):
        return Broken(config) if config.id == "flaky" else create_pipeline(config)

    config = parse_config(CONFIG.replace("RESULTS", str(tmp_path / "r.jsonl")))
    daemon = Daemon(config, pipeline_factory=broken_factory)
    await daemon.start()
    try:
        assert set(daemon.pipelines()) == {"steady"}
        failed = daemon.status()["failed"]
        assert failed == [
            {
                "part": "pipeline",
                "id": "flaky",
                "error": "FileNotFoundError: model.onnx: no such file",
            }
        ]
        await until(lambda: daemon.pipelines()["steady"].pipeline.processed > 3, 10)
    finally:
        await daemon.stop()


async def test_reload_restarts_only_what_changed(tmp_path):
    path = tmp_path / "edged.yaml"
    text = CONFIG.replace("RESULTS", str(tmp_path / "r.jsonl"))
    path.write_text(text)
    daemon = Daemon(parse_config(text), path)
    await daemon.start()
    try:
        before = {k: p.obj for k, p in daemon.parts.items()}
        path.write_text(
            text.replace(
                "{id: cam1, kind: synthetic, width: 64", "{id: cam1, kind: synthetic, width: 80"
            )
        )
        assert await daemon.reload()
        after = {k: p.obj for k, p in daemon.parts.items()}
        same = {k for k in before if before[k] is after.get(k)}
        assert same == {("sink", "jsonl"), ("source", "cam0"), ("pipeline", "flaky")}
        await until(lambda: daemon.sources()["cam1"].width == 80, 5)

        path.write_text("sources: []\n")
        assert not await daemon.reload()
        assert {k for k in daemon.parts} == set(after)
    finally:
        await daemon.stop()


async def test_stop_drains_in_flight_results(tmp_path):
    results = tmp_path / "r.jsonl"
    config = parse_config(CONFIG.replace("RESULTS", str(results)))
    daemon = Daemon(config)
    await daemon.start()
    await until(lambda: daemon.bus.published >= 20, 10)
    await asyncio.wait_for(daemon.stop(), 5)
    lines = results.read_text().splitlines()
    assert len(lines) == daemon.bus.published
    assert all(json.loads(line)["kind"] == "motion" for line in lines)


def test_motion_overlay_marks_the_frame():
    import numpy as np

    from edged.config.motion import MotionPipelineConfig
    from edged.frames import Frame
    from edged.pipelines.motion import MotionPipeline

    pipeline = MotionPipeline(MotionPipelineConfig(id="m", kind="motion", source="s"))
    still = np.zeros((120, 160, 3), np.uint8)
    moved = still.copy()
    moved[20:100, 20:100] = 255
    pipeline.process(Frame("s", 1, 0.0, 0.0, still))
    result = pipeline.process(Frame("s", 2, 0.0, 0.0, moved))
    assert result.payload["motion"] is True
    drawn = pipeline.draw(still.copy(), result)
    assert tuple(drawn[0, 80]) == (0, 0, 255)  # red border while moving


async def test_reload_during_start_never_doubles_a_part(tmp_path):
    path = tmp_path / "edged.yaml"
    text = CONFIG.replace("RESULTS", str(tmp_path / "r.jsonl"))
    path.write_text(text)
    daemon = Daemon(parse_config(text), path)
    await asyncio.gather(daemon.start(), daemon.reload(), daemon.reload())
    try:
        assert len(daemon.pipelines()) == 2 and len(daemon.sinks()) == 1
        before = threading.active_count()
    finally:
        await daemon.stop()
    assert not await daemon.reload(), "no reload after stop"
    assert not daemon.parts
    await until(lambda: threading.active_count() < before, 5)
