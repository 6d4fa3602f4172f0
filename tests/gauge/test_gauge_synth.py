"""The renderer: deterministic, and its labels agree with what it draws."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edged.pipelines.gauge.angles import angle_of
from edged.pipelines.gauge.reading import Scale
from edged.pipelines.gauge.synth import (
    GaugeSpec,
    Placement,
    fraction_to_angle,
    is_heldout,
    render_gauges,
    render_sample,
    sample_spec,
)

MAGENTA = (255, 0, 255)


def test_same_seed_same_pixels_and_labels():
    for seed in (3, 41):
        a, la = render_sample(seed, 128)
        b, lb = render_sample(seed, 128)
        assert np.array_equal(a, b)
        assert [x.as_dict() for x in la] == [x.as_dict() for x in lb]
    c, _ = render_sample(4, 128)
    assert not np.array_equal(a, c)


def test_style_split_keeps_heldout_styles_out_of_training():
    rng = np.random.default_rng(0)
    train = [sample_spec(rng, "train").style_key for _ in range(200)]
    held = [sample_spec(rng, "heldout").style_key for _ in range(50)]
    assert not any(is_heldout(k) for k in train)
    assert all(is_heldout(k) for k in held)


def _spec(start, sweep, fraction, **kw):
    lo, hi = kw.pop("lo", 0.0), kw.pop("hi", 10.0)
    return GaugeSpec(
        start_angle=start,
        sweep=sweep,
        min_value=lo,
        max_value=hi,
        value=lo + (hi - lo) * fraction,
        face="white",
        bezel="none",
        needle_shape="line",
        needle_color=MAGENTA,
        needle_width=0.05,
        numerals=False,
        zones=0,
        tail=0.0,
        hub=0.05,
        seed=2,
        **kw,
    )


@pytest.mark.parametrize(
    ("start", "sweep", "fraction"),
    [
        (225, 270, 0.1),
        (225, 270, 0.6),
        (135, -270, 0.3),
        (0, 360, 0.97),
        (315, 90, 0.4),
        (40, -120, 0.8),
    ],
)
@pytest.mark.parametrize("tilt", [0.0, 35.0])
def test_needle_passes_through_the_labelled_tip(start, sweep, fraction, tilt):
    spec = _spec(start, sweep, fraction)
    place = Placement(
        cx=100, cy=96, radius=70, rotation=0.0, tilt=tilt, tilt_axis=60, depth=8, parallax=0.0
    )
    image, (label,) = render_gauges(np.random.default_rng(0), 200, 200, [spec], [place], clean=True)
    cx, cy, _ = label.keypoints["center"]
    tx, ty, tv = label.keypoints["tip"]
    assert tv == 1 and label.readable
    # the needle's colour all along centre -> tip (just short of the pointed end)
    for t in np.linspace(0.2, 0.95, 12):
        x, y = cx + (tx - cx) * t, cy + (ty - cy) * t
        b, g, r = image[int(round(y)), int(round(x))].astype(int)
        assert b > 150 and r > 150 and g < 110, (t, (b, g, r))
    # and not beyond the tip
    x, y = cx + (tx - cx) * 1.15, cy + (ty - cy) * 1.15
    b, g, r = image[int(round(y)), int(round(x))].astype(int)
    assert not (b > 150 and r > 150 and g < 110)
    if tilt == 0.0:
        # value <-> angle: the drawn needle's angle reads back the labelled value
        angle = angle_of(tx - cx, ty - cy)
        assert angle == pytest.approx(fraction_to_angle(start, sweep, fraction), abs=0.01)
        value, ok = Scale(start, sweep, 0.0, 10.0).value_at(angle)
        assert ok
        assert value == pytest.approx(label.value, abs=1e-3)


def test_scale_keypoints_sit_at_start_end_and_quarter():
    spec = _spec(225, 270, 0.5)
    place = Placement(cx=100, cy=100, radius=70)
    _, (label,) = render_gauges(np.random.default_rng(0), 200, 200, [spec], [place], clean=True)
    cx, cy, _ = label.keypoints["center"]
    for name, want in (("start", 225.0), ("end", 135.0), ("quarter", 292.5)):
        x, y, v = label.keypoints[name]
        assert v == 1
        assert angle_of(x - cx, y - cy) == pytest.approx(want, abs=0.01)
        assert math.hypot(x - cx, y - cy) < 70


def test_labels_are_complete_and_consistent():
    for seed in range(40):
        _, labels = render_sample(seed, 128)
        for lab in labels:
            assert set(lab.keypoints) == {"center", "tip", "start", "end", "quarter"}
            assert lab.min_value <= lab.value <= lab.max_value
            assert 0 < abs(lab.sweep) <= 360
            if not lab.keypoints["tip"][2]:
                assert not lab.readable
            # a panel meter has no round rim to label
            assert len(lab.rim) == (0 if lab.spec.panel else 24)


def test_drag_pointers_rest_beyond_the_needle_and_are_never_red_on_red():
    rng = np.random.default_rng(5)
    specs = [sample_spec(rng, "any") for _ in range(600)]
    dragged = [s for s in specs if s.drag_pointer is not None]
    assert len(dragged) > 20
    for s in dragged:
        assert s.fraction <= s.drag_pointer <= 1.0  # a max pointer is pushed by the needle
        b, _g, r = s.needle_color
        assert not (r > 150 and b < 100), s  # the needle is not red beside a red drag pointer
    # without a drag pointer red needles stay common (water meters)
    assert any(s.needle_color[2] > 150 and s.needle_color[0] < 100 for s in specs)


def _washed(face, needle_color, glare_alpha, where):
    from edged.pipelines.gauge.synth import _washed_out

    spec = _spec(225, 270, 0.5)
    spec.face, spec.needle_color = face, needle_color
    place = Placement(cx=100, cy=100, radius=70)
    _, (label,) = render_gauges(np.random.default_rng(0), 200, 200, [spec], [place], clean=True)
    glare = np.zeros((200, 200), np.float32)
    yy, xx = np.mgrid[0:200, 0:200]
    cx, cy, _ = label.keypoints["center"]
    tx, ty, _ = label.keypoints["tip"]
    # the glare covers points nearer to the tip than to the centre, or the opposite
    near_tip = np.hypot(xx - tx, yy - ty) < np.hypot(xx - cx, yy - cy)
    glare[near_tip if where == "outer" else ~near_tip] = glare_alpha
    return _washed_out(glare, label)


def test_glare_hides_a_needle_only_where_too_little_contrast_is_left():
    red, black = (30, 30, 210), (20, 20, 20)
    # a red needle on a black face has little contrast: moderate glare hides it ...
    assert _washed("black", red, 0.7, "outer")
    # ... while a black needle on white still shows through the same glare
    assert not _washed("white", black, 0.7, "outer")
    assert _washed("white", black, 0.95, "outer")
    # glare over the hub half leaves the outer half, which is enough to read the needle
    assert not _washed("black", red, 0.95, "inner")


def test_face_centre_stays_while_parallax_moves_the_needle_pivot():
    spec = _spec(225, 270, 0.4)

    def centres(parallax):
        place = Placement(cx=100, cy=100, radius=70, tilt=35, tilt_axis=20, parallax=parallax)
        _, (lab,) = render_gauges(np.random.default_rng(0), 200, 200, [spec], [place], clean=True)
        return lab.face_center, lab.keypoints["center"][:2]

    face, pivot = centres(0.0)
    assert math.dist(face, pivot) < 1e-6
    face2, pivot2 = centres(0.08)
    assert math.dist(face2, face) < 1e-6  # the dial has not moved
    assert math.dist(pivot2, face2) > 2.0  # its needle, in front of it, has
