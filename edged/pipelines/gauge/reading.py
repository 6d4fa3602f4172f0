"""From keypoints to a value: scale geometry, perspective correction, quality, smoothing.

Conventions (``angles``): degrees, clockwise, 0 = 12 o'clock. A scale starts at
``start_angle`` (where the minimum sits) and runs ``sweep`` degrees (> 0
clockwise, < 0 counter-clockwise) to the maximum. The needle's position is
measured from the start *in the scale's own direction*, folded into [0, 360),
so a scale crossing 12 o'clock needs no special case. The dead zone between
the end and the start is clamped to the nearer end (``out_of_range`` when the
needle is clearly in it).

Perspective: a dial seen at an angle is an ellipse. ``fit_ellipse`` fits a
conic to rim points; ``circle_transform`` is the symmetric 2x2 map that turns
that ellipse back into a circle (exact for an orthographic view, a close
approximation under perspective), applied to every keypoint around the centre
before angles are measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from edged.pipelines.gauge.angles import angle_of, wrap360

__all__ = [
    "QUALITIES",
    "GaugeReading",
    "GaugeTracker",
    "Scale",
    "ValueRange",
    "angle_to_fraction",
    "circle_transform",
    "fit_ellipse",
    "scale_from_keypoints",
    "snap_sweep",
]

#: sweeps real dials are made with; estimates this close to one are snapped to it
STANDARD_SWEEPS = (90.0, 180.0, 240.0, 270.0, 300.0)
SNAP_DEG = 7.0

QUALITIES = ("ok", "low_confidence", "unreadable", "out_of_range")

Point = Tuple[float, float]


@dataclass
class Scale:
    """A dial's scale: where it starts, how far and which way it runs, and what it reads."""

    start_angle: float
    sweep: float
    min_value: float = 0.0
    max_value: float = 1.0
    #: optional non-linear scale: (angle from the start along the scale in degrees, value) pairs
    table: Optional[Sequence[Tuple[float, float]]] = None

    def __post_init__(self) -> None:
        if not 0 < abs(self.sweep) <= 360:
            raise ValueError(f"sweep must be within ±(0, 360] degrees, got {self.sweep}")
        if self.table is not None:
            pts = sorted((float(a), float(v)) for a, v in self.table)
            if len(pts) < 2:
                raise ValueError("a scale table needs at least two (angle, value) points")
            self.table = pts

    def angle_to_fraction(self, angle: float, tolerance_deg: float = 0.0) -> Tuple[float, bool]:
        return angle_to_fraction(angle, self.start_angle, self.sweep, tolerance_deg)

    def value_at(self, angle: float, tolerance_deg: float = 0.0) -> Tuple[float, bool]:
        """``(value, in_range)`` at needle ``angle``; dead-zone angles clamp to the nearer end."""
        fraction, in_range = self.angle_to_fraction(angle, tolerance_deg)
        return self.value_of_fraction(fraction), in_range

    def value_of_fraction(self, fraction: float) -> float:
        if self.table is not None:
            angles = [a for a, _ in self.table]
            values = [v for _, v in self.table]
            return float(np.interp(fraction * abs(self.sweep), angles, values))
        return self.min_value + (self.max_value - self.min_value) * fraction

    def angle_of_fraction(self, fraction: float) -> float:
        return wrap360(self.start_angle + self.sweep * fraction)


def angle_to_fraction(
    angle: float, start_angle: float, sweep: float, tolerance_deg: float = 0.0
) -> Tuple[float, bool]:
    """Where ``angle`` lies on the scale as a fraction 0..1, and whether it lies on it.

    The offset from the start is measured in the scale's direction, in [0, 360).
    Offsets past the end fall in the dead zone and clamp to the nearer end;
    ``in_range`` is false when they are more than ``tolerance_deg`` into it.
    """
    span = abs(sweep)
    sign = 1.0 if sweep > 0 else -1.0
    offset = wrap360((angle - start_angle) * sign)
    if span >= 360.0:
        return offset / 360.0, True
    if offset <= span:
        return offset / span, True
    past_end = offset - span
    before_start = 360.0 - offset
    if past_end <= before_start:
        return 1.0, past_end <= tolerance_deg
    return 0.0, before_start <= tolerance_deg


def scale_from_keypoints(
    center: Point, start: Point, end: Point, quarter: Optional[Point] = None
) -> Tuple[float, float]:
    """``(start_angle, sweep)`` from the scale's keypoints (already perspective-corrected).

    The start and end alone leave two arcs; the quarter point (25 % of the
    span) picks the arc and the direction: in the scale's direction it comes
    before the end. Without it, a clockwise scale is assumed. Coinciding start
    and end mean a full circle.
    """
    a_s = angle_of(start[0] - center[0], start[1] - center[1])
    a_e = angle_of(end[0] - center[0], end[1] - center[1])
    cw = wrap360(a_e - a_s)  # clockwise extent start -> end
    full = cw < 8.0 or cw > 352.0
    if quarter is None:
        return a_s, 360.0 if full else cw
    a_q = angle_of(quarter[0] - center[0], quarter[1] - center[1])
    q_cw = wrap360(a_q - a_s)
    if full:
        return a_s, 360.0 if q_cw < 180.0 else -360.0
    ccw = 360.0 - cw
    q_ccw = wrap360(a_s - a_q)
    # the quarter point should sit near a quarter of the way along the true arc
    err_cw = abs(q_cw - 0.25 * cw) if q_cw <= cw else 1e9
    err_ccw = abs(q_ccw - 0.25 * ccw) if q_ccw <= ccw else 1e9
    return (a_s, cw) if err_cw <= err_ccw else (a_s, -ccw)


def snap_sweep(
    start_angle: float, sweep: float, tolerance_deg: float = SNAP_DEG
) -> Tuple[float, float]:
    """Snap a measured sweep to the nearest standard one (within ``tolerance_deg``), keeping
    the arc's middle where it was: the start and end errors then average out."""
    span = abs(sweep)
    if span >= 360.0:
        return start_angle, sweep
    nearest = min(STANDARD_SWEEPS, key=lambda v: abs(v - span))
    if abs(nearest - span) > tolerance_deg:
        return start_angle, sweep
    sign = 1.0 if sweep > 0 else -1.0
    middle = start_angle + sweep / 2.0
    return wrap360(middle - sign * nearest / 2.0), sign * nearest


# -- perspective -------------------------------------------------------------------------


def fit_ellipse(
    points: np.ndarray, weights: Optional[np.ndarray] = None
) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Least-squares conic through ``points`` (N x 2): ``(centre, M)`` with the ellipse
    ``(x - c)^T M (x - c) = 1``, or None when the points do not make an ellipse."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) < 6:
        return None
    w = np.ones(len(pts)) if weights is None else np.asarray(weights, np.float64)
    mean = np.average(pts, axis=0, weights=w)
    scale = float(np.sqrt(np.average(((pts - mean) ** 2).sum(1), weights=w))) or 1.0
    p = (pts - mean) / scale
    x, y = p[:, 0], p[:, 1]
    design = np.stack([x * x, x * y, y * y, x, y, np.ones_like(x)], 1) * np.sqrt(w)[:, None]
    try:
        _, _, vt = np.linalg.svd(design, full_matrices=False)
    except np.linalg.LinAlgError:
        return None
    a, b, c, d, e, f = vt[-1]
    m = np.array([[a, b / 2], [b / 2, c]])
    if np.linalg.det(m) <= 0:
        return None
    centre = -0.5 * np.linalg.solve(m, [d, e])
    k = centre @ m @ centre - f
    if abs(k) < 1e-12:
        return None
    m = m / k
    if np.any(np.linalg.eigvalsh(m) <= 0):
        return None
    return centre * scale + mean, m / (scale * scale)


def circle_transform(m: np.ndarray) -> np.ndarray:
    """The symmetric matrix ``M^(1/2)`` (normalised to unit determinant): it maps the
    ellipse ``x^T M x = 1`` onto a circle without rotating what lies on it."""
    vals, vecs = np.linalg.eigh(m)
    root = vecs @ np.diag(np.sqrt(vals)) @ vecs.T
    return root / math.sqrt(float(np.linalg.det(root)))


def axis_ratio(m: np.ndarray) -> float:
    vals = np.linalg.eigvalsh(m)
    return float(math.sqrt(vals[0] / vals[1]))


# -- a reading -----------------------------------------------------------------------------

#: a gauge's ``why`` when no dial was found to read
NOT_FOUND = "no gauge found"


@dataclass
class GaugeReading:
    value: Optional[float]
    confidence: float
    quality: str
    angle_deg: Optional[float]  # needle angle in the corrected dial frame
    keypoints: Dict[str, List[float]]  # name -> [x, y, score] in image pixels
    start_angle: Optional[float] = None
    sweep: Optional[float] = None
    fraction: Optional[float] = None
    radius: Optional[float] = None  # face radius in image pixels (major axis)
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def reader(self) -> str:
        """The model that read it: ``keypoints``, or as the pointer reader names its model
        in ``extra["reader"]`` (``pointer``, ``panel``)."""
        return str(self.extra.get("reader", "keypoints"))

    @property
    def why(self) -> Optional[str]:
        """Why a reading that is not ``ok`` is not, for a person (``read-gauge``'s output,
        the MQTT message, the preview); None for an ``ok`` one or without a reason."""
        why = self.extra.get("why")
        return str(why) if why and self.quality != "ok" else None

    @classmethod
    def not_found(cls, why: str = NOT_FOUND) -> GaugeReading:
        """The reading of a gauge no dial was found for."""
        return cls(None, 0.0, "unreadable", None, {}, extra={"why": why})

    def as_dict(self) -> Dict[str, Any]:
        def r(v: Optional[float], n: int = 4) -> Optional[float]:
            return None if v is None else round(float(v), n)

        out = {
            "value": r(self.value, 6),
            "confidence": r(self.confidence, 3),
            "quality": self.quality,
            "angle_deg": r(self.angle_deg, 2),
            "reader": self.reader,
            "keypoints": {
                k: [round(float(a), 1) for a in v[:2]] + [round(float(v[2]), 3)]
                for k, v in self.keypoints.items()
            },
        }
        if self.why is not None:
            out["why"] = self.why
        return out


class ValueRange(NamedTuple):
    """The values a dial's readings take: their ``span``, and on a full-circle scale the
    ``low`` end and the ``period`` after which they wrap round (None: they do not): a
    meter's sub-dial turns from 9.9 on to 0.1, a change of 0.2, not of 9.8."""

    span: float
    low: float = 0.0
    period: Optional[float] = None

    def near(self, value: float, about: float) -> float:
        """``value``, on a wrapping scale moved by whole periods to within half a period of
        ``about``."""
        if self.period is None:
            return value
        return about + (value - about + self.period / 2.0) % self.period - self.period / 2.0

    def wrapped(self, value: float) -> float:
        """``value`` back on the scale (a wrapping one's from ``low`` up)."""
        if self.period is None:
            return value
        return self.low + (value - self.low) % self.period


class GaugeTracker:
    """Per-gauge temporal smoothing (EMA) and a max-rate plausibility check.

    A reading that moves faster than ``max_rate`` (value units per second) from
    the last accepted one is reported as ``low_confidence`` with the last value
    kept; after ``accept_after`` such readings in a row the new level is
    accepted (the gauge really did jump).

    A full-circle dial (``wrap``: its ``(min, max)``) has no ends: a meter's
    sub-dial turns from 9.9 on to 0.1, a change of 0.2, not of 9.8. Changes are
    then measured the short way round, and the average stays on the dial.

    The average is of one model's readings, and of sure (``ok``) or unsure ones: a reading
    by another model than the last (``extra["reader"]``: the keypoints, or the panel model's
    second opinion), or one whose sureness differs from the last's, starts it afresh, so two
    models' disagreement is never blended into a value that looks sure, nor an unsure guess
    (a faint tip read from a widened crop 66 % off, bench/results/gauge.md session 19) into
    the ``ok`` readings after it.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        max_rate: Optional[float] = None,
        accept_after: int = 3,
        wrap: Optional[Tuple[float, float]] = None,
    ):
        self.alpha = alpha
        self.max_rate = max_rate
        self.accept_after = accept_after
        lo, hi = sorted(wrap) if wrap is not None else (0.0, 0.0)
        self._values = ValueRange(hi - lo, lo, hi - lo if wrap is not None else None)
        self.value: Optional[float] = None
        self.t: Optional[float] = None
        self.rejected = 0
        self.reader: Optional[str] = None  # the model behind ``value``
        self.sure = False  # whether ``value`` is of ``ok`` readings

    def update(self, reading: GaugeReading, t: float) -> GaugeReading:
        if reading.value is None or reading.quality == "unreadable":
            return reading
        reader, sure = reading.reader, reading.quality == "ok"
        if self.value is None or self.t is None:
            self.value, self.t, self.reader, self.sure = reading.value, t, reader, sure
            return reading
        dt = max(1e-3, t - self.t)
        change = self._change(self.value, reading.value)
        if self.max_rate is not None and abs(change) / dt > self.max_rate:
            self.rejected += 1
            if self.rejected < self.accept_after:
                reading.extra["implausible_value"] = reading.value
                why = f"read {reading.value:g}, a change faster than max_rate: the last value kept"
                if reading.extra.get("why"):  # (and what was doubtful about it already)
                    why = f"{why}; {reading.extra['why']}"
                reading.extra["why"] = why
                reading.value = self.value
                reading.quality = "low_confidence"
                return reading
            self.value = reading.value  # a real jump: take the new level
        elif reader != self.reader or sure != self.sure:
            self.value = reading.value  # no average across models, or of guesses with ok
        else:
            self.value = self._on_dial(self.value + self.alpha * change)
        self.rejected = 0
        self.t, self.reader, self.sure = t, reader, sure
        reading.value = self.value
        return reading

    def _change(self, old: float, new: float) -> float:
        return self._values.near(new, old) - old

    def _on_dial(self, value: float) -> float:
        return self._values.wrapped(value)
