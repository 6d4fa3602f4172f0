"""The scale direction model's strip, its say in a reading, and the bundled model on renders."""

from __future__ import annotations

import math
import os
import textwrap

import numpy as np
import pytest

from edged.pipelines.gauge.angles import point_at
from edged.pipelines.gauge.decode import Detection, keypoint_arc, read_detection
from edged.pipelines.gauge.reader import GaugeReader
from edged.pipelines.gauge.scale_direction import (
    CCW_SURE,
    INNER,
    OUTER,
    STRIP_H,
    STRIP_W,
    TELLS_APART,
    arc_from_points,
    ccw_from_larger_first,
    larger_end,
    orient_scale,
    scale_strip,
)
from edged.weights import resolve_model

DIRECTION_MODEL = resolve_model("weights/gauge_direction.onnx")
KEYPOINT_MODEL = resolve_model("weights/gauge_kp_w32.onnx")
needs_models = pytest.mark.skipif(
    not (os.path.exists(DIRECTION_MODEL) and os.path.exists(KEYPOINT_MODEL)),
    reason="bundled gauge models not found",
)


def _column_of(strip, channel=2):
    """The strip column (and row) where ``channel`` is brightest."""
    row, col = np.unravel_index(int(np.argmax(strip[channel])), strip[channel].shape)
    return col, row


def _marked(center, radius, angle, to_picture=np.eye(2), size=200):
    """A black picture with one red dot on the arc at ``angle`` (corrected frame)."""
    image = np.zeros((size, size, 3), np.uint8)
    dx, dy = point_at(0.0, 0.0, radius, angle)
    x, y = center + to_picture @ np.array([dx, dy])
    image[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2, 2] = 255
    return image


@pytest.mark.parametrize("squash", [1.0, 0.7])
def test_the_strip_runs_clockwise_from_the_arcs_first_end(squash):
    """A dot at 30 % of the arc shows 30 % of the way between the ends' columns, at the row of
    the scale's radius; through a perspective map too (a dial seen at an angle)."""
    center, radius, first, extent = np.array([100.0, 100.0]), 60.0, 300.0, 120.0
    to_picture = np.array([[1.0, 0.3 * (1.0 - squash)], [0.0, squash]])  # squashed and sheared
    arc = arc_from_points(
        tuple(center),
        tuple(center + to_picture @ np.array(point_at(0, 0, radius, first))),
        tuple(center + to_picture @ np.array(point_at(0, 0, radius, first + extent))),
        to_picture,
    )
    assert arc.first == pytest.approx(first) and arc.extent == pytest.approx(extent)
    assert arc.radius == pytest.approx(radius)
    strip = scale_strip(_marked(center, radius, first + 0.3 * extent, to_picture), arc)
    assert strip.shape == (3, STRIP_H, STRIP_W) and strip.dtype == np.float32
    col, row = _column_of(strip)
    margin = 0.1 * extent + 8.0
    expected = (margin + 0.3 * extent) / (extent + 2 * margin) * (STRIP_W - 1)
    assert col == pytest.approx(expected, abs=2)
    assert row == pytest.approx((OUTER - 1.0) / (OUTER - INNER) * (STRIP_H - 1), abs=1.5)


def test_a_grey_or_bgra_picture_gives_the_same_strip_shape():
    arc = arc_from_points((50.0, 50.0), (20.0, 60.0), (80.0, 60.0))
    grey = np.full((100, 100), 128, np.uint8)
    assert scale_strip(grey, arc).shape == (3, STRIP_H, STRIP_W)
    assert scale_strip(np.zeros((100, 100, 4), np.uint8), arc).shape == (3, STRIP_H, STRIP_W)


@pytest.mark.parametrize(
    ("start", "sweep", "ccw", "expected"),
    [
        (225.0, 270.0, 0.95, (135.0, -270.0)),  # sure it runs the other way: turned round
        (135.0, -270.0, 0.02, (225.0, 270.0)),  # sure it runs clockwise: turned back
        (225.0, 270.0, 0.02, (225.0, 270.0)),  # agrees: unchanged
        (225.0, 270.0, 0.5, (225.0, 270.0)),  # unsure: the keypoints' direction stands
        (0.0, 360.0, 0.99, (0.0, 360.0)),  # a full circle has no ends to swap
    ],
)
def test_orient_scale_turns_only_where_the_model_is_sure(start, sweep, ccw, expected):
    got = orient_scale(start, sweep, ccw)
    assert got[0] == pytest.approx(expected[0]) and got[1] == pytest.approx(expected[1])


def _detection(fraction_cw, extra=None):
    """A dial whose keypoints place a clockwise 270-degree scale, needle at ``fraction_cw``."""
    c = (100.0, 100.0)
    kp = {
        "center": (*c, 0.9),
        "start": (*point_at(*c, 60, 225.0), 0.9),
        "end": (*point_at(*c, 60, 135.0), 0.9),
        "quarter": (*point_at(*c, 60, 225.0 + 0.25 * 270), 0.9),
        "tip": (*point_at(*c, 55, 225.0 + fraction_cw * 270), 0.9),
    }
    return Detection(kp, {"tip": 0.9}, extra=dict(extra or {}))


def test_a_sure_direction_model_mirrors_the_keypoint_scale():
    sure = CCW_SURE + 0.01
    plain = read_detection(_detection(0.2), 0, 100)
    assert plain.value == pytest.approx(20.0, abs=0.5)
    # the larger numbers at the arc's first end of a 0..100 scale: it runs counter-clockwise
    turned = read_detection(_detection(0.2, {"scale_larger_first": sure}), 0, 100)
    assert turned.value == pytest.approx(80.0, abs=0.5) and turned.sweep == pytest.approx(-270)
    # turning the scale is no doubt about it: the keypoints agree with one another
    assert plain.quality == turned.quality == "ok"
    assert abs(turned.extra["quarter_off"]) < 0.01
    unsure = read_detection(_detection(0.2, {"scale_larger_first": 0.6}), 0, 100)
    assert unsure.value == pytest.approx(20.0, abs=0.5)
    # a configured scale is the user's word: the model's is not asked
    given = read_detection(_detection(0.2, {"scale_larger_first": sure}), 0, 100, 225.0, 270.0)
    assert given.value == pytest.approx(20.0, abs=0.5)


def test_on_a_vacuum_scale_the_larger_numbers_mark_the_minimum():
    """-100..0: the larger numbers are the minimum's, so at the first end they mean clockwise."""
    sure = CCW_SURE + 0.01
    first = read_detection(_detection(0.2, {"scale_larger_first": sure}), -100, 0)
    assert first.value == pytest.approx(-80.0, abs=0.5) and first.sweep == pytest.approx(270)
    last = read_detection(_detection(0.2, {"scale_larger_first": 1 - sure}), -100, 0)
    assert last.value == pytest.approx(-20.0, abs=0.5) and last.sweep == pytest.approx(-270)
    # -50..50: both ends as large, the numbers' size tells nothing; the keypoints stand
    even = read_detection(_detection(0.2, {"scale_larger_first": sure}), -50, 50)
    assert even.value == pytest.approx(-30.0, abs=0.5)


@pytest.mark.parametrize(
    ("lo", "hi", "end", "told_apart"),
    [
        (0, 100, "max", True),
        (-1, 3, "max", True),
        (-25, 0, "min", True),
        (-50, 50, None, False),
        (6000, 6100, "max", False),  # look alike at a glance: the reader does not ask
    ],
)
def test_larger_end(lo, hi, end, told_apart):
    assert larger_end(lo, hi) == end
    ccw = ccw_from_larger_first(0.8, lo, hi)
    if not told_apart:
        assert ccw is None and larger_end(lo, hi, TELLS_APART) is None
    else:
        assert ccw == pytest.approx(0.8 if end == "max" else 0.2)


def test_keypoint_arc_is_the_scale_read_detection_uses():
    arc = keypoint_arc(_detection(0.5))
    assert arc is not None
    assert arc.first == pytest.approx(225.0) and arc.extent == pytest.approx(270.0)
    assert arc.radius == pytest.approx(60.0)
    ends_only = _detection(0.5)
    del ends_only.keypoints["end"]
    assert keypoint_arc(ends_only) is None


class _Recording:
    """A direction model that records its strips and says: the larger numbers come first."""

    def __init__(self, logit=4.0):
        self.logit, self.batches = logit, []

    def __call__(self, strips):
        self.batches.append(strips.shape)
        return (np.full((len(strips), 1), self.logit, np.float32),)


def test_the_reader_asks_the_direction_model_only_without_a_scale():
    det = _detection(0.2)
    no_ends = _detection(0.3)
    del no_ends.keypoints["start"]
    model = _Recording()
    reader = GaugeReader(lambda batch: None, direction=model)
    reader.orient(np.zeros((200, 200, 3), np.uint8), [det, no_ends])
    assert model.batches == [(1, 3, STRIP_H, STRIP_W)]
    assert det.extra["scale_larger_first"] == pytest.approx(1 / (1 + math.exp(-4.0)))
    assert "scale_larger_first" not in no_ends.extra
    unasked = _detection(0.1)
    GaugeReader(lambda batch: None).orient(np.zeros((8, 8, 3), np.uint8), [unasked])
    assert "scale_larger_first" not in unasked.extra


@needs_models
def test_the_bundled_model_tells_which_end_of_held_out_renders_has_the_larger_numbers():
    """Rendered dials of held-out styles and seeds, cut along their true arcs: the model is
    sure and right on most, and sure and wrong on none of these."""
    from edged.pipelines.gauge.direction_train import jittered_strip, larger_first
    from edged.pipelines.gauge.reader import ScaleDirectionModel
    from edged.pipelines.gauge.synth import render_sample

    strips, truth = [], []
    for i in range(60):
        direction = "ccw" if i % 2 else "cw"
        seed = 7_100_000_000_000 + i
        image, labels = render_sample(
            seed, size=224, split="heldout", mode="crop", direction=direction
        )
        if larger_end(labels[-1].min_value, labels[-1].max_value, TELLS_APART) is None:
            continue  # the reader would not ask
        strips.append(jittered_strip(image, labels[-1], np.random.default_rng(i), jitter=0.0))
        truth.append(larger_first(labels[-1]))
    model = ScaleDirectionModel(DIRECTION_MODEL)
    try:
        (logits,) = model(np.stack(strips))
    finally:
        model.close()
    p = 1 / (1 + np.exp(-logits[:, 0]))
    truth = np.array(truth)
    sure_right = ((p >= CCW_SURE) & truth) | ((p <= 1 - CCW_SURE) & ~truth)
    sure_wrong = ((p >= CCW_SURE) & ~truth) | ((p <= 1 - CCW_SURE) & truth)
    assert len(truth) >= 45
    assert sure_right.mean() >= 0.5, p.round(2)
    assert sure_wrong.sum() <= 1, p.round(2)


def _pipeline_config(scaled_b: bool) -> str:
    b = "{id: b, min_value: 0, max_value: 4"
    b += ", start_angle: 225, sweep: 270}" if scaled_b else "}"
    return textwrap.dedent(
        f"""
        sources: [{{id: cam0, kind: synthetic}}]
        pipelines:
          - id: g
            kind: gauge
            source: cam0
            direction_model: my/direction.onnx
            gauges:
              - {{id: a, min_value: 0, max_value: 10, start_angle: 225, sweep: 270}}
              - {b}
        """
    )


def test_the_direction_model_is_off_by_default(monkeypatch):
    import edged.pipelines.gauge.pipeline as gp
    from edged.config import parse_config
    from edged.pipelines import create_pipeline

    text = _pipeline_config(False).replace("direction_model: my/direction.onnx", "")
    monkeypatch.setattr(gp, "KeypointModel", lambda *a, **k: lambda batch: None)
    monkeypatch.setattr(gp, "ScaleDirectionModel", lambda *a, **k: pytest.fail("loaded"))
    pipe = create_pipeline(parse_config(text).pipelines[0])
    pipe.open()
    assert pipe.unscaled == set() and pipe.config.direction_model is None


def test_a_direction_model_that_does_not_load_is_named_and_the_dials_are_read_on(tmp_path):
    import edged.pipelines.gauge.pipeline as gp
    from edged.config import parse_config

    bad = tmp_path / "direction.onnx"
    bad.write_bytes(b"not an onnx model")
    text = _pipeline_config(False).replace("my/direction.onnx", str(bad))
    pipe = gp.GaugePipeline(parse_config(text).pipelines[0], model=lambda batch: None)
    pipe.open()
    assert pipe.reader is not None and pipe.reader.direction is None
    assert str(bad) in pipe.describe()["direction_model_error"]


@pytest.mark.parametrize("scaled_b", [False, True])
def test_the_pipeline_loads_the_direction_model_only_for_a_dial_without_a_scale(
    monkeypatch, scaled_b
):
    import edged.pipelines.gauge.pipeline as gp
    from edged.config import parse_config
    from edged.pipelines import create_pipeline

    loaded = []
    monkeypatch.setattr(gp, "KeypointModel", lambda *a, **k: lambda batch: None)
    monkeypatch.setattr(gp, "ScaleDirectionModel", lambda path, *a, **k: loaded.append(path))
    pipe = create_pipeline(parse_config(_pipeline_config(scaled_b)).pipelines[0])
    pipe.open()
    if scaled_b:
        assert loaded == [] and pipe.unscaled == set()
        assert "direction_model" not in pipe.describe()
    else:
        assert loaded == [gp.resolve_model("my/direction.onnx")] and pipe.unscaled == {"b"}
        assert pipe.describe()["direction_model"] == "my/direction.onnx"


def _clean_dial(tmp_path, start, sweep, lo, hi, value):
    import cv2

    from edged.pipelines.gauge.synth import GaugeSpec, Placement, render_gauges

    spec = GaugeSpec(
        start_angle=start, sweep=sweep, min_value=lo, max_value=hi, value=value, seed=1
    )
    image, _ = render_gauges(
        np.random.default_rng(1), 300, 260, [spec], [Placement(150, 130, 100)], clean=True
    )
    path = str(tmp_path / "g.png")
    cv2.imwrite(path, image)
    return path


def _read(path, lo, hi, capsys, *more):
    import json

    from edged.cli import main

    assert main(["read-gauge", path, "--min", str(lo), "--max", str(hi), *more]) == 0
    return json.loads(capsys.readouterr().out)["value"]


@needs_models
@pytest.mark.parametrize(
    ("start", "sweep", "lo", "hi", "value", "with_model", "keypoints_alone"),
    [
        # counter-clockwise: the keypoints read it mirrored
        (45.0, -270.0, 0.0, 10.0, 3.0, 3.0, 7.0),
        # counter-clockwise, the keypoints' quarter point on the mirrored side (75 % along
        # their scale): a scale that contradicts itself is not read on, either way
        (135.0, -270.0, 0.0, 100.0, 30.0, None, None),
        # a clockwise vacuum scale: left as it is
        (225.0, 270.0, -1.0, 0.0, -0.7, -0.7, -0.7),
    ],
)
def test_read_gauge_reads_the_scale_direction_from_the_numbers(
    tmp_path, capsys, start, sweep, lo, hi, value, with_model, keypoints_alone
):
    path = _clean_dial(tmp_path, start, sweep, lo, hi, value)
    span = hi - lo
    got = _read(path, lo, hi, capsys, "--direction-model", DIRECTION_MODEL)
    alone = _read(path, lo, hi, capsys)  # the default: no direction model
    for read, expected in ((got, with_model), (alone, keypoints_alone)):
        if expected is None:
            assert read is None
        else:
            assert read == pytest.approx(expected, abs=0.03 * span)


def test_read_asks_the_direction_model_only_where_its_answer_is_used(monkeypatch):
    from edged.pipelines.gauge.reader import ReadOptions

    model = _Recording()
    reader = GaugeReader(lambda batch: None, direction=model)
    monkeypatch.setattr(reader, "locate", lambda image, most: [_detection(0.2)])
    image = np.zeros((200, 200, 3), np.uint8)
    reader.read(image, ReadOptions(-50, 50))  # ends as large: the answer would not count
    reader.read(image, ReadOptions(0, 100, 225.0, 270.0))  # the scale is given
    assert model.batches == []
    (reading,) = reader.read(image, ReadOptions(0, 100))
    assert len(model.batches) == 1 and reading.value == pytest.approx(80.0, abs=0.5)
