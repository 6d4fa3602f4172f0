"""Heatmaps -> gauges -> values; perfect heatmaps (the training targets) stand in for the model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edged.cvutil import import_cv2
from edged.pipelines.gauge.decode import decode, find_peaks, read_detection
from edged.pipelines.gauge.reader import GaugeReader
from edged.pipelines.gauge.synth import GaugeSpec, Placement, render_gauges
from edged.pipelines.gauge.targets import make_targets


def _label(start, sweep, fraction, cx=64.0, cy=64.0, radius=44.0, tilt=0.0, lo=0.0, hi=10.0):
    spec = GaugeSpec(
        start_angle=start,
        sweep=sweep,
        min_value=lo,
        max_value=hi,
        value=lo + (hi - lo) * fraction,
        seed=5,
    )
    place = Placement(cx=cx, cy=cy, radius=radius, tilt=tilt, tilt_axis=20.0, depth=50.0)
    _, labels = render_gauges(np.random.default_rng(0), 128, 128, [spec], [place], clean=True)
    return labels[0]


def test_a_keypoint_scale_on_a_dial_without_a_round_rim_is_marked_so():
    """A detection with no rim ellipse (a panel meter's) read on the keypoints' own scale
    says so, where ``reader: auto`` looks for it (``wants_second_opinion``); a round dial's
    does not, nor one read on a configured scale (the needle is all it reads there)."""
    label = _label(225, 270, 0.37)
    cmap, paf = make_targets([label], 128)
    (det,) = decode(cmap, paf)
    assert det.ellipse is not None
    assert "rimless_scale" not in read_detection(det, 0.0, 10.0).extra
    det.ellipse = None
    reading = read_detection(det, 0.0, 10.0)
    assert reading.quality == "ok" and reading.extra["rimless_scale"] is True
    configured = read_detection(det, 0.0, 10.0, start_angle=225.0, sweep=270.0)
    assert configured.quality == "ok" and "rimless_scale" not in configured.extra


def test_peaks_refine_to_sub_pixel():
    h = np.zeros((32, 32), np.float32)
    yy, xx = np.mgrid[0:32, 0:32]
    h += np.exp(-((xx - 10.3) ** 2 + (yy - 20.7) ** 2) / 2.0)
    ((x, y, v),) = find_peaks(h)
    assert x == pytest.approx(10.3, abs=0.02) and y == pytest.approx(20.7, abs=0.02)
    assert v > 0.8


@pytest.mark.parametrize(
    ("start", "sweep", "fraction"),
    [(225, 270, 0.37), (135, -270, 0.8), (0, 360, 0.95), (300, 120, 0.1)],
)
def test_perfect_heatmaps_read_the_true_value(start, sweep, fraction):
    label = _label(start, sweep, fraction)
    cmap, paf = make_targets([label], 128)
    (det,) = decode(cmap, paf)
    for name in ("center", "tip", "start", "end"):
        x, y, _ = det.keypoints[name]
        tx, ty, _ = label.keypoints[name]
        assert math.hypot(x - tx, y - ty) < 0.6, name
    reading = read_detection(det, 0.0, 10.0)
    assert reading.quality == "ok"
    assert reading.sweep == pytest.approx(sweep, abs=3)
    err = abs(reading.value - label.value)
    if abs(sweep) == 360:
        err = min(err, 10 - err)
    assert err < 0.1  # 1 % of span


def test_tilted_dial_is_corrected_with_the_rim_ellipse():
    label = _label(225, 270, 0.62, tilt=42.0)
    cmap, paf = make_targets([label], 128)
    (det,) = decode(cmap, paf)
    assert det.ellipse is not None
    corrected = read_detection(det, 0.0, 10.0)
    raw = read_detection(det, 0.0, 10.0, correct_perspective=False)
    assert abs(corrected.value - label.value) < 0.12
    assert abs(corrected.value - label.value) < abs(raw.value - label.value)


def test_a_tilted_dials_needle_is_also_given_as_the_picture_shows_it():
    """``angle_deg`` is in the corrected dial frame; ``needle_picture_angle`` is the same
    needle as the picture shows it (what the panel model, which sees the picture, measures:
    ``pointer_reader.second_opinion`` compares the two)."""
    from edged.pipelines.gauge.angles import angle_between, angle_of

    label = _label(225, 270, 0.62, tilt=42.0)
    cmap, paf = make_targets([label], 128)
    (det,) = decode(cmap, paf)
    reading = read_detection(det, 0.0, 10.0, use_paf=False, use_pixels=False)
    (cx, cy, _), (tx, ty, _) = det.keypoints["center"], det.keypoints["tip"]
    seen = angle_of(tx - cx, ty - cy)
    assert reading.extra["needle_picture_angle"] == pytest.approx(seen, abs=0.01)
    assert angle_between(reading.angle_deg, seen) > 2.0  # the correction turned it
    det.keypoints.pop("start")  # no scale: unreadable, the needle's direction still given
    unread = read_detection(det, 0.0, 10.0, use_paf=False, use_pixels=False)
    assert unread.value is None and unread.angle_deg == pytest.approx(reading.angle_deg)
    assert unread.extra["why"].startswith("the needle found, no scale seen: configure start_angle")
    assert unread.extra["needle_picture_angle"] == pytest.approx(seen, abs=0.01)


def test_several_gauges_separate_and_missing_tips_are_unreadable():
    a = _label(225, 270, 0.2, cx=34, cy=34, radius=24)
    b = _label(225, 270, 0.7, cx=94, cy=90, radius=26)
    b.keypoints["tip"] = (*b.keypoints["tip"][:2], 0)  # glare over b's tip
    cmap, paf = make_targets([a, b], 128)
    dets = decode(cmap, paf)
    assert len(dets) == 2
    by_x = sorted(dets, key=lambda d: d.center[0])
    ra = read_detection(by_x[0], 0.0, 10.0)
    rb = read_detection(by_x[1], 0.0, 10.0)
    assert ra.value == pytest.approx(a.value, abs=0.15)
    assert rb.quality == "unreadable" and rb.value is None
    assert rb.as_dict()["why"] == "no needle found" and "why" not in ra.as_dict()


def test_configured_scale_overrides_the_model_endpoints():
    label = _label(0, 360, 0.25)
    cmap, paf = make_targets([label], 128)
    (det,) = decode(cmap, paf)
    r = read_detection(det, 0.0, 100.0, start_angle=0.0, sweep=360.0)
    assert r.value == pytest.approx(25.0, abs=0.6)
    r = read_detection(det, 0.0, 100.0, start_angle=90.0, sweep=-90.0)  # tip at 90 = the start
    assert r.value == pytest.approx(0.0, abs=0.6)


def _moved(det, name, start, sweep, fraction):
    """``det`` with its keypoint ``name`` moved to ``fraction`` of the scale (its radius kept)."""
    from edged.pipelines.gauge.angles import point_at
    from edged.pipelines.gauge.synth import fraction_to_angle

    cx, cy, _ = det.keypoints["center"]
    x, y, score = det.keypoints[name]
    r = math.hypot(x - cx, y - cy)
    det.keypoints[name] = (*point_at(cx, cy, r, fraction_to_angle(start, sweep, fraction)), score)
    return det


def test_a_contradicting_scale_whose_quarter_and_one_end_fit_the_standard_is_read_on_it():
    """Given only min and max, a keypoint scale that contradicts itself, or a full circle
    whose quarter is not at 90 degrees (an end placed beside the start), but whose
    ``quarter`` and ``start`` or ``end`` lie where the standard 270-degree scale puts them
    (``STANDARD_SCALE``, within ``STANDARD_FIT_DEG``) is read on that scale, never ``ok``,
    its reported ends moved there. Not so: a quarter that does not fit (the two ends also
    fit a counter-clockwise scale whose ends the model swapped), another scale, a camera
    rolled 20 degrees, a scale the direction model turned round."""
    from edged.pipelines.gauge.angles import angle_between, angle_of
    from edged.pipelines.gauge.decode import STANDARD_SCALE, STANDARD_SCALE_READ

    assert STANDARD_SCALE == (225.0, 270.0)

    def standard_with(odd, fraction):
        return _moved(
            decode(*make_targets([_label(225, 270, 0.62)], 128))[0], odd, 225, 270, fraction
        )

    late_quarter = _moved(standard_with("end", 0.02), "quarter", 225, 270, 0.25 + 5 / 270)
    for det in (
        standard_with("end", 0.02),  # a full circle, its quarter 6.25 % of it off
        late_quarter,  # a full circle, its quarter 4.9 % off: within QUARTER_TOLERANCE
        standard_with("end", 0.3),
        standard_with("start", 0.9),
    ):
        reading = read_detection(det, 0.0, 10.0)
        assert reading.quality == "low_confidence" and reading.value == pytest.approx(6.2, abs=0.1)
        assert reading.as_dict()["why"] == STANDARD_SCALE_READ and reading.extra["standard_scale"]
        assert (reading.start_angle, reading.sweep) == STANDARD_SCALE
        cx, cy = det.center
        for name, angle in (("start", 225.0), ("end", 135.0)):
            x, y, _ = reading.keypoints[name]
            assert angle_between(angle_of(x - cx, y - cy), angle) < 0.5, name
    # the direction model unsure: the standard; sure the scale runs the other way: not
    det = standard_with("end", 0.3)
    det.extra["scale_larger_first"] = 0.5
    assert read_detection(det, 0.0, 10.0).extra.get("standard_scale")
    det.extra["scale_larger_first"] = 0.99
    assert "standard_scale" not in read_detection(det, 0.0, 10.0).extra
    # a counter-clockwise scale (135 -> -270) whose ends the model swapped: only the ends fit
    det = decode(*make_targets([_label(135, -270, 0.62)], 128))[0]
    det.keypoints["start"], det.keypoints["end"] = det.keypoints["end"], det.keypoints["start"]
    reading = read_detection(det, 0.0, 10.0)
    assert reading.quality == "unreadable" and "standard_scale" not in reading.extra
    for start, sweep in ((245, 270), (240, 240)):
        det = _moved(
            decode(*make_targets([_label(start, sweep, 0.62)], 128))[0], "end", start, sweep, 0.05
        )
        reading = read_detection(det, 0.0, 10.0)
        assert reading.quality == "unreadable" and reading.extra["scale_contradicts"]


@pytest.mark.parametrize(("start", "sweep"), [(200, 270), (315, 90), (135, -270), (0, 360)])
def test_a_quarter_keypoint_off_the_scale_the_ends_make_lowers_the_quality(start, sweep):
    """The model's scale checks itself: ``quarter`` should sit at 25 % of the arc from
    ``start`` to ``end``; moved to 34 % (or 16 %) the scale is in doubt and the reading is
    not ``ok``, its value kept; moved to 42 % (or 8 %) the scale is not read on at all:
    ``unreadable``, the needle's direction kept. A configured scale has nothing to check."""
    from edged.pipelines.gauge.angles import point_at
    from edged.pipelines.gauge.decode import QUARTER_TOLERANCE, QUARTER_UNREADABLE
    from edged.pipelines.gauge.synth import fraction_to_angle

    assert QUARTER_TOLERANCE < 0.09 < QUARTER_UNREADABLE < 0.17

    label = _label(start, sweep, 0.62)
    (det,) = decode(*make_targets([label], 128))
    reading = read_detection(det, 0.0, 10.0)
    assert reading.quality == "ok"
    assert abs(reading.extra["quarter_off"]) < QUARTER_TOLERANCE / 3
    cx, cy, _ = det.keypoints["center"]
    qx, qy, qs = det.keypoints["quarter"]
    r = math.hypot(qx - cx, qy - cy)
    for fraction in (0.34, 0.16, 0.42, 0.08):
        det.keypoints["quarter"] = (
            *point_at(cx, cy, r, fraction_to_angle(start, sweep, fraction)),
            qs,
        )
        doubted = read_detection(det, 0.0, 10.0)
        assert doubted.extra["quarter_off"] == pytest.approx(fraction - 0.25, abs=0.02)
        if abs(fraction - 0.25) < 0.1:
            assert doubted.quality == "low_confidence"
            assert "scale_contradicts" not in doubted.extra
            assert "scale is in doubt" in doubted.as_dict()["why"]
            assert doubted.value == pytest.approx(reading.value, abs=1e-6)
        else:
            assert doubted.quality == "unreadable" and doubted.value is None
            assert doubted.extra["scale_contradicts"] is True
            assert "scale contradicts itself" in doubted.extra["why"]
            assert doubted.angle_deg == pytest.approx(reading.angle_deg)
            assert "needle_picture_angle" in doubted.extra
        configured = read_detection(det, 0.0, 10.0, start_angle=start, sweep=sweep)
        assert configured.quality == "ok" and "quarter_off" not in configured.extra


def test_a_second_needle_as_strong_as_the_first_lowers_the_quality():
    import copy

    from edged.pipelines.gauge.angles import point_at

    a = _label(225, 270, 0.3)
    cx, cy, _ = a.keypoints["center"]
    drag = copy.deepcopy(a)  # a drag pointer: same pivot, another angle
    drag.keypoints["tip"] = (*point_at(cx, cy, 34.0, 100.0), 1)
    (clean,) = decode(*make_targets([a], 128))
    assert read_detection(clean, 0.0, 10.0).quality == "ok"
    (det,) = decode(*make_targets([a, drag], 128))
    assert det.extra["rival_tip"] > 0.5
    reading = read_detection(det, 0.0, 10.0)
    assert reading.quality == "low_confidence"
    assert reading.value is not None
    assert reading.extra["why"].startswith("two needle-like pointers")
    det.extra["tail_taken_for_tip"] = 1.0  # the reader turned a tail round (needle.outer_line)
    assert "thick tail" in read_detection(det, 0.0, 10.0).extra["why"]


def test_a_needle_the_pixels_do_not_show_lowers_the_quality_but_keeps_the_value():
    label = _label(225, 270, 0.3)
    targets = make_targets([label], 128)
    (seen,) = decode(*targets)
    assert read_detection(seen, 0.0, 10.0).quality == "ok"
    # the "model" finds a dial, but the picture is blank: no needle ridge to measure
    reader = GaugeReader(lambda batch: tuple(np.stack([t] * len(batch)) for t in targets))
    (det,) = reader.locate(np.full((128, 128, 3), 200, np.uint8))
    assert det.needle_pixel_angle is None and det.extra["needle_unseen"]
    reading = read_detection(det, 0.0, 10.0)
    assert reading.quality == "low_confidence"
    assert reading.value == pytest.approx(label.value, abs=0.3)
    assert reading.extra["why"] == "the model sees a needle the pixels do not show"


def _faint_until_widened(tip_peaks, width=256, height=256, at=(128.0, 128.0)):
    """A picture (256 px: pass 1 sees it whole) of a dial ``at`` that pass 2 shrinks 2x, and a
    fake "model" whose tip peak is ``tip_peaks[i]`` times the training target's on its i-th
    call (pass 1, pass 2, then the widened crop): the heatmaps line up with pass 2's crops
    wherever the dial is, and with pass 1 where the dial fills the 256 px picture."""
    from edged.pipelines.gauge.synth import KEYPOINTS

    label = _label(225, 270, 0.3, radius=47.0)
    cmap, paf = make_targets([label], 128)
    calls = []

    def model(batch):
        peak = tip_peaks[min(len(calls), len(tip_peaks) - 1)]
        calls.append(peak)
        scaled = cmap.copy()
        scaled[KEYPOINTS.index("tip")] *= peak
        return np.stack([scaled] * len(batch)), np.stack([paf] * len(batch))

    spec = GaugeSpec(
        start_angle=225, sweep=270, min_value=0, max_value=10, value=3.0, face="white",
        needle_color=(20, 20, 20), needle_shape="tapered", seed=5,
    )  # fmt: skip
    place = Placement(at[0], at[1], 94.0)
    image, _ = render_gauges(np.random.default_rng(0), width, height, [spec], [place], True)
    return GaugeReader(model), image, label, calls


def test_the_widened_crops_detection_is_put_back_in_picture_pixels():
    """A dial away from the picture's corner: the widened crop's keypoints come back in the
    picture's pixels (its crop's place in the picture added), as pass 2's do."""
    from edged.pipelines.gauge.decode import HIDDEN_TIP_SCORE

    at = (250.0, 170.0)
    reader, image, label, calls = _faint_until_widened(
        [0.8 * HIDDEN_TIP_SCORE, 1.0], width=400, height=300, at=at
    )
    (found,) = decode(*make_targets([label], 128))  # pass 1's detection, in picture pixels
    pass1 = found.transformed(2.0, at[0] - 128.0, at[1] - 128.0)
    (det,) = reader.refine(image, [pass1])
    assert len(calls) == 2 and det.extra["faint_tip_widened"]
    for name in ("center", "tip"):
        x, y, _ = det.keypoints[name]
        tx, ty, _ = pass1.keypoints[name]
        assert math.hypot(x - tx, y - ty) < 3.0, name


def test_a_faint_tip_seen_clearly_on_the_widened_crop_is_read_but_stays_in_doubt():
    """Pass 2 shrinks the dial 2x and sees its tip too faint to trust: the widened crop (thin
    dark lines thickened before the shrink) is read, and where it shows the tip more
    strongly, its reading is taken, ``low_confidence``, saying why."""
    from edged.pipelines.gauge.decode import FAINT_UNTIL_WIDENED, HIDDEN_TIP_SCORE

    faint = 0.8 * HIDDEN_TIP_SCORE
    reader, image, label, calls = _faint_until_widened([1.0, faint, 1.0])
    (det,) = reader.locate(image)
    assert len(calls) == 3 and det.extra["faint_tip_widened"]
    reading = read_detection(det, 0.0, 10.0)
    assert reading.value == pytest.approx(label.value, abs=0.2)
    assert reading.quality == "low_confidence"
    assert reading.extra["why"] == FAINT_UNTIL_WIDENED
    # a tip clear in pass 2 is not read again
    reader, image, _, calls = _faint_until_widened([1.0])
    (det,) = reader.locate(image)
    assert len(calls) == 2 and read_detection(det, 0.0, 10.0).quality == "ok"
    peak = det.keypoints["tip"][2]  # a full-strength tip's score
    # no stronger on the widened crop, or stronger but still too faint to read (a tip
    # hidden by glare): the first crop's faint tip stands, unreadable by the model alone
    # (this picture's needle is drawn clearly, so the pixels read it: see
    # test_a_faint_tip_whose_needle_the_pixels_show_clearly_is_read_in_doubt)
    for widened in (0.9 * faint, 0.98 * HIDDEN_TIP_SCORE / peak):
        reader, image, _, calls = _faint_until_widened([1.0, faint, widened])
        (det,) = reader.locate(image)
        assert len(calls) == 3 and "faint_tip_widened" not in det.extra
        assert det.keypoints["tip"][2] == pytest.approx(faint * peak, rel=0.01)
        assert read_detection(det, 0.0, 10.0, use_pixels=False).quality == "unreadable"


def test_a_faint_needle_tip_is_unreadable_not_a_guess():
    from edged.pipelines.gauge.decode import HIDDEN_TIP_SCORE

    label = _label(225, 270, 0.3)
    cmap, paf = make_targets([label], 128)
    cmap = cmap.copy()
    (det,) = decode(cmap, paf)
    assert read_detection(det, 0.0, 10.0).value is not None
    cmap[1] *= HIDDEN_TIP_SCORE * 0.9  # the tip channel: a faint peak, as under glare
    (faint,) = decode(cmap, paf)
    assert "tip" in faint.keypoints  # found, but too weak to trust
    reading = read_detection(faint, 0.0, 10.0)
    assert reading.quality == "unreadable" and reading.value is None
    assert "too faint to trust" in reading.as_dict()["why"]


def _faint_tip_over(image):
    """``image`` read by a fake "model" whose heatmaps are the training targets of
    ``_faint_until_widened``'s dial (3.0 on a 0-10 scale from 225 degrees over 270) with the
    tip's peak 0.6 of ``HIDDEN_TIP_SCORE`` on every crop: the detection, measured in
    ``image``'s pixels."""
    from edged.pipelines.gauge.decode import HIDDEN_TIP_SCORE

    reader, _, label, _ = _faint_until_widened([0.6 * HIDDEN_TIP_SCORE / 0.95])
    (det,) = reader.locate(image)
    assert det.keypoints["tip"][2] < HIDDEN_TIP_SCORE
    return det, label


def test_a_faint_tip_whose_needle_the_pixels_show_clearly_is_read_in_doubt():
    """The model scores the tip under ``HIDDEN_TIP_SCORE``, but the needle is drawn black on
    white: its line is clear in the pixels, so the dial is read, ``low_confidence``, saying
    why. Without the pixels (``use_pixels=False``) the faint tip is no reading."""
    from edged.pipelines.gauge.decode import CLEAR_LINE_CONTRAST, FAINT_TIP_CLEAR_LINE

    _, image, _, _ = _faint_until_widened([1.0])
    det, label = _faint_tip_over(image)
    assert det.extra["needle_contrast"] >= CLEAR_LINE_CONTRAST
    reading = read_detection(det, 0.0, 10.0)
    assert reading.quality == "low_confidence"
    assert reading.value == pytest.approx(label.value, abs=0.1)
    assert reading.extra["why"] == FAINT_TIP_CLEAR_LINE
    assert read_detection(det, 0.0, 10.0, use_pixels=False).quality == "unreadable"


def test_a_faint_tip_over_a_washed_out_needle_stays_unreadable():
    """The same faint tip over the same dial, its needle washed out by glare (faded to
    within a few grey levels of the face): no clear line, no reading."""
    from edged.pipelines.gauge.decode import CLEAR_LINE_CONTRAST

    _, image, _, _ = _faint_until_widened([1.0])
    washed = (255 - (255 - image.astype(np.float32)) * 0.15).astype(np.uint8)
    det, _ = _faint_tip_over(washed)
    assert det.extra.get("needle_contrast", 0.0) < CLEAR_LINE_CONTRAST
    reading = read_detection(det, 0.0, 10.0)
    assert reading.quality == "unreadable" and "too faint to trust" in reading.extra["why"]


@pytest.mark.parametrize("spoil", ["dim line", "line elsewhere", "rival needle", "off the scale"])
def test_a_faint_tip_is_read_only_on_a_clear_line_of_its_own_needle(spoil):
    """Each condition of ``decode.clear_line`` on its own: a line under
    ``CLEAR_LINE_CONTRAST``, one more than ``CLEAR_LINE_DEG`` from the model's direction, a
    second needle-like pointer, or a needle pointing off the scale leave the faint tip
    ``unreadable``."""
    from edged.pipelines.gauge.decode import CLEAR_LINE_CONTRAST, CLEAR_LINE_DEG, RIVAL_RATIO

    _, image, _, _ = _faint_until_widened([1.0])
    det, _ = _faint_tip_over(image)
    assert read_detection(det, 0.0, 10.0).quality == "low_confidence"
    scale = {}
    if spoil == "dim line":
        det.extra["needle_contrast"] = 0.9 * CLEAR_LINE_CONTRAST
    elif spoil == "line elsewhere":
        det.needle_pixel_angle = (det.needle_pixel_angle + 1.5 * CLEAR_LINE_DEG) % 360.0
    elif spoil == "rival needle":
        det.extra["rival_tip"] = RIVAL_RATIO
    else:  # a scale from 12 o'clock to 4:30: the needle (at 306 degrees) lies off it
        scale = {"start_angle": 0.0, "sweep": 135.0}
    reading = read_detection(det, 0.0, 10.0, **scale)
    assert reading.quality == "unreadable" and reading.value is None


def _two_pointer_scene(
    sweep,
    needle_at,
    other_at,
    needle_color=(20, 20, 20),
    red_drag=True,
    prefer_needle=False,
    weaker=0.8,
    other_off_deg=0.0,
    paint_other=None,
    other_peak=1.0,
):
    """A rendered dial (black needle, red drag pointer at ``other_at``) and a fake "model"
    that, as the real one sometimes does, prefers the tip at ``other_at`` (placed
    ``other_off_deg`` off it) and sees the needle as a rival whose peak is ``weaker`` times as
    high (or the other way round). ``paint_other`` paints a plain pointer of that colour at
    ``other_at``; ``other_peak`` scales that tip's heatmap peak. The reader's crop is the
    whole picture, so the fake heatmaps line up."""
    import copy

    from edged.pipelines.gauge.angles import point_at
    from edged.pipelines.gauge.synth import fraction_to_angle

    start = 225.0 if sweep < 360 else 0.0
    spec = GaugeSpec(
        start_angle=start, sweep=sweep, min_value=0.0, max_value=10.0, value=10.0 * needle_at,
        face="white", needle_color=needle_color, needle_shape="tapered", seed=4,
        drag_pointer=other_at if red_drag else None,
    )  # fmt: skip
    place = Placement(cx=64.0, cy=64.0, radius=128 * 0.36)
    image, (needle,) = render_gauges(np.random.default_rng(0), 128, 128, [spec], [place], True)
    cx, cy, _ = needle.keypoints["center"]
    length = math.hypot(needle.keypoints["tip"][0] - cx, needle.keypoints["tip"][1] - cy)
    other = copy.deepcopy(needle)
    other_angle = fraction_to_angle(start, sweep, other_at)
    if paint_other is not None:
        end = point_at(cx, cy, length, other_angle)
        cv2 = import_cv2()
        cv2.line(image, (int(cx), int(cy)), (int(end[0]), int(end[1])), paint_other, 2, cv2.LINE_AA)
    other.keypoints["tip"] = (*point_at(cx, cy, length, other_angle + other_off_deg), 1)
    cm_other, paf_other = make_targets([other], 128)
    cm_needle, paf_needle = make_targets([needle], 128)
    if prefer_needle:
        targets = (np.maximum(cm_needle, weaker * cm_other), paf_needle + 0.8 * paf_other)
    else:
        targets = (
            np.maximum(other_peak * cm_other, weaker * cm_needle),
            paf_other + 0.8 * paf_needle,
        )
    reader = GaugeReader(lambda batch: tuple(np.stack([t] * len(batch)) for t in targets))
    (det,) = reader.locate(image)
    return det, needle, start


@pytest.mark.parametrize("sweep", [270.0, -270.0])
def test_a_red_drag_pointer_taken_for_the_needle_is_told_apart_by_colour(sweep):
    det, needle, start = _two_pointer_scene(sweep, needle_at=0.35, other_at=0.7)
    assert det.drag_pointer is not None  # the model's choice was the red pointer
    reading = read_detection(det, 0.0, 10.0, start_angle=start, sweep=sweep)
    assert reading.value == pytest.approx(needle.value, abs=0.1)
    assert reading.quality == "ok"  # no longer two look-alike needles


def test_a_drag_pointer_short_of_the_needle_is_not_one():
    """A red pointer below the needle's value is not what a max pointer does: the model's
    choice stands, flagged as a guess between two needles."""
    det, _needle, start = _two_pointer_scene(270.0, needle_at=0.35, other_at=0.7)
    assert det.drag_pointer is not None
    # configured the other way round, the red pointer (at 0.3 of this scale) sits below the
    # needle (at 0.65)
    reading = read_detection(det, 0.0, 10.0, start_angle=start + 270.0, sweep=-270.0)
    assert reading.value == pytest.approx(3.0, abs=0.1)  # the red pointer's reading
    assert reading.quality == "low_confidence"


def test_on_a_full_circle_dial_there_is_no_beyond_and_the_choice_stands():
    det, _needle, start = _two_pointer_scene(360.0, needle_at=0.35, other_at=0.7)
    assert det.drag_pointer is not None
    reading = read_detection(det, 0.0, 10.0, start_angle=start, sweep=360.0)
    assert reading.value == pytest.approx(7.0, abs=0.1)
    assert reading.quality == "low_confidence"


def test_a_red_needle_is_not_swapped_for_a_rival_on_bare_face():
    """A red main needle, no drag pointer, and a rival tip the model half-sees over bare face:
    the pixels show no needle there, so the red needle is read (flagged: two candidates)."""
    det, needle, start = _two_pointer_scene(
        270.0, 0.35, 0.7, needle_color=(30, 30, 210), red_drag=False, prefer_needle=True
    )
    assert det.rival_tip is not None and det.drag_pointer is None
    reading = read_detection(det, 0.0, 10.0, start_angle=start, sweep=270.0)
    assert reading.value == pytest.approx(needle.value, abs=0.1)
    assert reading.quality == "low_confidence"


def test_a_drag_pointer_keypoint_a_few_degrees_off_is_still_told_apart():
    """Redness is measured along the pointer found in the pixels, not along the keypoint."""
    det, needle, start = _two_pointer_scene(270.0, 0.35, 0.7, other_off_deg=3.0)
    assert det.drag_pointer is not None
    reading = read_detection(det, 0.0, 10.0, start_angle=start, sweep=270.0)
    assert reading.value == pytest.approx(needle.value, abs=0.1)


def test_a_rival_too_faint_to_read_is_not_swapped_in():
    """A rival whose tip is weaker than a readable tip would leave the dial unreadable."""
    from edged.pipelines.gauge.decode import HIDDEN_TIP_SCORE

    det, _needle, start = _two_pointer_scene(270.0, 0.35, 0.7, weaker=HIDDEN_TIP_SCORE * 0.9)
    assert det.rival_tip is not None and det.drag_pointer is None
    reading = read_detection(det, 0.0, 10.0, start_angle=start, sweep=270.0)
    assert reading.value == pytest.approx(7.0, abs=0.15)  # the model's choice, not unreadable


def test_a_plain_second_pointer_is_not_taken_for_a_drag_pointer():
    """Only a red pointer is taken for a drag pointer: with a grey second pointer (fainter
    than the needle, so contrast alone would swap them) the model's choice stands, flagged as
    a guess between two needles."""
    det, _needle, start = _two_pointer_scene(
        270.0, 0.35, 0.7, red_drag=False, paint_other=(110, 110, 110)
    )
    assert det.rival_tip is not None and det.drag_pointer is None
    reading = read_detection(det, 0.0, 10.0, start_angle=start, sweep=270.0)
    assert reading.value == pytest.approx(7.0, abs=0.15)
    assert reading.quality == "low_confidence"


def test_mirrored_reads_average_a_needle_only_with_itself():
    """Test-time flip: the two reads' tips are averaged only when they point the same way; a
    needle and a drag pointer would average to a direction where no pointer is."""
    from edged.pipelines.gauge.decode import Detection
    from edged.pipelines.gauge.reader import _average

    def det(tip):
        return Detection({"center": (64.0, 64.0, 0.9), "tip": (*tip, 0.8)}, {"tip": 0.9})

    a = det((64.0, 24.0))  # straight up
    near = _average(a, det((67.0, 24.0)))  # ~4 degrees away: the same needle
    assert near.keypoints["tip"][:2] == pytest.approx((65.5, 24.0))
    far = _average(a, det((104.0, 64.0)))  # 90 degrees away: another pointer
    assert far.keypoints["tip"][:2] == pytest.approx((64.0, 24.0))


def test_a_drag_pointer_too_faint_to_read_stays_unreadable_when_the_swap_is_undone():
    """The model's (red) choice is a faint tip; the rival is read instead. If the scale then
    says the red pointer is no drag pointer, the faint tip is what is left: unreadable."""
    from edged.pipelines.gauge.decode import HIDDEN_TIP_SCORE

    det, needle, start = _two_pointer_scene(
        270.0, 0.35, 0.7, weaker=1.0, other_peak=HIDDEN_TIP_SCORE * 0.9
    )
    assert det.drag_pointer is not None and det.drag_pointer[2] < HIDDEN_TIP_SCORE
    assert read_detection(det, 0.0, 10.0, start_angle=start, sweep=270.0).value == (
        pytest.approx(needle.value, abs=0.1)
    )
    undone = read_detection(det, 0.0, 10.0, start_angle=start + 270.0, sweep=-270.0)
    assert undone.quality == "unreadable" and undone.value is None


class _PerfectModel:
    """Stands in for the network: the training targets of ``labels`` (given for a 128 px
    picture), scaled to whatever size the reader feeds."""

    def __init__(self, labels):
        self.labels = labels

    def __call__(self, batch):
        import copy

        size = batch.shape[-1]
        outs = []
        for _ in range(len(batch)):
            scaled = []
            for lab in self.labels:
                lab = copy.deepcopy(lab)
                k = size / 128.0
                lab.keypoints = {n: (x * k, y * k, v) for n, (x, y, v) in lab.keypoints.items()}
                lab.rim = [(x * k, y * k) for x, y in lab.rim]
                scaled.append(lab)
            outs.append(make_targets(scaled, size))
        return np.stack([o[0] for o in outs]), np.stack([o[1] for o in outs])


def test_a_small_dial_inside_a_large_one_is_its_part_not_a_gauge():
    big = _label(225, 270, 0.4, cx=64, cy=64, radius=50)
    logo = _label(225, 270, 0.8, cx=80, cy=52, radius=7)  # a screw or a logo on its face
    apart = _label(225, 270, 0.1, cx=118, cy=118, radius=7)  # beyond its face: a gauge
    picture = np.zeros((128, 128, 3), np.uint8)
    found = GaugeReader(_PerfectModel([big, logo, apart])).detect(picture)
    centres = sorted((round(d.center[0]), round(d.center[1])) for d in found)
    assert centres == [(64, 64), (118, 118)]


def test_passes_above_128_px_add_small_dials_only():
    big = _label(225, 270, 0.4, cx=64, cy=64, radius=50)
    picture = np.zeros((512, 512, 3), np.uint8)  # passes at 128 and 256 px
    reader = GaugeReader(_PerfectModel([big]))
    found = reader.detect(picture)
    # the same dial, twice the size in the 256 px pass (beyond the trained sizes): only the
    # 128 px pass's detection is taken
    assert len(found) == 1
    assert found[0].radius() == pytest.approx(50 * 4, rel=0.1)


def test_the_main_dial_is_the_prominent_one_whose_needle_was_found(monkeypatch):
    """``read_one``: a detection without a needle (often no dial at all) gives way to a
    readable dial; a main dial whose needle was found but whose scale cannot be read stays
    the main dial, ``unreadable``, rather than a readable dial behind it."""
    from edged.pipelines.gauge.reader import ReadOptions
    from edged.pipelines.gauge.reading import GaugeReading

    def dial(x, radius, value, angle):
        quality = "ok" if value is not None else "unreadable"
        kps = {"center": [x, 100.0, 0.9]}
        return GaugeReading(value, 0.8, quality, angle, kps, radius=radius)

    reader = GaugeReader(lambda batch: None)
    image = np.zeros((200, 200, 3), np.uint8)
    behind = dial(30.0, 20.0, 4.0, 90.0)  # small, near the edge, readable
    for main, expected in (
        (dial(100.0, 80.0, None, None), behind),  # no needle: the readable one
        (dial(100.0, 80.0, None, 45.0), None),  # a needle, no scale: itself
        (dial(100.0, 80.0, 7.0, 45.0), None),  # readable: itself
    ):
        found = [behind, main]
        monkeypatch.setattr(reader, "read", lambda image, opts, max_gauges=8, f=found: f)
        got = reader.read_one(image, ReadOptions(0, 10))
        assert got is (main if expected is None else expected)


def _sized(x, y, radius, score=0.9):
    """A detection at ``(x, y)`` whose keypoints make its radius ``radius``."""
    from edged.pipelines.gauge.decode import Detection

    start = (x - 0.75 * radius, y, 0.8)
    return Detection({"center": (x, y, score), "start": start}, {})


def test_one_detection_per_dial_the_one_from_the_best_sized_crop():
    """Two pass-1 detections of one dial (its face and its case) refined into the same dial
    are one dial: the refinement whose crop was sized closest to the dial pass 2 found is
    kept, whichever came first; another dial beside it stays; the order is kept."""
    from edged.pipelines.gauge.reader import one_per_dial

    face = (_sized(100, 100, 50), _sized(101, 99, 49))  # crop sized from r 50: fits
    case = (_sized(110, 110, 85), _sized(99, 101, 48))  # from r 85: 1.7x too loose
    other = (_sized(300, 100, 40), _sized(302, 100, 41))
    for pairs in ([face, case, other], [case, face, other], [other, case, face]):
        kept = one_per_dial(pairs)
        assert len(kept) == 2
        assert face[1] in kept and other[1] in kept and case[1] not in kept
        assert kept == [p[1] for p in pairs if p[1] in kept]  # in the order given
    # a pass-1 detection pass 2 did not refine (it stands in for itself) gives way to one
    # that pass 2 refined into the same dial, however loose that one's crop
    unrefined = (face[0], face[0])
    assert one_per_dial([unrefined, case]) == [case[1]]
    assert one_per_dial([case, unrefined]) == [case[1]]


def test_the_reader_keeps_one_detection_per_dial(monkeypatch):
    """``GaugeReader.refined`` (``locate``, so ``read`` and ``read-gauge``; the pipeline
    calls it too): pass 1 found one dial twice; pass 2 refines both into it; one is read."""
    from edged.pipelines.gauge.reader import ReadOptions

    face = (_sized(100, 100, 50), _sized(101, 99, 49))
    case = (_sized(110, 110, 85), _sized(99, 101, 48))
    reader = GaugeReader(lambda batch: None)
    monkeypatch.setattr(reader, "detect", lambda image, n=8: [case[0], face[0]])
    monkeypatch.setattr(reader, "refine", lambda image, dets: [case[1], face[1]])
    image = np.zeros((200, 400, 3), np.uint8)
    assert reader.refined(image, [case[0], face[0]]) == [face[1]]
    assert reader.locate(image) == [face[1]]
    assert len(reader.read(image, ReadOptions(0, 10))) == 1


def test_a_scale_the_direction_model_turns_round_is_checked_as_turned():
    """Keypoints that swapped the scale's ends but put ``quarter`` where it is: along their
    own scale it sits at 75 %, a contradiction; the direction model, reading the numbers,
    turns the scale round, and on the turned scale the quarter fits: read, not refused."""
    label = _label(225, 270, 0.62)
    (det,) = decode(*make_targets([label], 128))
    det.keypoints["start"], det.keypoints["end"] = det.keypoints["end"], det.keypoints["start"]
    alone = read_detection(det, 0.0, 10.0)
    assert alone.quality == "unreadable" and alone.extra["scale_contradicts"]
    det.extra["scale_larger_first"] = 0.0  # the larger numbers are not clockwise-first
    turned = read_detection(det, 0.0, 10.0)
    assert turned.value == pytest.approx(label.value, abs=0.15)
    assert turned.sweep == pytest.approx(270.0, abs=3) and "scale_contradicts" not in turned.extra
