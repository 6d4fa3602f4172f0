"""Reading geometry: wrap-around, direction, dead zone, tables, perspective, plausibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edged.pipelines.gauge.angles import angle_of, direction
from edged.pipelines.gauge.reading import (
    GaugeReading,
    GaugeTracker,
    Scale,
    angle_to_fraction,
    circle_transform,
    fit_ellipse,
    scale_from_keypoints,
)


def test_angle_convention_clockwise_from_twelve():
    assert angle_of(0, -1) == pytest.approx(0)
    assert angle_of(1, 0) == pytest.approx(90)
    assert angle_of(0, 1) == pytest.approx(180)
    assert angle_of(-1, 0) == pytest.approx(270)
    for a in (0.0, 12.5, 181.0, 359.0):
        assert angle_of(*direction(a)) == pytest.approx(a)


@pytest.mark.parametrize(
    ("angle", "expected"),
    [(225.0, 0.0), (270.0, 1 / 6), (359.0, 134 / 270), (0.0, 0.5), (1.0, 136 / 270), (135.0, 1.0)],
)
def test_sweep_crossing_twelve_oclock(angle, expected):
    # the usual 270-degree pressure gauge: min at 7:30, max at 4:30, crossing 12 o'clock
    fraction, ok = angle_to_fraction(angle, 225.0, 270.0)
    assert ok
    assert fraction == pytest.approx(expected)


def test_counter_clockwise_scale():
    # min at 4:30, running counter-clockwise over 12 o'clock to 7:30
    scale = Scale(135.0, -270.0, 0.0, 100.0)
    assert scale.value_at(135.0)[0] == pytest.approx(0.0)
    assert scale.value_at(90.0)[0] == pytest.approx(100 * 45 / 270)
    assert scale.value_at(0.0)[0] == pytest.approx(50.0)
    assert scale.value_at(225.0)[0] == pytest.approx(100.0)


def test_dead_zone_clamps_to_the_nearer_end():
    scale = Scale(225.0, 270.0, -1.0, 3.0)
    # dead zone is 135..225 (the bottom); 140 is just past the end, 220 just before the start
    assert scale.value_at(140.0) == (3.0, False)
    assert scale.value_at(220.0) == (-1.0, False)
    assert scale.value_at(137.0, tolerance_deg=4.0) == (3.0, True)
    assert scale.value_at(181.0)[0] == -1.0  # nearer the start (44 deg) than the end (46 deg)
    assert scale.value_at(179.0)[0] == 3.0


def test_full_circle_has_no_dead_zone():
    scale = Scale(0.0, 360.0, 0.0, 10.0)
    assert scale.value_at(359.9)[0] == pytest.approx(9.9972, abs=1e-3)
    assert scale.value_at(90.0) == (pytest.approx(2.5), True)
    ccw = Scale(0.0, -360.0, 0.0, 10.0)
    assert ccw.value_at(90.0)[0] == pytest.approx(7.5)


def test_non_linear_table():
    # a square-root flow scale: value grows slower at the top
    table = [(0.0, 0.0), (90.0, 50.0), (180.0, 80.0), (270.0, 100.0)]
    scale = Scale(225.0, 270.0, 0.0, 100.0, table=table)
    assert scale.value_at(225.0)[0] == pytest.approx(0.0)
    assert scale.value_at(270.0)[0] == pytest.approx(25.0)  # 45 deg along: half of the first leg
    assert scale.value_at(45.0)[0] == pytest.approx(80.0)  # 180 deg along
    assert scale.value_at(90.0)[0] == pytest.approx(90.0)
    with pytest.raises(ValueError):
        Scale(0, 90, table=[(0.0, 1.0)])


def test_scale_direction_from_the_quarter_point():
    c = (0.0, 0.0)

    def at(a):
        return direction(a)

    # clockwise 270 from 225
    assert scale_from_keypoints(c, at(225), at(135), at(292.5)) == (
        pytest.approx(225),
        pytest.approx(270),
    )
    # counter-clockwise 270 from 135
    assert scale_from_keypoints(c, at(135), at(225), at(67.5)) == (
        pytest.approx(135),
        pytest.approx(-270),
    )
    # a short 90-degree arc crossing 12 o'clock
    assert scale_from_keypoints(c, at(315), at(45), at(337.5)) == (
        pytest.approx(315),
        pytest.approx(90),
    )
    # full circles: start and end coincide, the quarter point gives the direction
    assert scale_from_keypoints(c, at(0), at(0.5), at(90))[1] == 360
    assert scale_from_keypoints(c, at(0), at(359.5), at(270))[1] == -360


def _tilted_projection(tilt_deg: float, axis_deg: float, rotation_deg: float, depth: float = 0.0):
    """Image of a dial-plane point (x, y) for a dial tilted about an in-plane axis; depth 0 =
    orthographic, else a pinhole at ``depth`` radii."""
    t, a, r = (math.radians(v) for v in (tilt_deg, axis_deg, rotation_deg))
    axis = np.array([math.cos(a), math.sin(a), 0.0])
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * (k @ k)
    spin = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])

    def project(p):
        q = rot @ spin @ np.array([p[0], p[1], 0.0])
        if depth:
            return np.array(
                [
                    300 + 100 * q[0] * depth / (depth + q[2]),
                    200 + 100 * q[1] * depth / (depth + q[2]),
                ]
            )
        return np.array([300 + 100 * q[0], 200 + 100 * q[1]])

    return project


@pytest.mark.parametrize(
    ("tilt", "axis", "depth", "tol"),
    [(40, 30, 0.0, 0.05), (45, 110, 0.0, 0.05), (35, 70, 8.0, 1.5)],
)
def test_perspective_correction_recovers_dial_angles(tilt, axis, depth, tol):
    project = _tilted_projection(tilt, axis, rotation_deg=0.0, depth=depth)
    rim = np.array([project(direction(a)) for a in np.arange(0, 360, 10)])
    fit = fit_ellipse(rim)
    assert fit is not None
    a = circle_transform(fit[1])
    centre = project((0.0, 0.0))
    worst_raw, worst = 0.0, 0.0
    for true in (0.0, 37.0, 100.0, 225.0, 300.0):
        p = project(np.array(direction(true)) * 0.8)
        start = project(np.array(direction(225.0)) * 0.8)
        raw = (angle_of(*(p - centre)) - angle_of(*(start - centre))) % 360
        q, s = a @ (p - centre), a @ (start - centre)
        got = (angle_of(*q) - angle_of(*s)) % 360
        want = (true - 225.0) % 360
        worst = max(worst, abs((got - want + 180) % 360 - 180))
        worst_raw = max(worst_raw, abs((raw - want + 180) % 360 - 180))
    assert worst < tol
    assert worst_raw > 5 * tol  # the correction is what makes it right


def test_ellipse_fit_rejects_non_ellipses():
    assert fit_ellipse(np.array([[0, 0], [1, 1], [2, 2], [3, 3], [4, 4], [5, 5]], float)) is None
    assert fit_ellipse(np.zeros((3, 2))) is None


def _reading(value):
    return GaugeReading(value, 0.9, "ok", 0.0, {})


def test_tracker_smooths_and_rejects_implausible_jumps():
    tr = GaugeTracker(alpha=0.5, max_rate=1.0, accept_after=3)
    assert tr.update(_reading(10.0), 0.0).value == 10.0
    assert tr.update(_reading(10.4), 1.0).value == pytest.approx(10.2)
    jump = tr.update(_reading(50.0), 2.0)
    assert jump.quality == "low_confidence" and jump.value == pytest.approx(10.2)
    tr.update(_reading(50.0), 2.1)
    accepted = tr.update(_reading(50.0), 2.2)  # third time in a row: it really moved
    assert accepted.value == 50.0
    unreadable = GaugeReading(None, 0.0, "unreadable", None, {})
    assert tr.update(unreadable, 3.0).value is None


def test_tracker_averages_one_models_readings_only():
    """A dial read sometimes by the keypoints (unsure, far off) and sometimes by the panel
    model (sure): a sure reading is never half the other model's guess."""

    def reading(value, quality="ok", reader=None):
        extra = {} if reader is None else {"reader": reader}
        return GaugeReading(value, 0.9, quality, 0.0, {}, extra=extra)

    tr = GaugeTracker(alpha=0.5)
    tr.update(reading(1.0, "low_confidence"), 0.0)
    tr.update(reading(1.0, "low_confidence"), 1.0)
    assert tr.update(reading(3.0, reader="panel"), 2.0).value == 3.0  # started afresh
    assert tr.update(reading(3.2, reader="panel"), 3.0).value == pytest.approx(3.1)
    assert tr.update(reading(1.0, "low_confidence"), 4.0).value == 1.0
    # the rate check still holds across models: an implausible change is held back
    held = GaugeTracker(alpha=0.5, max_rate=0.1)
    held.update(reading(3.0, reader="panel"), 0.0)
    doubtful = reading(1.0, "low_confidence")
    doubtful.extra["why"] = "two needle-like pointers"
    got = held.update(doubtful, 1.0)
    assert got.quality == "low_confidence" and got.value == 3.0
    assert got.extra["why"] == (
        "read 1, a change faster than max_rate: the last value kept; two needle-like pointers"
    )


def test_an_unsure_reading_is_not_averaged_into_the_sure_ones_after_it():
    """Smoothing: a low_confidence guess far off is published as read, flagged, and the next
    ok reading starts the average afresh instead of carrying half the guess."""
    tr = GaugeTracker(alpha=0.5)
    assert tr.update(_reading(1.0), 0.0).value == 1.0
    assert tr.update(_reading(1.2), 1.0).value == pytest.approx(1.1)
    guess = tr.update(GaugeReading(9.0, 0.3, "low_confidence", 0.0, {}), 2.0)
    assert guess.value == 9.0 and guess.quality == "low_confidence"
    assert tr.update(GaugeReading(8.0, 0.3, "low_confidence", 0.0, {}), 3.0).value == 8.5
    assert tr.update(_reading(1.0), 4.0).value == 1.0  # not 4.75
    assert tr.update(_reading(1.4), 5.0).value == pytest.approx(1.2)


def test_snap_sweep_keeps_the_arc_middle():
    from edged.pipelines.gauge.reading import snap_sweep

    start, sweep = snap_sweep(228.0, 264.0)  # measured; the dial is a 270-degree one
    assert sweep == 270.0
    assert (start + sweep / 2) % 360 == pytest.approx((228.0 + 132.0) % 360)
    assert snap_sweep(140.0, -266.0) == (pytest.approx(142.0), -270.0)
    assert snap_sweep(10.0, 200.0) == (10.0, 200.0)  # nothing standard near: unchanged
    assert snap_sweep(0.0, 360.0) == (0.0, 360.0)


def test_a_full_circle_dial_is_smoothed_the_short_way_round():
    """A meter's sub-dial turning on from 9.9 to 0.1 moved 0.2, not 9.8: the average stays
    near 0 and the rate check sees 0.2 per second."""

    def reading(v):
        return GaugeReading(v, 0.9, "ok", 0.0, {})

    plain = GaugeTracker(alpha=0.5)
    plain.update(reading(9.9), 0.0)
    assert plain.update(reading(0.1), 1.0).value == pytest.approx(5.0)  # what a scale does
    dial = GaugeTracker(alpha=0.5, max_rate=1.0, wrap=(0.0, 10.0))
    dial.update(reading(9.9), 0.0)
    got = dial.update(reading(0.1), 1.0)
    assert got.quality == "ok" and got.value == pytest.approx(0.0, abs=1e-9)
    got = dial.update(reading(0.3), 2.0)
    assert got.value == pytest.approx(0.15)
    jump = dial.update(reading(5.0), 3.0)  # half a turn in a second: implausible
    assert jump.quality == "low_confidence" and jump.value == pytest.approx(0.15)
    assert jump.extra["why"] == "read 5, a change faster than max_rate: the last value kept"


def test_a_reading_that_is_not_ok_says_why_in_its_message_and_output():
    """``why`` reaches the person behind a dashboard (the MQTT message, valid against the
    committed schema) and behind ``edged read-gauge`` (``as_dict``) wherever the reading is
    not ``ok``; an ``ok`` reading's message keeps the plain ``edged.gauge/1`` fields."""
    from edged.config import parse_config
    from edged.pipelines.gauge.pipeline import NOT_FOUND_IN_ROI, reading_payload
    from edged.pipelines.gauge.reading import NOT_FOUND

    unsure = GaugeReading(1.0, 0.3, "low_confidence", 10.0, {}, extra={"why": "stale"})
    assert unsure.as_dict()["why"] == "stale"
    unreadable = GaugeReading(None, 0.3, "unreadable", 10.0, {}, extra={"why": "no needle"})
    assert unreadable.as_dict()["why"] == "no needle"
    sure = GaugeReading(1.0, 0.9, "ok", 10.0, {}, extra={"why": "left over"})
    assert "why" not in sure.as_dict()
    text = (
        "sources: [{id: cam0, kind: synthetic}]\n"
        "pipelines: [{id: g, kind: gauge, source: cam0, gauges: [{id: amps, min_value: 0,"
        " max_value: 5}, {id: volts, min_value: 0, max_value: 5, roi: [0, 0, 40, 40]}]}]\n"
    )
    amps, volts = parse_config(text).pipelines[0].gauges
    fields = {"gauge_id", "value", "unit", "confidence", "angle_deg", "keypoints", "quality"}
    assert set(reading_payload(amps, sure)) == fields
    assert reading_payload(amps, unreadable)["why"] == "no needle"
    assert reading_payload(amps, unsure)["why"] == "stale"
    from edged.pipelines.gauge.pipeline import GaugePipeline

    pipeline = GaugePipeline(parse_config(text).pipelines[0], model=lambda batch: None)
    assert pipeline.read_gauge(amps, None, 0.0).extra["why"] == NOT_FOUND
    assert pipeline.read_gauge(volts, None, 0.0).extra["why"] == NOT_FOUND_IN_ROI
