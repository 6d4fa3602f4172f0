"""A second opinion read in several framings of its crop (``reframed``), and the rule that takes
an unsure panel reading most of them agree on (``pointer_reader.STEADY_SHARE``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_gauge_pointer import FixedModel, marked, peaked

from edged.pipelines.gauge.angles import angle_of, point_at
from edged.pipelines.gauge.pointer_reader import (
    NEEDLES_APART_DEG,
    STEADY_SHARE,
    PointerReader,
    second_opinion,
)
from edged.pipelines.gauge.reader import ReadOptions
from edged.pipelines.gauge.reading import GaugeReading, ValueRange
from edged.pipelines.gauge.reframed import (
    AGREE_SPAN,
    FRAMINGS,
    TURNS_DEG,
    agreed,
    framed_options,
    reframings,
    unturned,
    value_range,
)


def reading(value, quality="low_confidence", angle=10.0, fraction=None) -> GaugeReading:
    kps = {"center": [50.0, 50.0, 0.9], "tip": [50.0, 15.0, 0.9]}
    return GaugeReading(value, 0.5, quality, angle, kps, fraction=fraction)


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
    got = agreed([reading(v, fraction=v) for v in values], ValueRange(1.0))
    assert got.value == pytest.approx(0.50) and got.fraction == pytest.approx(0.50)
    assert got.extra["views_agree"] == pytest.approx(7 / 9, abs=1e-3)
    assert got.angle_deg == 10.0  # told by the crop's own reading, which is in the group


def test_a_crop_overturned_by_its_framings_is_told_by_the_agreeing_ones():
    """The crop's own reading outside the group: the member nearest the group's median gives
    the reading its geometry (its direction, scale start, keypoints)."""
    values = [0.95, 0.27, 0.28, 0.29, 0.31, 0.32, 0.33, 0.60, 0.30]
    readings = [reading(v, angle=100.0) for v in values]
    readings[8] = replace(readings[8], angle_deg=96.0, start_angle=46.0)
    got = agreed(readings, ValueRange(1.0))
    assert got.value == pytest.approx(0.30)
    assert got.extra["views_agree"] == pytest.approx(7 / 9, abs=1e-3)
    assert got.angle_deg == 96.0 and got.start_angle == 46.0
    assert readings[0].value == 0.95 and "views_agree" not in readings[8].extra  # left alone


def test_a_turned_framings_reading_is_turned_back_into_the_crops_frame():
    """Its directions (pointer, scale start, the measured zero and end) and its keypoints
    turn back about the crop's centre; the window its search read (the turned picture's)
    is dropped; other framings' readings are returned as they are."""
    frames = reframings(np.zeros((100, 120, 3), np.uint8))
    assert [f.turn_deg for f in frames[7:]] == list(TURNS_DEG)
    turn = TURNS_DEG[1]
    centre = (60.0, 50.0)
    turned = reading(0.3, angle=100.0)
    turned.start_angle = 50.0
    turned.keypoints = {"center": [70.0, 50.0, 0.9], "tip": [60.0, 15.0, 0.8]}
    turned.extra.update(zero_angle=2.0, end_angle=92.0, window=[1, 2, 3, 4], reader="panel")
    got = unturned(turned, frames[8], centre)
    assert got.angle_deg == pytest.approx(100.0 - turn)
    assert got.start_angle == pytest.approx(50.0 - turn)
    assert got.extra["zero_angle"] == pytest.approx((2.0 - turn) % 360.0)
    assert got.extra["end_angle"] == pytest.approx(88.0)
    assert "window" not in got.extra and got.extra["reader"] == "panel"
    for name, (x, y, score) in got.keypoints.items():
        was = turned.keypoints[name]
        seen = angle_of(was[0] - centre[0], was[1] - centre[1])
        assert angle_of(x - centre[0], y - centre[1]) == pytest.approx((seen - turn) % 360.0)
        assert np.hypot(x - centre[0], y - centre[1]) == pytest.approx(
            np.hypot(was[0] - centre[0], was[1] - centre[1])
        )
        assert score == was[2]
    assert turned.angle_deg == 100.0 and "window" in turned.extra  # left alone
    assert unturned(turned, frames[3], centre) is turned  # a shifted framing: as it is


def test_without_a_majority_the_crop_keeps_its_own_reading():
    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    readings = [reading(v) for v in values]
    got = agreed(readings, ValueRange(1.0))
    assert got is readings[0] and got.value == 0.1
    assert got.extra["views_agree"] == pytest.approx(1 / 9, abs=1e-3)
    four = [0.9, 0.5, 0.5, 0.5, 0.5, 0.1, 0.2, 0.3, 0.7]  # 4 of 9 agree: no majority
    readings = [reading(v) for v in four]
    assert agreed(readings, ValueRange(1.0)) is readings[0]
    five = [0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.2, 0.3, 0.7]  # 5 of 9: the majority's value
    assert agreed([reading(v) for v in five], ValueRange(1.0)).value == 0.5


def test_framings_give_a_crop_no_value_it_does_not_have():
    for own in (reading(None, "unreadable"), reading(2.0, "out_of_range")):
        readings = [own] + [reading(0.5) for _ in range(8)]
        got = agreed(readings, ValueRange(1.0))
        assert got is own and "views_agree" not in got.extra


def test_values_agree_within_a_share_of_the_span():
    assert AGREE_SPAN == 0.05  # README and bench/results/gauge.md quote it
    inside = [0.0, 0.05, 0.05, 0.05, 0.05, 0.0, 0.0, 0.0, 0.0]
    assert agreed([reading(v) for v in inside], ValueRange(1.0)).extra["views_agree"] == 1.0
    outside = [0.0, 0.06, 0.06, 0.06, 0.06, 0.0, 0.0, 0.0, 0.0]
    got = agreed([reading(v) for v in outside], ValueRange(1.0))
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


def test_a_reading_without_an_unsure_value_is_not_reframed():
    """Only an unsure value is checked against the framings: an unreadable crop (no pointer
    seen) is read once, and its mirror image."""
    model = FixedModel(30.0, zero=0.0, flat=True)
    got = PointerReader(model).read_reframed([marked()], [ReadOptions(0.0, 10.0)])[0]
    assert got.quality == "unreadable" and "views_agree" not in got.extra
    assert [b[0] for b in model.batches] == [1, 1]


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


def test_another_framings_reading_gives_geometry_not_sureness_nor_its_window():
    """The crop's own reading (unsure) overturned, the member nearest the median read ``ok``
    in a window its search found: the result keeps the crop's own quality and confidence
    (it is no surer for another framing being sure), and no window (a pipeline would read
    that window first next frame as the roi's own)."""
    values = [0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.2, 0.3, 0.7]
    readings = [reading(v) for v in values]
    readings[3] = GaugeReading(
        0.5, 0.999, "ok", 10.0, readings[3].keypoints, extra={"window": [1, 2, 30, 30]}
    )
    got = agreed(readings, ValueRange(1.0))
    assert got.value == 0.5 and got.extra["views_agree"] == pytest.approx(5 / 9, abs=1e-3)
    assert got.quality == "low_confidence" and got.confidence == readings[0].confidence
    assert "window" not in got.extra


def test_a_small_crop_is_not_reframed_and_never_agreed_on():
    assert len(reframings(np.zeros((7, 100, 3), np.uint8))) == 1
    assert len(reframings(np.zeros((8, 8), np.uint8))) == FRAMINGS  # greyscale too
    own = reading(0.5)
    got = agreed([own], ValueRange(1.0))
    assert got.extra["views_agree"] == pytest.approx(1 / FRAMINGS, abs=1e-3)


def test_values_range_over_a_table_and_wrap_round_a_full_circle():
    opts = ReadOptions(0.0, 1.0, table=[(0.0, 0.0), (90.0, 100.0)])
    assert value_range(opts) == ValueRange(100.0, 0.0, None)
    assert value_range(ReadOptions(5.0, -5.0)) == ValueRange(10.0, -5.0, None)
    circle = value_range(ReadOptions(0.0, 10.0, start_angle=0.0, sweep=-360.0))
    assert circle == ValueRange(10.0, 0.0, 10.0)
    # 9.98, 9.99, 0.01, 0.02 ... lie together, the short way round, and stay on the dial
    values = [9.99, 0.01, 9.98, 0.02, 0.0, 9.97, 5.0, 0.03, 9.96]
    got = agreed([reading(v, fraction=v / 10.0) for v in values], circle)
    assert got.extra["views_agree"] == pytest.approx(8 / 9, abs=1e-3)
    assert got.value == pytest.approx(9.995) and 0.0 <= got.value < 10.0  # 9.99 and 10.00
    assert got.fraction == pytest.approx(0.9995)
    flat = agreed([reading(v) for v in values], ValueRange(10.0))
    # not a circle: 9.96-9.99 and 0.00-0.03 lie at two ends, four each: no majority
    assert flat.extra["views_agree"] == pytest.approx(4 / 9, abs=1e-3) and flat.value == 9.99


class NeedleModel:
    """A pointer model's seam that measures the one bright line in its input: the pointer's
    direction from the line's principal axis (pointing away from the input's middle), the
    other heads fixed (zero at 12 o'clock, clockwise numbers)."""

    def __call__(self, batch):
        pointers = []
        for image in batch:
            ys, xs = np.nonzero(image.mean(axis=0) > 0.5 * image.max())
            pts = np.stack([xs, ys], 1).astype(float)
            mid = pts.mean(axis=0)
            _, _, axes = np.linalg.svd(pts - mid)
            dx, dy = axes[0]
            half = (image.shape[-1] - 1) / 2.0
            if dx * (mid[0] - half) + dy * (mid[1] - half) < 0:
                dx, dy = -dx, -dy
            pointers.append(peaked(angle_of(dx, dy)))
        n = len(batch)
        return np.stack(pointers), np.stack([peaked(0.0)] * n), np.full((n, 1), -5.0, np.float32)


def needle_crop(angle: float, size: int = 120) -> np.ndarray:
    import cv2

    crop = np.zeros((size, size, 3), np.uint8)
    c = size / 2.0
    tip = point_at(c, c, 0.45 * size, angle)
    cv2.line(crop, (int(c), int(c)), (int(round(tip[0])), int(round(tip[1]))), (255,) * 3, 3)
    return crop


@pytest.mark.parametrize("sweep", [60.0, 90.0])
def test_turned_framings_read_a_configured_scale_turned_with_them(sweep):
    """With ``start_angle``/``sweep`` configured, a framing turned by 4 degrees is read on
    the scale turned with it (``framed_options``): on a 60-degree scale the needle would
    otherwise read 6.7 % of the span off, further than framings agree (on a 90-degree one
    4.4 %, still within: there only the ``framed_options`` assertions guard it). The
    reading keeps the configured start."""
    start = 330.0
    crop = needle_crop(start + 0.5 * sweep)
    opts = ReadOptions(0.0, 10.0, start_angle=start, sweep=sweep)
    for f in reframings(crop):
        if f.turn_deg:
            assert framed_options(opts, f).start_angle == pytest.approx((start + f.turn_deg) % 360)
        else:
            assert framed_options(opts, f) is opts
    reader = PointerReader(NeedleModel())
    values = [r.value for r in reader.read_crops([f.image for f in reframings(crop)], [opts] * 9)]
    turned = values[-2:]  # read on the unturned scale: off by turn / sweep of the span
    assert max(abs(v - 5.0) for v in turned) > 10.0 * 4.0 / sweep * 0.8
    reader._read_lit = _unsure_first(reader._read_lit)  # every framing is checked
    got = reader.read_reframed([crop], [opts])[0]
    assert got.extra["views_agree"] == 1.0
    assert got.value == pytest.approx(5.0, abs=0.15) and got.start_angle == start


def _unsure_first(read_crops):
    """``read_crops`` (``PointerReader._read_lit``, which ``read_reframed`` calls for the
    crop and its framings) whose first call's readings are flagged ``low_confidence`` (so
    ``read_reframed`` checks them against their framings)."""
    calls = []

    def read(*args, **kwargs):
        out = read_crops(*args, **kwargs)
        if not calls:
            out = [replace(r, quality="low_confidence") for r in out]
        calls.append(1)
        return out

    return read


def test_the_needles_gap_rule_holds_for_an_agreed_reading():
    """An agreed panel reading 8 of 9 framings hold, against keypoints that found a needle
    44 or 46 degrees from it and read no value."""
    readings = [reading(3.0, angle=20.0) for _ in range(8)] + [reading(9.0, angle=200.0)]
    steady = agreed(readings, ValueRange(10.0))
    assert steady.extra["views_agree"] >= STEADY_SHARE
    near = reading(None, "unreadable", angle=20.0 + 44.0)
    far = reading(None, "unreadable", angle=20.0 + 46.0)
    assert second_opinion(near, steady) is steady
    assert second_opinion(far, steady) is far
    seven = [reading(3.0, angle=20.0) for _ in range(7)] + [reading(9.0)] * 2
    assert second_opinion(near, agreed(seven, ValueRange(10.0))) is near
