"""Helpers to run a Source inside an asyncio test and look at what it produced."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, List

from edged.config.sources import ReconnectConfig, SyntheticSourceConfig
from edged.frames import Frame
from edged.slot import LatestFrameSlot
from edged.sources import CaptureSpec, Source, capture_spec


def fast_reconnect(**overrides: Any) -> ReconnectConfig:
    values = {"initial_s": 0.2, "max_s": 1.0, "stable_s": 5.0}
    values.update(overrides)
    return ReconnectConfig(**values)


def make_source(config: Any, spec: CaptureSpec = None) -> Source:  # type: ignore[assignment]
    slot = LatestFrameSlot(config.id)
    return Source(config, spec or capture_spec(config), slot)


def synthetic_config(source_id: str = "syn", rate: float = 50.0) -> SyntheticSourceConfig:
    return SyntheticSourceConfig(id=source_id, kind="synthetic", width=64, height=48, rate=rate)


async def collect(source: Source, count: int, timeout_s: float) -> List[Frame]:
    """Read ``count`` frames through a slot reader (the way a pipeline does)."""
    reader = source.slot.reader()
    frames: List[Frame] = []
    try:

        async def gather() -> None:
            while len(frames) < count:
                frame = await reader.next()
                if frame is None:
                    return
                frames.append(frame)

        await asyncio.wait_for(gather(), timeout_s)
    finally:
        reader.close()
    return frames


async def until(predicate: Callable[[], bool], timeout_s: float) -> float:
    """Await a condition on state that a capture thread updates; returns seconds waited."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start
