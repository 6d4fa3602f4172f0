"""Angle conventions shared by the renderer, the model targets and the reader.

Angles are in degrees, clockwise, 0 = 12 o'clock, in image coordinates
(x to the right, y down). A positive sweep runs clockwise from the scale's
start (its minimum) to its end (its maximum); a negative sweep runs
counter-clockwise.
"""

from __future__ import annotations

import math
from typing import Tuple

__all__ = ["angle_between", "angle_of", "direction", "point_at", "wrap360"]


def wrap360(angle: float) -> float:
    """``angle`` folded into [0, 360)."""
    a = math.fmod(angle, 360.0)
    if a < 0:
        a += 360.0
    return 0.0 if a >= 360.0 else a


def angle_between(a: float, b: float) -> float:
    """How far apart two directions are, the short way round: degrees in [0, 180]."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


def direction(angle_deg: float) -> Tuple[float, float]:
    """Unit vector (dx, dy) in image coordinates pointing at ``angle_deg``."""
    r = math.radians(angle_deg)
    return math.sin(r), -math.cos(r)


def angle_of(dx: float, dy: float) -> float:
    """Clockwise angle from 12 o'clock of the image vector (dx, dy), in [0, 360)."""
    return wrap360(math.degrees(math.atan2(dx, -dy)))


def point_at(cx: float, cy: float, radius: float, angle_deg: float) -> Tuple[float, float]:
    dx, dy = direction(angle_deg)
    return cx + radius * dx, cy + radius * dy
