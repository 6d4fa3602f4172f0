"""Panel-meter crops for the pointer model: deterministic, of any shape, labels in the crop's
own pixels (and in the squashed square the model sees), held-out styles kept apart."""

from __future__ import annotations

import numpy as np
import pytest

from edged.pipelines.gauge.angles import angle_of, point_at
from edged.pipelines.gauge.panel_crop import (
    MAX_ASPECT,
    MAX_SIDE,
    MIN_SIDE,
    render_panel_crop,
    squashed,
)
from edged.pipelines.gauge.pointer_train import render_panel_batch
from edged.pipelines.gauge.synth import is_heldout


def test_same_seed_same_pixels_and_labels():
    a, la = render_panel_crop(21)
    b, lb = render_panel_crop(21)
    assert np.array_equal(a, b) and la[:4] == lb[:4] and la.label.value == lb.label.value
    c, _ = render_panel_crop(22)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_crops_are_of_many_shapes_and_sizes():
    shapes = [render_panel_crop(s)[0].shape for s in range(40)]
    shorts = [min(h, w) for h, w, _ in shapes]
    aspects = [max(h, w) / min(h, w) for h, w, _ in shapes]
    assert min(shorts) >= MIN_SIDE and max(shorts) <= MAX_SIDE and len(set(shorts)) > 20
    assert max(aspects) <= MAX_ASPECT + 0.02 and max(aspects) > 1.2
    assert any(h > w for h, w, _ in shapes) and any(w > h for h, w, _ in shapes)


@pytest.mark.parametrize("seed", range(20))
def test_labels_are_directions_from_the_pivot_and_agree_with_the_value(seed):
    _, lab = render_panel_crop(seed, clean=True)
    k = lab.label.keypoints
    (cx, cy, _), (tx, ty, _), (sx, sy, _) = k["center"], k["tip"], k["start"]
    assert lab.pointer_angle == pytest.approx(angle_of(tx - cx, ty - cy))
    assert lab.zero_angle == pytest.approx(angle_of(sx - cx, sy - cy))
    # the scale's two ends seen from the pivot span its sweep (bent a little by the camera)
    assert ((lab.end_angle - lab.zero_angle) % 360.0) == pytest.approx(lab.label.sweep, abs=8)
    assert lab.label.spec.panel and lab.label.readable and not lab.ccw
    # the value is where the needle points along the scale (a camera up to 20 degrees
    # oblique bends the two directions a little: within 8 % of the span)
    turn = (lab.pointer_angle - lab.zero_angle + 30.0) % 360.0 - 30.0
    fraction = (lab.label.value - lab.label.min_value) / (lab.label.max_value - lab.label.min_value)
    assert turn / lab.label.sweep == pytest.approx(fraction, abs=0.08)


@pytest.mark.parametrize("seed", range(20))
def test_the_needle_lies_along_the_labelled_axis_in_the_pixels(seed):
    """On a clean crop the line from the pivot along the label is dark (or red) from the cover
    to the tip, and a line 25 degrees beside it mostly is not."""
    image, lab = render_panel_crop(seed, clean=True)
    k = lab.label.keypoints
    cx, cy, _ = k["center"]
    reach = float(np.hypot(k["tip"][0] - cx, k["tip"][1] - cy))
    face = np.median(image.reshape(-1, 3), axis=0)

    def inked(angle):
        hits = []
        for f in np.linspace(0.55, 0.9, 12):
            x, y = point_at(cx, cy, f * reach, angle)
            xi, yi = int(round(x)), int(round(y))
            if not (1 <= xi < image.shape[1] - 1 and 1 <= yi < image.shape[0] - 1):
                continue
            patch = image[yi - 1 : yi + 2, xi - 1 : xi + 2].reshape(-1, 3).astype(float)
            hits.append(bool((face - patch).max(axis=1).max() > 35))
        return np.mean(hits) if hits else None

    on = inked(lab.pointer_angle)
    assert on is not None and on >= 0.75
    beside = [inked(lab.pointer_angle + d) for d in (-25.0, 25.0)]
    assert min(b for b in beside if b is not None) < on


def test_held_out_styles_are_drawn_only_for_held_out_crops():
    assert not any(is_heldout(render_panel_crop(s)[1].label.spec.style_key) for s in range(30))
    assert all(
        is_heldout(render_panel_crop(s, "heldout")[1].label.spec.style_key) for s in range(10)
    )


def test_squashed_directions_follow_the_pixels():
    assert squashed(45.0, 100, 100, 64) == pytest.approx(45.0)
    # a 200 x 100 crop squashed to a square halves x: 45 degrees becomes atan(0.5) from up
    assert squashed(45.0, 200, 100, 64) == pytest.approx(np.degrees(np.arctan(0.5)))
    assert squashed(0.0, 200, 100, 64) == pytest.approx(0.0)
    assert squashed(90.0, 60, 130, 64) == pytest.approx(90.0)


def test_training_batches_depend_only_on_seed_and_batch_index():
    x1, t1 = render_panel_batch(2, 7, 3, 64)
    x2, t2 = render_panel_batch(2, 7, 3, 64)
    assert x1.shape == (3, 64, 64, 3) and t1.shape == (3, 4)
    assert np.array_equal(x1, x2) and np.array_equal(t1, t2)
    assert not np.array_equal(render_panel_batch(2, 8, 3, 64)[0], x1)
    with pytest.raises(ValueError, match="64 px"):
        render_panel_batch(2, 7, 3, 32)
