"""A panel reading that holds when the framing moves a little: one crop read in several framings.

On real panel meters the panel model's value can jump by half the span when its
crop moves by 6 % or turns by 4 degrees: it reads one meter's scale as another
kind's (a centred arc as a corner meter's quarter circle), and is sure of both
(bench/results/gauge.md, session 17). A reading that a camera nudged a little
would overturn is no reading. ``reframings`` gives the framings a second opinion
is read in (the crop itself, shifted each way, zoomed in, turned each way);
``unturned`` brings a turned framing's reading back into the crop's frame;
``agreed`` keeps what most of them read (the largest group of values within
``AGREE_SPAN`` of the span of one member's) and says how many did
(``extra["views_agree"]``, a share of the framings).

The framings are what a camera or an roi drawn by hand changes without
changing the meter: the model's answer should not depend on them.
"""

from __future__ import annotations

import math
from dataclasses import replace
from statistics import median
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from edged.pipelines.gauge.angles import angle_of, point_at
from edged.pipelines.gauge.reading import GaugeReading, ValueRange

__all__ = [
    "AGREE_SPAN",
    "FRAMINGS",
    "Framing",
    "ValueRange",
    "agreed",
    "framed_options",
    "reframings",
    "value_range",
]

#: a framing moves the crop this share of its side each way (up, down, left, right) ...
SHIFT = 0.06
#: ... zooms in to these shares of its sides (centred) ...
ZOOMS = (0.95, 0.9)
#: ... and turns it by these degrees (clockwise positive, as the camera's roll)
TURNS_DEG = (-4.0, 4.0)
#: the framings of a crop, itself included: the crop, four shifts, the zooms, the turns
FRAMINGS = 5 + len(ZOOMS) + len(TURNS_DEG)
#: a crop with a side under this many pixels is not reframed (its framings would differ by
#: a pixel), and so never agreed on
MIN_SIDE = 8
#: two framings' values this share of the span apart (or less) read the same
AGREE_SPAN = 0.05


class Framing(NamedTuple):
    """One framing of a crop: the picture, its top-left corner in the crop's pixels (a
    turned framing keeps the crop's), and how far it turned the picture clockwise."""

    image: np.ndarray
    offset: Tuple[float, float]
    turn_deg: float = 0.0


def reframings(crop: np.ndarray) -> List[Framing]:
    """The crop itself first, then the same meter framed a little differently: shifted by
    ``SHIFT`` of its sides each way (cut on the other side), zoomed to ``ZOOMS``, turned by
    ``TURNS_DEG`` about its centre (the corners filled from the edges); the crop alone if a
    side is under ``MIN_SIDE`` px."""
    from edged.cvutil import import_cv2

    h, w = crop.shape[:2]
    out = [Framing(crop, (0.0, 0.0))]
    if min(h, w) < MIN_SIDE:
        return out
    cv2 = import_cv2()
    dx, dy = max(1, round(SHIFT * w)), max(1, round(SHIFT * h))
    out += [
        Framing(crop[:, dx:], (float(dx), 0.0)),
        Framing(crop[:, : w - dx], (0.0, 0.0)),
        Framing(crop[dy:, :], (0.0, float(dy))),
        Framing(crop[: h - dy, :], (0.0, 0.0)),
    ]
    for zoom in ZOOMS:
        zx, zy = round(w * (1.0 - zoom) / 2.0), round(h * (1.0 - zoom) / 2.0)
        out.append(Framing(crop[zy : h - zy, zx : w - zx], (float(zx), float(zy))))
    for turn in TURNS_DEG:
        # cv2 turns counter-clockwise for a positive angle
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), -turn, 1.0)
        turned = cv2.warpAffine(crop, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        out.append(Framing(turned, (0.0, 0.0), turn))
    return out


def framed_options(opts: Any, framing: Framing) -> Any:
    """``opts`` for reading ``framing``: a configured scale start turned with the picture
    (read unturned, a needle turned by 4 degrees on a 90-degree scale would read 4.4 % of
    the span off); a scale the model measures turns with the picture by itself."""
    if framing.turn_deg == 0.0 or getattr(opts, "start_angle", None) is None:
        return opts
    return replace(opts, start_angle=(opts.start_angle + framing.turn_deg) % 360.0)


def value_range(opts: Any) -> ValueRange:
    """The ``ValueRange`` of a reading with ``opts``: the table's values' where a table maps
    angles to values, else min to max; wrapping where the configured sweep is a full
    circle."""
    table = getattr(opts, "table", None)
    if table:
        values = [float(v) for _, v in table]
        low, high = min(values), max(values)
    else:
        low, high = sorted((float(opts.min_value), float(opts.max_value)))
    sweep = getattr(opts, "sweep", None)
    full_circle = sweep is not None and abs(sweep) >= 360.0 and high > low
    return ValueRange(high - low, low, high - low if full_circle else None)


def agreed(readings: Sequence[GaugeReading], values: ValueRange) -> GaugeReading:
    """One reading from the readings of one crop's framings, the crop's own first, all in
    the crop's frame (``unturned``).

    The largest group of values within ``AGREE_SPAN`` of the span of one member's (the
    tighter of two as large; the short way round on a full circle) tells the reading where
    it holds most of the ``FRAMINGS``: the group's median value, with the crop's own
    reading's geometry where that is in the group, else the member's nearest the median,
    and the crop's own quality and confidence either way (another framing's sureness is not
    the crop's). Without such a majority, the crop's own reading. ``extra["views_agree"]``:
    the group's share of the ``FRAMINGS``.

    Readings without a value, or ``out_of_range``, are in no group, and such a reading of
    the crop itself is returned as it is: no framing gives a crop a value it does not have."""
    own = readings[0]
    if not _usable(own):
        return own
    candidates = [(k, float(r.value)) for k, r in enumerate(readings) if _usable(r)]
    group = _largest_group(candidates, AGREE_SPAN * values.span, values)
    share = len(group) / max(len(readings), FRAMINGS)
    if share <= 0.5:  # no majority: nothing to tell the crop's own reading by
        return _with_share(own, share)
    middle = median(v for _, v in group)
    members = [k for k, _ in group]
    nearest = 0 if 0 in members else min(group, key=lambda kv: abs(kv[1] - middle))[0]
    source = readings[nearest]
    extra = dict(source.extra)
    if nearest != 0:
        for note in _WINDOW_NOTES:
            extra.pop(note, None)
    fraction = _median_fraction([readings[k] for k in members], values.period is not None)
    reading = replace(
        source,
        value=values.wrapped(middle),
        fraction=source.fraction if fraction is None else fraction,
        quality=own.quality,
        confidence=own.confidence,
        extra=extra,
    )
    return _with_share(reading, share)


#: where a search found the meter: the crop's own framing's alone (a pipeline reads that
#: window first next frame)
_WINDOW_NOTES = ("window", "window_remembered")


def _usable(reading: GaugeReading) -> bool:
    """Whether a reading has a value to agree on (an ``out_of_range`` one is never taken)."""
    return reading.value is not None and reading.quality in ("ok", "low_confidence")


def _largest_group(
    candidates: List[Tuple[int, float]], tolerance: float, values: ValueRange
) -> List[Tuple[int, float]]:
    """The values within ``tolerance`` of one candidate's, for the candidate with the most
    (of two as many, the one whose group spreads less); on a wrapping scale measured the
    short way round and given unwrapped about that candidate's."""
    best: Optional[Tuple[Tuple[int, float], List[Tuple[int, float]]]] = None
    for _, v in candidates:
        group = [(k, values.near(w, v)) for k, w in candidates]
        group = [(k, w) for k, w in group if abs(w - v) <= tolerance]
        rank = (len(group), -max(abs(w - v) for _, w in group))
        if best is None or rank > best[0]:
            best = (rank, group)
    assert best is not None
    return best[1]


def _median_fraction(readings: List[GaugeReading], wraps: bool) -> Optional[float]:
    """The median of the readings' fractions of the scale (the short way round on a full
    circle), None where one has none."""
    fractions = [r.fraction for r in readings]
    if any(f is None for f in fractions):
        return None
    unit = ValueRange(1.0, 0.0, 1.0 if wraps else None)
    about = float(fractions[0])  # type: ignore[arg-type]
    return unit.wrapped(median(unit.near(float(f), about) for f in fractions))  # type: ignore[arg-type]


def unturned(reading: GaugeReading, framing: Framing, about: Tuple[float, float]) -> GaugeReading:
    """A framing's reading in the crop's own frame: a turned framing's directions (the
    pointer's, the scale's start, which ``framed_options`` turned with the picture, and the
    measured zero and end) and keypoints turned back about ``about``, the crop's centre in
    frame pixels; the window its search read is the turned picture's, and dropped. Other
    framings' readings are the crop's already (their keypoints are in frame pixels)."""
    turn = framing.turn_deg
    if turn == 0.0:
        return reading
    keypoints = {name: _turned_point(p, about, -turn) for name, p in reading.keypoints.items()}
    extra = {k: v for k, v in reading.extra.items() if k not in _WINDOW_NOTES}
    for name in ("zero_angle", "end_angle"):
        if isinstance(extra.get(name), float):
            extra[name] = (extra[name] - turn) % 360.0
    return replace(
        reading,
        angle_deg=None if reading.angle_deg is None else (reading.angle_deg - turn) % 360.0,
        start_angle=None if reading.start_angle is None else (reading.start_angle - turn) % 360.0,
        keypoints=keypoints,
        extra=extra,
    )


def _turned_point(point: List[float], about: Tuple[float, float], turn_deg: float) -> List[float]:
    """``[x, y, score]`` turned clockwise by ``turn_deg`` about ``about``."""
    dx, dy = point[0] - about[0], point[1] - about[1]
    x, y = point_at(about[0], about[1], math.hypot(dx, dy), angle_of(dx, dy) + turn_deg)
    return [x, y, *point[2:]]


def _with_share(reading: GaugeReading, share: float) -> GaugeReading:
    """``reading``, its ``extra`` noting the share of framings that agree (in place: the
    reading is the one handed back)."""
    reading.extra["views_agree"] = round(share, 3)
    return reading
