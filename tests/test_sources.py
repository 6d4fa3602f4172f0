"""Sources: synthetic, isolation of hung captures, reconnect states and counters."""

from __future__ import annotations

import asyncio
import multiprocessing

import numpy as np
import pytest

from edged.config.sources import SyntheticSourceConfig
from edged.sources import CaptureSpec, SourceState

from sourcekit import collect, fast_reconnect, make_source, synthetic_config, until

pytest.importorskip("cv2")


def _fake_config(source_id: str, **extra):
    """A synthetic config used only for its id/timeouts; the capture comes from a spec."""
    return SyntheticSourceConfig(
        id=source_id, kind="synthetic", reconnect=fast_reconnect(), **extra
    )


async def test_synthetic_frames_are_numbered_and_change():
    source = make_source(synthetic_config())
    source.start()
    try:
        frames = await collect(source, 5, timeout_s=5)
    finally:
        source.stop()
    assert [f.seq for f in frames] == sorted({f.seq for f in frames})
    assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0].image, frames[-1].image)
    assert frames[-1].meta["synthetic_frame"] >= 4
    assert source.state is SourceState.STOPPED
    assert source.status()["frames"] >= 5


async def test_fps_cap_throttles_without_counting_drops():
    config = SyntheticSourceConfig(id="capped", kind="synthetic", width=32, height=32, rate=100)
    capped = config.model_copy(update={"fps": 10.0})
    source = make_source(capped)
    source.start()
    try:
        frames = await collect(source, 6, timeout_s=5)
    finally:
        source.stop()
    span = frames[-1].mono - frames[0].mono
    assert span >= 0.45, "10 fps cap: 6 frames take at least 0.5 s"
    assert source.slot.dropped == 0


async def test_hung_capture_is_killed_and_restarted():
    spec = CaptureSpec("fake_captures:HangingCapture", {"frames": 3}, isolated=True, label="hang")
    source = make_source(_fake_config("hang", stall_timeout_s=0.8, open_timeout_s=5), spec)
    source.start()
    try:
        frames = await collect(source, 6, timeout_s=20)
        assert len(frames) == 6
        assert source.reconnects >= 1
        assert "stalled" in source.last_error
    finally:
        source.stop()
    await until(lambda: len(multiprocessing.active_children()) == 0, 5)


async def test_silent_stream_is_detected_as_stalled_and_retried():
    spec = CaptureSpec("fake_captures:SilentCapture", isolated=True, label="silent")
    source = make_source(_fake_config("silent", open_timeout_s=0.6), spec)
    source.start()
    try:
        await until(lambda: source.reconnects >= 2, 10)
        assert source.frames == 0
        assert "no frame within 0.6 s" in source.last_error
        assert source.state in (SourceState.BACKOFF, SourceState.CONNECTING)
    finally:
        source.stop()


async def test_open_failure_backs_off_with_growing_delays():
    spec = CaptureSpec("fake_captures:FailingCapture", isolated=True, label="/dev/video99")
    source = make_source(_fake_config("dead"), spec)
    source.start()
    try:
        await until(lambda: source.reconnects >= 2, 10)
        status = source.status()
        assert status["last_error"] == "no such camera: /dev/video99"
        assert status["state"] in ("backoff", "connecting")
        assert source.backoff.attempts >= 2
    finally:
        source.stop()


async def test_capture_that_changes_resolution_is_followed():
    spec = CaptureSpec("fake_captures:ResizingCapture", isolated=True, label="resize")
    source = make_source(_fake_config("resize"), spec)
    source.start()
    try:
        await until(lambda: source.height == 96, 10)
        frame = source.slot.latest
        assert frame.image.shape == (96, 128, 3)
        assert source.reconnects == 0
    finally:
        source.stop()


async def test_a_dead_source_does_not_stop_another():
    dead = make_source(
        _fake_config("dead2"),
        CaptureSpec("fake_captures:FailingCapture", isolated=True, label="x"),
    )
    alive = make_source(synthetic_config("alive"))
    dead.start()
    alive.start()
    try:
        frames = await collect(alive, 10, timeout_s=5)
        assert len(frames) == 10
    finally:
        await asyncio.gather(
            asyncio.get_running_loop().run_in_executor(None, dead.stop),
            asyncio.get_running_loop().run_in_executor(None, alive.stop),
        )


async def test_unfixable_capture_fails_without_retrying():
    spec = CaptureSpec("fake_captures:NoGstreamerCapture", isolated=True, label="gst")
    source = make_source(_fake_config("gst"), spec)
    source.start()
    try:
        await until(lambda: source.state is SourceState.FAILED, 10)
        assert source.reconnects == 0 and "without GStreamer" in source.last_error
        # the capture thread closes the slot through the event loop (close_threadsafe) just
        # before it says FAILED: on a loaded machine this coroutine can see FAILED first
        await until(lambda: source.slot.closed, 5)
    finally:
        source.stop()
    assert source.status()["state"] == "failed"


async def test_stop_does_not_wait_out_the_stall_timeout():
    spec = CaptureSpec("fake_captures:SilentCapture", isolated=True, label="silent")
    source = make_source(_fake_config("slow", open_timeout_s=30), spec)
    source.start()
    await asyncio.sleep(0.5)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await loop.run_in_executor(None, source.stop)
    assert loop.time() - start < 2.5 and not source.alive
