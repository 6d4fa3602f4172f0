"""The unit of data that flows from a source to the pipelines."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np

__all__ = ["Frame"]


@dataclass(frozen=True)
class Frame:
    """One captured image and when and where it came from.

    ``ts`` is wall-clock capture time (epoch seconds) for messages; ``mono`` is
    ``time.monotonic()`` at capture, for ages and intervals, because Jetsons often
    boot without an RTC and their wall clock jumps when NTP syncs.
    """

    source_id: str
    seq: int
    ts: float
    mono: float
    image: np.ndarray
    meta: Dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    def age_s(self, now: Optional[float] = None) -> float:
        """Seconds since capture, by the monotonic clock."""
        return (time.monotonic() if now is None else now) - self.mono
