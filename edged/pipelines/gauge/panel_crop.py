"""Panel meters as a fixed camera with a configured ``roi`` sees them: pointer-model crops.

A panel meter's pivot is usually hidden (below a black band, under a corner
cover), and the keypoint model, which must find the pivot to read the needle,
misplaces it on real photos. Where the meter's place is known, the pointer
model (``pointer_model``) reads the needle's direction from the whole crop
instead, and the pivot is never needed: with the configured ``start_angle`` and
``sweep`` the direction is the reading. This module draws such crops with the
keypoint renderer's panel meters (``synth``, renderer version 3): one meter
filling a picture of any shape (a user's ``roi`` is seldom square), with the
labels the pointer model learns, as directions in the picture:

* ``pointer_angle``: where the needle points (from its pivot to its tip);
* ``zero_angle``: where the scale's minimum sits, seen from the pivot;
* ``ccw``: whether the numbers run counter-clockwise (panel meters run clockwise;
  the trainer's mirror images make the other kind);
* ``end_angle``: where the scale's maximum sits, seen from the pivot (with
  ``zero_angle`` it gives the sweep, which a user who configures only min and max
  does not give).

The model sees every crop squashed to a square; the trainer's targets are the
directions in that square (``squashed``), as the reader's ``_unsquash`` undoes.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Tuple

import numpy as np

from edged.pipelines.gauge.angles import angle_of, direction
from edged.pipelines.gauge.synth import (
    GaugeLabel,
    GaugeSpec,
    random_placement,
    render_gauges,
    render_sample,
    sample_spec,
)

__all__ = [
    "PanelCropLabel",
    "render_loose_panel",
    "render_panel_crop",
    "render_round_window",
    "squashed",
]

#: the crop's short side (px): a meter in a CCTV frame to a photo of one (shrunk to this)
MIN_SIDE, MAX_SIDE = 64, 160
MAX_ASPECT = 1.45  # long side / short side of the crop (an roi drawn around a meter)
#: a loose-framed picture's short side (px): ``render_loose_panel``'s, for the bench
LOOSE_SIDES = (100, 320)


class PanelCropLabel(NamedTuple):
    """Ground truth of one crop, directions in the crop's own frame (degrees clockwise from
    12 o'clock)."""

    pointer_angle: float
    zero_angle: float
    ccw: bool
    end_angle: float
    label: GaugeLabel  # the keypoint renderer's label (pivot, tip, scale ends, value)


def render_panel_crop(
    seed: int, split: str = "train", clean: bool = False
) -> Tuple[np.ndarray, PanelCropLabel]:
    """One crop of one panel meter whose needle can be seen, a pure function of ``seed``.

    The meter fills the crop as in a photo of it (its pivot low, or low and to the right
    for a corner pivot), square on within a few degrees, with the renderer's degradations
    (none with ``clean``). A draw the renderer calls unreadable is drawn again from the same
    stream: a needle a glare or an occluder hid, or a pivot that fell outside the crop (so
    every pivot lies inside it, if often under a cover).
    """
    rng = np.random.default_rng(seed)
    return _readable_meter(rng, split, (MIN_SIDE, MAX_SIDE), _filling, clean)


def render_loose_panel(
    seed: int, split: str = "heldout", max_loose: float = 2.0
) -> Tuple[np.ndarray, PanelCropLabel]:
    """A panel meter framed loose, to measure the reader, not to train it: a crop as
    ``render_panel_crop`` draws it, up to ``max_loose`` times smaller than the picture and
    anywhere in it, with whatever the renderer draws around the meter (a loose ``roi``, a
    photo of a meter on its panel); ``LOOSE_SIDES`` px on its short side."""

    def anywhere(
        rng: np.random.Generator, spec: GaugeSpec, w: float, h: float
    ) -> Tuple[float, float, float]:
        loose = float(rng.uniform(1.0, max_loose))
        tw, th = w / loose, h / loose
        cx, cy, r = _filling(rng, spec, tw, th)
        return cx + float(rng.uniform(0, w - tw)), cy + float(rng.uniform(0, h - th)), r

    return _readable_meter(np.random.default_rng(seed), split, LOOSE_SIDES, anywhere)


def _readable_meter(
    rng: np.random.Generator,
    split: str,
    short_sides: Tuple[int, int],
    pivot: Callable[[np.random.Generator, GaugeSpec, float, float], Tuple[float, float, float]],
    clean: bool = False,
) -> Tuple[np.ndarray, PanelCropLabel]:
    """A panel meter of ``split``'s styles in a picture ``short_sides`` (least, most) px on
    its short side, its pivot and face radius from ``pivot(rng, spec, w, h)``, square on
    within a few degrees; drawn again from the same stream until its needle can be seen."""
    while True:
        spec = _panel_spec(rng, split)
        short = int(rng.integers(short_sides[0], short_sides[1] + 1))
        aspect = _aspect(rng)
        w, h = (round(short * aspect), short) if aspect >= 1 else (short, round(short / aspect))
        place = random_placement(rng, *pivot(rng, spec, w, h))
        place.rotation = float(np.clip(place.rotation, -8, 8))
        place.tilt = min(place.tilt, 20.0)
        image, labels = render_gauges(rng, w, h, [spec], [place], clean=clean)
        label = labels[0]
        if label.readable:
            return image, PanelCropLabel(
                _direction(label, "tip"),
                _direction(label, "start"),
                label.sweep < 0,
                _direction(label, "end"),
                label,
            )


def _aspect(rng: np.random.Generator) -> float:
    """A picture's width / height, up to ``MAX_ASPECT`` either way (an roi is seldom square)."""
    return float(np.exp(rng.uniform(-np.log(MAX_ASPECT), np.log(MAX_ASPECT))))


def render_round_window(seed: int, split: str = "train") -> Tuple[np.ndarray, GaugeSpec]:
    """A window of a round dial's crop and the dial's spec, a pure function of ``seed``: what
    the panel model must not be sure of (``pointer_train --negatives``). ``reader: auto``
    asks the panel model about dials the keypoints read unsure, round ones too, and a
    window of a round dial, its scale arc cut by the window's edges, can look like a panel
    meter's scale: the model, which learnt only panel meters, was sure of some and wrong
    (bench/results/gauge.md, session 13). The window's long side is 0.34-1 of the crop's,
    its short side up to ``MAX_ASPECT`` times shorter, anywhere in the crop."""
    rng = np.random.default_rng(seed)
    for _ in range(200):
        size = int(rng.integers(MIN_SIDE, 2 * MAX_SIDE + 1))
        image, labels = render_sample(int(rng.integers(2**62)), size, split, mode="crop")
        spec = labels[-1].spec
        if spec is not None and not spec.panel:
            break
    else:
        raise RuntimeError(f"no round dial in 200 {split} crops")
    share = float(rng.uniform(0.34, 1.0))
    aspect = _aspect(rng)
    w = max(8, min(size, round(size * share * min(1.0, aspect))))
    h = max(8, min(size, round(size * share / max(1.0, aspect))))
    x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
    return np.ascontiguousarray(image[y : y + h, x : x + w]), spec


def squashed(angle: float, width: int, height: int, side: int) -> float:
    """A direction in a ``width`` x ``height`` picture, in the same picture resized to a
    ``side`` px square (what the model sees)."""
    dx, dy = direction(angle)
    return angle_of(dx * side / width, dy * side / height)


def _panel_spec(rng: np.random.Generator, split: str) -> GaugeSpec:
    """A panel meter's spec of ``split``'s styles (a quarter of the renderer's non-water dials
    are panel meters: drawn again until one is)."""
    for _ in range(200):
        spec = sample_spec(rng, split)
        if spec.panel:
            return spec
    raise RuntimeError(f"no panel meter in 200 {split} specs")


def _filling(
    rng: np.random.Generator, spec: GaugeSpec, w: float, h: float
) -> Tuple[float, float, float]:
    """Pivot and face radius of a meter that fills a ``w`` x ``h`` crop: the scale and its
    numbers in the picture, the pivot low (and to the right for a corner pivot), up to a
    little beyond the edge (such draws are drawn again: see ``render_panel_crop``)."""
    short = min(w, h)
    r = short * float(rng.uniform(0.5, 0.85))
    reach = r * (spec.tick_radius + 0.25)
    cy = float(rng.uniform(min(reach, h - 4), h + 0.1 * r))
    if spec.layout == "panel_corner":
        cx = float(rng.uniform(min(reach, w - 4), w + 0.05 * r))
    else:
        cx = w / 2 + float(rng.normal(0, w * 0.05))
    return cx, cy, r


def _direction(label: GaugeLabel, keypoint: str) -> float:
    """Where ``keypoint`` lies seen from the pivot, in the picture."""
    cx, cy, _ = label.keypoints["center"]
    x, y, _ = label.keypoints[keypoint]
    return angle_of(x - cx, y - cy)
