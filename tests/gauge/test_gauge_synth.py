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


def _magenta(image, x, y):
    b, g, r = image[int(round(y)), int(round(x))].astype(int)
    return b > 150 and r > 150 and g < 110


@pytest.mark.parametrize(
    ("layout", "start", "sweep", "fraction"),
    [
        ("panel_arc", 315, 90, 0.1),
        ("panel_arc", 315, 90, 0.75),
        ("panel_corner", 270, 90, 0.0),
        ("panel_corner", 270, 90, 0.6),
    ],
)
def test_panel_meter_needle_runs_from_under_the_cover_to_the_labelled_tip(
    layout, start, sweep, fraction
):
    spec = _spec(start, sweep, fraction, layout=layout, tick_radius=0.75, needle_len=0.75)
    spec.seed = 5  # a seed whose cover hides the pivot in both layouts
    place = Placement(cx=110, cy=150, radius=90)
    image, (label,) = render_gauges(np.random.default_rng(0), 220, 220, [spec], [place], clean=True)
    assert label.rim == []  # no round rim: no ring target, no ellipse
    cx, cy, _ = label.keypoints["center"]
    tx, ty, tv = label.keypoints["tip"]
    assert tv == 1 and label.readable
    assert (cx, cy) == pytest.approx((110, 150))
    # the outer part of the needle shows; its root is under the cover
    assert all(_magenta(image, cx + (tx - cx) * t, cy + (ty - cy) * t) for t in (0.5, 0.7, 0.9))
    assert not _magenta(image, cx, cy)
    assert not _magenta(image, cx + (tx - cx) * 1.15, cy + (ty - cy) * 1.15)
    angle = angle_of(tx - cx, ty - cy)
    assert angle == pytest.approx(fraction_to_angle(start, sweep, fraction), abs=0.01)
    # the scale's ends are where a 90 degree panel scale has them
    for name, want in (("start", start), ("end", (start + sweep) % 360)):
        x, y, _ = label.keypoints[name]
        assert angle_of(x - cx, y - cy) == pytest.approx(want, abs=0.01)


def test_heavy_tail_needle_points_with_its_thin_end():
    spec = _spec(225, 270, 0.3)
    spec.needle_shape, spec.tail, spec.needle_width = "heavy_tail", 0.45, 0.06
    place = Placement(cx=100, cy=100, radius=70)
    image, (label,) = render_gauges(np.random.default_rng(0), 200, 200, [spec], [place], clean=True)
    cx, cy, _ = label.keypoints["center"]
    tx, ty, _ = label.keypoints["tip"]
    ux, uy = (tx - cx) / math.hypot(tx - cx, ty - cy), (ty - cy) / math.hypot(tx - cx, ty - cy)

    def width(d):  # magenta pixels across the needle at signed distance d along it
        px, py = cx + ux * d, cy + uy * d
        return sum(_magenta(image, px - uy * o, py + ux * o) for o in np.arange(-8, 8.5, 0.5))

    assert _magenta(image, cx + (tx - cx) * 0.9, cy + (ty - cy) * 0.9)
    # the tail (behind the pivot) is wider than the pointer half way out
    assert width(-0.35 * 70) > width(0.5 * math.hypot(tx - cx, ty - cy))


def test_filling_panel_meters_keep_their_labels_in_the_picture():
    seen = 0
    for seed in range(400):
        _, labels = render_sample(seed, 128, mode="crop")
        lab = labels[-1]
        if not lab.spec.panel or lab.radius < 0.45 * 128:
            continue
        seen += 1
        for name in ("center", "tip", "start", "end", "quarter"):
            x, y, _ = lab.keypoints[name]  # (glare or an occluder may hide one: v = 0)
            assert 0 <= x < 128 and 0 <= y < 128, (seed, name)
    assert seen >= 5


def test_renderer_version_3_draws_panel_meters_and_field_print():
    rng = np.random.default_rng(1)
    specs = [sample_spec(rng, "any") for _ in range(400)]
    layouts = {s.layout for s in specs}
    assert {"round", "panel_arc", "panel_corner"} <= layouts
    assert any(s.inner_scale for s in specs) and any(s.printed for s in specs)
    for s in specs:
        if s.panel:
            assert 75 <= abs(s.sweep) <= 105 and s.drag_pointer is None
