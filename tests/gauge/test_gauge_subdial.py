"""Sub-dial renderer: deterministic, labels in the crop's own pixels, held-out styles, and the
training augmentation turns labels with the pixels."""

from __future__ import annotations

import numpy as np
import pytest

from edged.pipelines.gauge.angles import angle_of, point_at
from edged.pipelines.gauge.pointer_train import dihedral, render_pointer_batch
from edged.pipelines.gauge.subdial_synth import (
    is_heldout,
    render_subdial,
    sample_subdial_spec,
)


def test_same_seed_same_pixels_and_labels():
    a, la = render_subdial(11)
    b, lb = render_subdial(11)
    assert np.array_equal(a, b)
    assert (la.pointer_angle, la.zero_angle, la.value, la.ccw) == (
        lb.pointer_angle,
        lb.zero_angle,
        lb.value,
        lb.ccw,
    )
    c, _ = render_subdial(12)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_crop_sizes_are_those_of_fixed_cameras():
    sizes = {render_subdial(s)[0].shape[0] for s in range(40)}
    assert min(sizes) >= 56 and max(sizes) <= 136 and len(sizes) > 10
    assert render_subdial(3, size=90)[0].shape == (90, 90, 3)


@pytest.mark.parametrize("seed", range(25))
def test_pointer_axis_passes_through_the_labelled_tip(seed):
    """In the pixels: the pointer's colour lies along the labelled axis up to near the
    labelled tip (solid pointers, no camera look), and the value agrees with the angles."""
    image, label = render_subdial(seed, size=128, strength=0.0)
    cx, cy = label.center
    tx, ty = label.tip
    assert angle_of(tx - cx, ty - cy) == pytest.approx(label.pointer_angle, abs=0.5)
    want = np.array(label.spec.pointer_color)
    for f in (0.35, 0.6, 0.85) if label.spec.pointer != "hollow" else ():
        x, y = cx + f * (tx - cx), cy + f * (ty - cy)
        if 1 <= x < 126 and 1 <= y < 126:
            got = _colour_at(image, x, y)
            lighter = float(np.mean(got - want))  # the highlight stripe is the same, lighter
            assert -25 <= lighter <= 75 and np.abs(got - want - lighter).max() <= 30, (f, got)
    # the value is where the pointer points, read from the zero in the scale's direction
    # (within what a camera up to 12 % oblique bends two directions: <= 7 degrees, 0.2 digit)
    turn = (label.pointer_angle - label.zero_angle) % 360.0
    if label.ccw:
        turn = (360.0 - turn) % 360.0
    assert min(abs(turn / 36.0 - label.value), 10 - abs(turn / 36.0 - label.value)) < 0.2


def _colour_at(image, x, y):
    xi, yi = int(round(x)), int(round(y))
    return image[yi, xi].astype(int)


@pytest.mark.parametrize("seed", range(30))
def test_crop_jitter_keeps_the_labels_in_the_crop_pixels(seed):
    """Off-centre, rotated, squashed crops: the pointer's colour is where the label says the
    pointer is, and the face (not the pointer) is on the opposite side of the pivot."""
    image, label = render_subdial(seed, size=128, strength=0.0)
    spec = label.spec
    if spec.pointer == "hollow":
        pytest.skip("a hollow pointer has no colour along its axis")
    cx, cy = label.center
    reach = 0.5 * spec.length * label.radius
    x, y = point_at(cx, cy, reach, label.pointer_angle)
    if not (2 <= x < 126 and 2 <= y < 126):
        pytest.skip("the pointer's middle lies outside this crop")
    got = _colour_at(image, x, y)
    want = np.array(spec.pointer_color)
    # the pointer's colour, or its highlight stripe (the same colour, lighter)
    lighter = float(np.mean(got - want))
    assert -20 <= lighter <= 75 and np.abs(got - want - lighter).max() <= 25, (got, want)
    # beyond the tip, past where any tail reaches, on the far side: the face, not the pointer
    ox, oy = point_at(cx, cy, 0.55 * label.radius, label.pointer_angle + 180.0)
    unlike_ink = np.abs(want - np.array(spec.ink)).max() > 60  # a dark hand looks like a digit
    if 2 <= ox < 126 and 2 <= oy < 126 and spec.hub_width < 0.5 and unlike_ink:
        far = _colour_at(image, ox, oy)
        assert np.abs(far - want).max() > 40 or np.abs(far - np.array(spec.face_color)).max() < 60


def test_held_out_styles_are_never_drawn_for_training():
    rng = np.random.default_rng(0)
    train = [sample_subdial_spec(rng, "train").style_key for _ in range(300)]
    held = [sample_subdial_spec(rng, "heldout").style_key for _ in range(100)]
    assert not any(is_heldout(k) for k in train)
    assert all(is_heldout(k) for k in held)


def test_every_pointer_family_and_both_directions_are_drawn():
    labels = [render_subdial(s)[1] for s in range(120)]
    assert {lab.spec.pointer for lab in labels} == {"paddle", "teardrop", "club", "hand", "hollow"}
    assert {lab.ccw for lab in labels} == {True, False}


@pytest.mark.parametrize(("k", "mirror"), [(k, m) for k in range(4) for m in (False, True)])
def test_rotations_and_mirrors_turn_the_labels_with_the_pixels(k, mirror):
    image, label = render_subdial(5, size=100)
    s = image.shape[0]

    def moved(p):
        x, y = p
        for _ in range(k):  # a quarter turn clockwise
            x, y = s - 1 - y, x
        return (s - 1 - x, y) if mirror else (x, y)

    target = np.array([label.pointer_angle, label.zero_angle, float(label.ccw)], np.float32)
    out, t = dihedral(image, target, k, mirror)
    (cx, cy), (tx, ty) = moved(label.center), moved(label.tip)
    assert float(t[0]) == pytest.approx(angle_of(tx - cx, ty - cy), abs=0.5)
    assert bool(t[2]) == (label.ccw != mirror)
    marker = np.zeros_like(image)
    marker[10, 30] = 255
    moved_marker, _ = dihedral(marker, target, k, mirror)
    assert tuple(np.argwhere(moved_marker[..., 0])[0][::-1]) == moved((30, 10))
    assert out.shape == image.shape


def test_training_batches_depend_only_on_seed_and_batch_index():
    x1, t1 = render_pointer_batch(2, 7, 3, 64)
    x2, t2 = render_pointer_batch(2, 7, 3, 64)
    assert x1.shape == (3, 64, 64, 3) and t1.shape == (3, 3)
    assert np.array_equal(x1, x2) and np.array_equal(t1, t2)
    assert not np.array_equal(render_pointer_batch(2, 8, 3, 64)[0], x1)
