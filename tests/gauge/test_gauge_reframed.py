"""A second opinion read in several framings of its crop (``reframed``), and the rule that takes
an unsure panel reading most of them agree on (``pointer_reader.STEADY_SHARE``)."""

from __future__ import annotations

import numpy as np
import pytest
from test_gauge_pointer import FixedModel, marked, peaked

from edged.pipelines.gauge.angles import angle_of
from edged.pipelines.gauge.pointer_reader import (
    NEEDLES_APART_DEG,
    STEADY_SHARE,
    PointerReader,
    second_opinion,
)
from edged.pipelines.gauge.reader import ReadOptions
from edged.pipelines.gauge.reading import GaugeReading
from edged.pipelines.gauge.reframed import AGREE_SPAN, TURNS_DEG, agreed, reframings


def reading(value, quality="low_confidence", angle=10.0, fraction=None) -> GaugeReading:
    kps = {"center": [50.0, 50.0, 0.9], "tip": [50.0, 15.0, 0.9]}
    return GaugeReading(value, 0.5, quality, angle, kps, fraction=fraction)


def framings(n=9):
    return reframings(np.zeros((100, 120, 3), np.uint8))[:n]


def test_the_framings_move_the_crop_a_little_and_say_where_their_pixels_came_from():
    crop = np.zeros((100, 120, 3), np.uint8)
    crop[40, 70] = 255  # one marked pixel
    out = reframings(crop)
    assert len(out) == 9 and out[0].image is crop and out[0].offset == (0.0, 0.0)
    for f in out:
        if f.turn_deg:
            continue
        y, x = np.argwhere(f.image[..., 0] == 255)[0]
        assert (x + f.offset[0], y + f.offset[1]) == (70, 40)  # back in the crop's pixels
        h, w = f.image.shape[:2]
        assert 0.89 * 100 <= h <= 100 and 0.89 * 120 <= w <= 120
    assert sorted(f.turn_deg for f in out if f.turn_deg) == sorted(TURNS_DEG)


def test_a_turned_framing_turns_the_picture_clockwise():
    """A dot above the centre moves right in the framing turned clockwise (a camera rolled
    the other way), as ``turn_deg`` says."""
    crop = np.zeros((101, 101, 3), np.uint8)
    crop[10:14, 49:53] = 255

    def seen(image):
        ys, xs = np.nonzero(image[..., 0] > 127)
        return angle_of(xs.mean() - 50.5, ys.mean() - 50.5)  # about the turn's centre

    for f in reframings(crop):
        if f.turn_deg:
            turned = (seen(f.image) - seen(crop) + 180.0) % 360.0 - 180.0
            assert turned == pytest.approx(f.turn_deg, abs=0.5)


def test_most_framings_agreeing_give_their_median_value():
    values = [0.50, 0.51, 0.49, 0.52, 0.50, 0.48, 0.90, 0.10, 0.51]
    got = agreed([reading(v, fraction=v) for v in values], framings(), span=1.0)
    assert got.value == pytest.approx(0.50) and got.fraction == pytest.approx(0.50)
    assert got.extra["views_agree"] == pytest.approx(7 / 9, abs=1e-3)
    assert got.angle_deg == 10.0  # told by the crop's own reading, which is in the group


def test_a_crop_overturned_by_its_framings_is_told_by_the_agreeing_ones():
    """The crop's own reading outside the group: the member nearest the group's median tells
    the reading, a turned one turned back (its direction, scale start and tip)."""
    frames = framings()
    assert [f.turn_deg for f in frames[7:]] == list(TURNS_DEG)
    values = [0.95, 0.27, 0.28, 0.29, 0.31, 0.32, 0.33, 0.60, 0.30]
    readings = [reading(v, angle=100.0) for v in values]
    readings[8].start_angle = 50.0
    got = agreed(readings, frames, span=1.0)
    turn = TURNS_DEG[1]
    assert got.value == pytest.approx(0.30)
    assert got.extra["views_agree"] == pytest.approx(7 / 9, abs=1e-3)
    assert got.angle_deg == pytest.approx(100.0 - turn)
    assert got.start_angle == pytest.approx(50.0 - turn)
    tip = got.keypoints["tip"]
    assert angle_of(tip[0] - 50.0, tip[1] - 50.0) == pytest.approx(100.0 - turn)
    assert np.hypot(tip[0] - 50.0, tip[1] - 50.0) == pytest.approx(35.0)
    assert readings[0].value == 0.95 and readings[8].angle_deg == 100.0  # left alone


def test_without_a_majority_the_crop_keeps_its_own_reading():
    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    readings = [reading(v) for v in values]
    got = agreed(readings, framings(), span=1.0)
    assert got is readings[0] and got.value == 0.1
    assert got.extra["views_agree"] == pytest.approx(1 / 9, abs=1e-3)
    four = [0.9, 0.5, 0.5, 0.5, 0.5, 0.1, 0.2, 0.3, 0.7]  # 4 of 9 agree: no majority
    readings = [reading(v) for v in four]
    assert agreed(readings, framings(), span=1.0) is readings[0]
    five = [0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.2, 0.3, 0.7]  # 5 of 9: the majority's value
    assert agreed([reading(v) for v in five], framings(), span=1.0).value == 0.5


def test_framings_give_a_crop_no_value_it_does_not_have():
    for own in (reading(None, "unreadable"), reading(2.0, "out_of_range")):
        readings = [own] + [reading(0.5) for _ in range(8)]
        got = agreed(readings, framings(), span=1.0)
        assert got is own and "views_agree" not in got.extra


def test_values_agree_within_a_share_of_the_span():
    assert AGREE_SPAN == 0.05  # README and bench/results/gauge.md quote it
    inside = [0.0, 0.05, 0.05, 0.05, 0.05, 0.0, 0.0, 0.0, 0.0]
    assert agreed([reading(v) for v in inside], framings(), 1.0).extra["views_agree"] == 1.0
    outside = [0.0, 0.06, 0.06, 0.06, 0.06, 0.0, 0.0, 0.0, 0.0]
    got = agreed([reading(v) for v in outside], framings(), 1.0)
    assert got.extra["views_agree"] == pytest.approx(5 / 9, abs=1e-3)


def test_a_steady_unsure_panel_reading_stands_in_for_keypoints_without_a_value():
    """Keypoints that read no value (no dial, no needle, a tip too faint) and an unsure panel
    reading at least ``STEADY_SHARE`` of its framings agree on: taken, unless the keypoints
    saw a needle more than ``NEEDLES_APART_DEG`` from the panel model's."""
    assert STEADY_SHARE == 0.85
    steady = reading(3.0, angle=20.0)
    steady.extra["views_agree"] = STEADY_SHARE
    faint = reading(None, "unreadable", angle=None)
    for keypoints in (None, faint):
        got = second_opinion(keypoints, steady)
        assert got is steady
        assert got.extra["keypoints_quality"] == "unreadable"
    near = reading(None, "unreadable", angle=20.0 + NEEDLES_APART_DEG)
    assert second_opinion(near, steady) is steady
    far = reading(None, "unreadable", angle=20.0 + NEEDLES_APART_DEG + 1.0)
    assert second_opinion(far, steady) is far
    shaky = reading(3.0, angle=20.0)
    shaky.extra["views_agree"] = STEADY_SHARE - 0.01
    assert second_opinion(None, shaky) is None
    assert second_opinion(faint, shaky) is faint
    sure = reading(1.0, "ok")  # keypoints with a value keep the rules they had
    assert second_opinion(sure, steady) is sure


def test_the_panel_reader_checks_an_unsure_reading_against_its_framings_in_one_batch():
    """A model that sees the same pointer in every framing, unsure of it: they all agree and
    the crop's own reading tells the direction; the framings go in one batch (one call, and
    one for their mirror images) after the crop's own."""
    model = FixedModel(30.0, zero=0.0, ccw=0.5)  # unsure which way the numbers run
    reader = PointerReader(model)
    opts = ReadOptions(0.0, 10.0)
    crop = marked()
    own = reader.read_crops([crop], [opts], [(5.0, 7.0)])[0]
    assert own.quality == "low_confidence"
    model.batches.clear()
    got = reader.read_reframed([crop], [opts], [(5.0, 7.0)])[0]
    assert got.extra["views_agree"] == 1.0
    assert got.value == pytest.approx(own.value, abs=0.05) and got.angle_deg == own.angle_deg
    assert got.keypoints["center"][:2] == own.keypoints["center"][:2]
    others = len(reframings(crop)) - 1
    assert [b[0] for b in model.batches] == [1, 1, others, others]


def test_a_sure_reading_is_not_reframed():
    model = FixedModel(30.0, zero=0.0)
    reader = PointerReader(model)
    opts = [ReadOptions(0.0, 10.0, start_angle=0.0, sweep=360.0) for _ in range(2)]
    out = reader.read_reframed([marked(), marked()], opts)
    assert [r.quality for r in out] == ["ok", "ok"] and "views_agree" not in out[0].extra
    assert [b[0] for b in model.batches] == [2, 2]  # the two crops (and their mirrors) only
    assert reader.read_reframed([], []) == []


def test_read_reframed_keeps_each_crops_framings_apart():
    """Two unsure crops whose framings read different values: each agrees with its own."""

    class TwoPointers(FixedModel):
        def __call__(self, batch):
            heads = super().__call__(batch)
            left, right = (
                batch[:, :, :, :8].mean(axis=(1, 2, 3)),
                batch[:, :, :, -8:].mean(axis=(1, 2, 3)),
            )
            both = np.minimum(left, right) > 0.3 * np.maximum(left, right)  # the second crop
            pointer = np.stack([peaked(200.0 if b else 30.0) for b in both])
            return (pointer, *heads[1:])

    model = TwoPointers(30.0, zero=0.0, ccw=0.5)
    reader = PointerReader(model, flip=False)
    second = marked()
    second[:, 50:] = 100  # darker than its bright left edge, so never taken for a mirror image
    opts = [ReadOptions(0.0, 10.0) for _ in range(2)]
    first_reading, second_reading = reader.read_reframed([marked(), second], opts)
    assert first_reading.extra["views_agree"] == second_reading.extra["views_agree"] == 1.0
    assert first_reading.value != pytest.approx(second_reading.value, abs=1.0)
