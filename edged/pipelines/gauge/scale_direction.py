"""Which way a dial's numbers run, read from its scale unrolled into a strip.

Without a configured scale the keypoint model places the scale's two ends, but it
learnt from dials that are mostly clockwise: on a counter-clockwise dial it puts
``start`` on the maximum (held-out renders: 76 of 97 such dials) and the reading
comes out mirrored. Which end is the minimum is printed on the dial. This small
network looks at the scale unrolled along its arc, from the arc's clockwise-first
end to its last (``scale_strip``), and gives a logit that the numbers larger in
magnitude sit at the first end (``larger_first``). It answers that, not "which way
do the values run", because a minus sign is a few pixels: on a vacuum scale
(-25..0) the numbers shrink towards the maximum, and a network asked for the
direction learnt to read such clockwise dials as counter-clockwise (11 of 685
validation dials, all of them negative scales). The gauge's min and max, which the
reader has, turn the answer into a direction (``ccw_from_larger_first``); a scale
as large at both ends (-50..50) gets no say from the network. The reader turns a
keypoint scale round only where the network is sure either way (``orient_scale``);
a configured ``start_angle``/``sweep`` always wins, and full-circle dials (no ends)
are left to the keypoints.

The network takes the strip as BGR float32 0..255 (N, 3, ``STRIP_H``, ``STRIP_W``) and
normalises each strip inside (brightness and contrast do not matter). PyTorch is imported
lazily (training and export only).
"""

from __future__ import annotations

import math
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from edged.pipelines.gauge.angles import angle_of, wrap360

__all__ = [
    "CCW_SURE",
    "STRIP_H",
    "STRIP_W",
    "TELLS_APART",
    "ScaleArc",
    "arc_from_points",
    "build_direction_model",
    "ccw_from_larger_first",
    "first_end",
    "larger_end",
    "larger_first_probabilities",
    "orient_scale",
    "scale_strip",
]

STRIP_H = 48  # px across the scale: radii OUTER..INNER times the scale's radius
STRIP_W = 256  # px along it, end margins included
OUTER, INNER = 1.25, 0.45  # numerals sit inside the ticks on round dials, outside on panels
#: the strip reaches this share of the arc, plus MARGIN_DEG, past each end: the end's
#: numeral is centred on its tick and half of it lies beyond
MARGIN_SHARE, MARGIN_DEG = 0.1, 8.0
#: the network's probability that a scale turns (or stays) this way, at least; below it the
#: keypoints' direction stands. Chosen on validation renders (training styles, seeds outside
#: the bench's), see weights/README.gauge-direction.md
CCW_SURE = 0.95
#: the reader asks the network only where one end's number is this many times the other's:
#: 6000 and 6100 look alike at a glance (on validation renders such offset scales made most of
#: the network's sure mistakes)
TELLS_APART = 1.5


class ScaleArc(NamedTuple):
    """A scale's arc as the keypoints place it, in the dial's perspective-corrected frame."""

    center: Tuple[float, float]  # the pivot, picture pixels
    #: 2x2 map from the corrected frame back to picture offsets (the circle transform's inverse)
    to_picture: np.ndarray
    first: float  # degrees, clockwise from 12 o'clock: the arc's clockwise-first end
    extent: float  # degrees clockwise from ``first`` to the other end, < 360
    radius: float  # the ends' distance from the pivot (corrected frame), picture pixels


def scale_strip(image: np.ndarray, arc: ScaleArc) -> np.ndarray:
    """The band around ``arc`` unrolled: (3, STRIP_H, STRIP_W) float32 BGR 0..255, the arc's
    clockwise-first end on the left, the outer radius at the top. Training and reading both
    cut strips here."""
    from edged.cvutil import import_cv2

    cv2 = import_cv2()
    if image.ndim == 2 or image.shape[2] == 1:
        image = cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    margin = MARGIN_SHARE * arc.extent + MARGIN_DEG
    theta = np.radians(
        arc.first - margin + np.linspace(0.0, 1.0, STRIP_W) * (arc.extent + 2 * margin)
    )
    radii = arc.radius * (OUTER - (OUTER - INNER) * np.linspace(0.0, 1.0, STRIP_H))
    u = radii[:, None] * np.sin(theta)[None, :]  # corrected frame, y down
    v = -radii[:, None] * np.cos(theta)[None, :]
    m = np.asarray(arc.to_picture, np.float64)
    x = arc.center[0] + m[0, 0] * u + m[0, 1] * v
    y = arc.center[1] + m[1, 0] * u + m[1, 1] * v
    # only the band's bounding box is sampled (and blurred): a phone photo is 12 Mpx
    step = arc.radius * (OUTER - INNER) / (STRIP_H - 1)
    pad = int(math.ceil(2.0 * step)) + 2
    h, w = image.shape[:2]
    x0 = int(np.clip(np.floor(x.min()) - pad, 0, w - 1))
    y0 = int(np.clip(np.floor(y.min()) - pad, 0, h - 1))
    x1 = int(np.clip(np.ceil(x.max()) + pad + 1, x0 + 1, w))
    y1 = int(np.clip(np.ceil(y.max()) + pad + 1, y0 + 1, h))
    region = image[y0:y1, x0:x1]
    if step > 1.5:  # a strip far smaller than its band would alias: blur to its scale
        region = cv2.GaussianBlur(region, (0, 0), 0.5 * step)
    strip = cv2.remap(
        region,
        (x - x0).astype(np.float32),
        (y - y0).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return strip.transpose(2, 0, 1).astype(np.float32)


def larger_end(min_value: float, max_value: float, ratio: float = 1.0) -> Optional[str]:
    """Which end of a scale carries the number larger in magnitude, by more than ``ratio``
    times: ``max`` (0..100, -1..3), ``min`` (-25..0, a vacuum scale) or None (-50..50; with
    ``ratio`` 1.5, also 6000..6100)."""
    small, large = sorted((abs(min_value), abs(max_value)))
    if large <= small * ratio:
        return None
    return "max" if abs(max_value) > abs(min_value) else "min"


def ccw_from_larger_first(
    larger_first: float, min_value: float, max_value: float
) -> Optional[float]:
    """The probability that the scale runs counter-clockwise, from the network's that the
    larger numbers sit at the arc's clockwise-first end and the gauge's min/max; None where
    the ends' numbers are not clearly of different size (``TELLS_APART``)."""
    end = larger_end(min_value, max_value, TELLS_APART)
    if end is None:
        return None
    return larger_first if end == "max" else 1.0 - larger_first


def first_end(start_angle: float, sweep: float) -> float:
    """Where a scale's arc begins going clockwise: its start, or its end if it runs
    counter-clockwise."""
    return start_angle if sweep > 0 else wrap360(start_angle + sweep)


def orient_scale(start_angle: float, sweep: float, ccw: float) -> Tuple[float, float]:
    """``(start_angle, sweep)`` turned to the direction the network is sure of (``ccw``: its
    probability that the numbers run counter-clockwise along the arc), else unchanged."""
    if abs(sweep) >= 360.0:
        return start_angle, sweep
    extent = abs(sweep)
    first = first_end(start_angle, sweep)
    if ccw >= CCW_SURE:
        return wrap360(first + extent), -extent
    if ccw <= 1.0 - CCW_SURE:
        return first, extent
    return start_angle, sweep


def larger_first_probabilities(
    model: Any, image: np.ndarray, arcs: Sequence[ScaleArc]
) -> List[float]:
    """The network's probability for each arc that its larger numbers sit at its
    clockwise-first end."""
    if not arcs:
        return []
    strips = np.stack([scale_strip(image, arc) for arc in arcs])
    (logits,) = model(strips)
    z = np.clip(np.asarray(logits, np.float64).reshape(-1), -50.0, 50.0)
    return [float(p) for p in 1.0 / (1.0 + np.exp(-z))]


def build_direction_model(width: int = 16) -> Any:
    """A fresh direction network (0.08 GFLOPs, multiply-adds x 2, per strip at ``width`` 16;
    0.13 M parameters)."""
    from torch import nn

    def cbr(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )

    w = width
    cells = STRIP_W // 16

    class DirectionNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.width = w
            self.features = nn.Sequential(
                cbr(3, w), cbr(w, 2 * w), cbr(2 * w, 4 * w), cbr(4 * w, 4 * w)
            )
            # averaged across the band, kept along it: which end shows what is the answer
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Dropout(0.2),
                nn.Linear(4 * w * cells, 64),
                nn.ReLU(inplace=True),
                nn.Linear(64, 1),
            )

        def forward(self, x: Any) -> Any:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            std = ((x - mean) ** 2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
            x = (x - mean) / (std + 1.0)
            return (self.head(self.features(x).mean(dim=2)),)  # one output, ``larger_first``

    return DirectionNet()


def arc_from_points(
    center: Tuple[float, float],
    first: Tuple[float, float],
    last: Tuple[float, float],
    to_picture: Optional[np.ndarray] = None,
) -> ScaleArc:
    """The arc clockwise from ``first`` to ``last`` about ``center`` (picture pixels), in the
    frame ``to_picture`` maps back to the picture (square on when None)."""
    m = np.eye(2) if to_picture is None else np.asarray(to_picture, np.float64)
    inv = np.linalg.inv(m)
    f = inv @ np.array([first[0] - center[0], first[1] - center[1]])
    g = inv @ np.array([last[0] - center[0], last[1] - center[1]])
    a_first, a_last = angle_of(float(f[0]), float(f[1])), angle_of(float(g[0]), float(g[1]))
    radius = 0.5 * (math.hypot(float(f[0]), float(f[1])) + math.hypot(float(g[0]), float(g[1])))
    return ScaleArc((center[0], center[1]), m, a_first, wrap360(a_last - a_first), radius)
