"""The pointer network: a tight crop of one dial in, the pointer's direction out.

For fixed cameras with a configured region of interest (water and gas meter
sub-dials above all) the dial's place is known, and what is left to measure is
where its pointer points. A broad paddle has no thin ridge and no sharp tip, so
instead of keypoints this small classifier looks at the whole crop (resized to
``INPUT`` px) and gives, as ``BINS`` angle classes each:

* ``pointer``: the direction the pointer's axis points, in the picture;
* ``zero``: the direction of the scale's zero (the "0" of a 0-9 ring), in the
  picture, which corrects a camera that is a little rotated;
* ``ccw``: a logit that the numbers run counter-clockwise;
* ``end`` (the panel model only, ``build_pointer_model(end=True)``): the direction of
  the scale's maximum, so that a panel meter's sweep comes from the picture when
  only its min and max are configured.

Angles are decoded as the circular mean of the probability mass around the
strongest class (sub-class precision); the mass within ``CONFIDENT_BINS`` of it
is the confidence, so a crop where the model hesitates between two directions
reads as low confidence. The network takes BGR float32 0..255 (NCHW) and
normalises inside. PyTorch is imported lazily (training and export only).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Tuple

import numpy as np

from edged.pipelines.display.decode import softmax

__all__ = [
    "BINS",
    "CCW",
    "END",
    "HEADS",
    "INPUT",
    "DirectionEstimate",
    "build_pointer_model",
    "decode_arc",
    "decode_bins",
    "model_input",
]

#: the network's outputs, in order (``build_pointer_model``); the panel model adds ``END``
HEADS = ("pointer", "zero", "ccw")
END = "end"
CCW = HEADS.index("ccw")  # the one output (and training target) that is a logit, not angles
BINS = 72  # 5-degree classes
INPUT = 64  # crop side the network sees
CONFIDENT_BINS = 3  # mass within +-3 classes (+-15 degrees) of the peak is the confidence
MEAN_BINS = 2  # the angle is the circular mean of +-2 classes around the peak


class DirectionEstimate(NamedTuple):
    angle: float  # degrees clockwise from 12 o'clock, in the crop
    confidence: float  # probability mass near the peak, 0..1


def model_input(crop: np.ndarray) -> np.ndarray:
    """A crop (H,W BGR, grey or BGRA) as the network sees it: ``INPUT`` px square, 3,H,W
    float32 BGR 0..255. Training and reading both go through here."""
    from edged.cvutil import import_cv2

    cv2 = import_cv2()
    if crop.ndim == 3 and crop.shape[2] == 1:
        crop = crop[:, :, 0]
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    elif crop.shape[2] == 4:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGRA2BGR)
    interp = cv2.INTER_AREA if max(crop.shape[:2]) > INPUT else cv2.INTER_LINEAR
    small = cv2.resize(crop, (INPUT, INPUT), interpolation=interp)
    return small.transpose(2, 0, 1).astype(np.float32)


def decode_bins(logits: np.ndarray) -> DirectionEstimate:
    """One head's ``BINS`` logits -> direction and confidence."""
    p = softmax(logits)
    k = int(np.argmax(p))
    return DirectionEstimate(_mean_near(p, k), _mass_near(p, k))


def decode_arc(
    zero_logits: np.ndarray, end_logits: np.ndarray, min_sweep: float, max_sweep: float
) -> Tuple[DirectionEstimate, DirectionEstimate]:
    """The panel model's ``zero`` and ``end`` logits -> the scale's two ends: the pair of
    classes that is likeliest with the end ``min_sweep`` to less than ``max_sweep`` degrees
    clockwise of the zero (in the model's square). A model unsure which end is which (numbers
    too small to read) puts mass at both ends in both heads; the clockwise arc under 180
    degrees of a panel meter tells them apart. Each end is as sure as twice the two heads'
    mean mass near it (capped at 1): both ends found as the two peaks, whichever head put
    them there, is sure."""
    pz, pe = softmax(zero_logits), softmax(end_logits)
    n = len(pz)
    width = 360.0 / n
    offsets = np.arange(int(math.ceil(min_sweep / width)), int(math.ceil(max_sweep / width)))
    ends = (np.arange(n)[:, None] + offsets[None, :]) % n
    a, j = np.unravel_index(int(np.argmax(pz[:, None] * pe[ends])), ends.shape)
    b = int(ends[a, j])
    both = (pz + pe) / 2.0
    return (
        DirectionEstimate(_mean_near(pz, int(a)), min(1.0, 2.0 * _mass_near(both, int(a)))),
        DirectionEstimate(_mean_near(pe, b), min(1.0, 2.0 * _mass_near(both, b))),
    )


def _mean_near(p: np.ndarray, k: int) -> float:
    """The circular mean of class probabilities ``p`` within ``MEAN_BINS`` of class ``k``
    (sub-class precision), degrees."""
    n = len(p)
    near = [(k + d) % n for d in range(-MEAN_BINS, MEAN_BINS + 1)]
    ang = np.radians((np.array(near) + 0.5) * 360.0 / n)
    w = p[near]
    return math.degrees(math.atan2(float(w @ np.sin(ang)), float(w @ np.cos(ang)))) % 360.0


def _mass_near(p: np.ndarray, k: int) -> float:
    """The probability within ``CONFIDENT_BINS`` of class ``k``."""
    return float(sum(p[(k + d) % len(p)] for d in range(-CONFIDENT_BINS, CONFIDENT_BINS + 1)))


def build_pointer_model(width: int = 24, end: bool = False) -> Any:
    """A fresh PointerNet (~40 M multiply-adds at 64x64 with ``width`` 24), with an ``end``
    head after the other three where ``end`` (the sub-dial model has none: a full circle's
    end is its zero)."""
    import torch
    from torch import nn

    def cbr(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    class Residual(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                cbr(c, c), nn.Conv2d(c, c, 3, 1, padding=1, bias=False), nn.BatchNorm2d(c)
            )

        def forward(self, x: Any) -> Any:
            return torch.relu(x + self.body(x))

    w = width

    class PointerNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.width = w
            self.features = nn.Sequential(
                cbr(3, w, 2),  # 32
                Residual(w),
                cbr(w, 2 * w, 2),  # 16
                Residual(2 * w),
                cbr(2 * w, 4 * w, 2),  # 8
                Residual(4 * w),
                cbr(4 * w, 4 * w, 2),  # 4
            )
            # flattened, not pooled: where the pointer lies in the crop is the answer
            self.fc = nn.Sequential(
                nn.Flatten(), nn.Linear(4 * w * 16, 256), nn.ReLU(inplace=True), nn.Dropout(0.1)
            )
            self.pointer = nn.Linear(256, BINS)
            self.zero = nn.Linear(256, BINS)
            self.ccw = nn.Linear(256, 1)
            self.end = nn.Linear(256, BINS) if end else None

        def forward(self, x: Any) -> Any:
            x = (x - 127.5) * (1.0 / 64.0)
            h = self.fc(self.features(x))
            if self.end is None:
                return self.pointer(h), self.zero(h), self.ccw(h)
            return self.pointer(h), self.zero(h), self.ccw(h), self.end(h)

    return PointerNet()
