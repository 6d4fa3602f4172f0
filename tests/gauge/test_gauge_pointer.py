"""The pointer model's reader: direction classes, scales, ``reader: auto``, the pipeline, the
CLI, and the bundled model on held-out renders and on real meter photos."""

from __future__ import annotations

import json
import os
import textwrap
import time

import numpy as np
import pytest

from edged.config import ConfigError, parse_config
from edged.frames import Frame
from edged.pipelines import create_pipeline
from edged.pipelines.gauge.pipeline import resolve_model
from edged.pipelines.gauge.pointer_model import BINS, decode_bins
from edged.pipelines.gauge.pointer_reader import PointerReader, prefers_pointer
from edged.pipelines.gauge.reader import ReadOptions

POINTER_MODEL = resolve_model("weights/gauge_pointer.onnx")
needs_model = pytest.mark.skipif(
    not os.path.exists(POINTER_MODEL), reason=f"no trained pointer model at {POINTER_MODEL}"
)
REAL = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "testdata", "gauges-real"
)


def peaked(angle: float, width_bins: float = 1.0) -> np.ndarray:
    """Logits of a confident direction class distribution around ``angle``."""
    centres = (np.arange(BINS) + 0.5) * 360.0 / BINS
    d = (centres - angle + 180.0) % 360.0 - 180.0
    return -0.5 * (d / (width_bins * 360.0 / BINS)) ** 2


def marked(h=100, w=100, *channels):
    """A blank crop whose left edge is bright, so a model can tell it from its mirror."""
    crop = np.zeros((h, w, *channels), np.uint8)
    crop[:, : max(2, w // 8)] = 255
    return crop


class FixedModel:
    """The model seam (batch -> pointer, zero, ccw logits, and with ``end`` the end's)
    answering set directions for a ``marked`` crop, and their mirror images for the crop's
    mirror image (as a model that sees the pointer would)."""

    def __init__(self, pointer: float, zero: float = 0.0, ccw: float = -5.0, flat=False, end=None):
        self.out = (peaked(pointer), peaked(zero), np.array([ccw], np.float32))
        if end is not None:
            self.out += (peaked(end),)
        self.measures_end = end is not None
        self.flat = flat
        self.batches = []

    def __call__(self, batch):
        self.batches.append(batch.shape)
        heads = list(self.out)
        if self.flat:
            heads[0] = np.zeros(BINS)
        mirrored = batch[:, :, :, :8].mean(axis=(1, 2, 3)) < batch[:, :, :, -8:].mean(
            axis=(1, 2, 3)
        )
        rows = [[-h if k == 2 else h[::-1] for k, h in enumerate(heads)] if m else heads
                for m in mirrored]  # fmt: skip
        return tuple(np.stack(col) for col in zip(*rows))


def read(model, opts, crop=None):
    crop = marked() if crop is None else crop
    return PointerReader(model).read_crops([crop], [opts])[0]


@pytest.mark.parametrize("angle", [0.0, 2.5, 93.0, 181.7, 359.0])
def test_direction_classes_decode_below_the_class_width(angle):
    est = decode_bins(peaked(angle))
    assert abs((est.angle - angle + 180) % 360 - 180) < 0.6
    assert est.confidence > 0.9


def test_a_hesitant_model_has_low_confidence():
    two = np.logaddexp(peaked(40.0), peaked(220.0))
    assert decode_bins(two).confidence < 0.6
    assert decode_bins(np.zeros(BINS)).confidence < 0.15


def test_configured_full_circle_scale_gives_the_value_both_ways():
    cw = read(FixedModel(90.0), ReadOptions(0, 10, 0.0, 360.0))
    assert cw.value == pytest.approx(2.5, abs=0.02)
    assert cw.quality == "ok"
    ccw = read(FixedModel(90.0), ReadOptions(0, 10, 0.0, -360.0))
    assert ccw.value == pytest.approx(7.5, abs=0.02)
    upside_down = read(FixedModel(270.0, zero=180.0), ReadOptions(0, 10, 180.0, 360.0))
    assert upside_down.value == pytest.approx(2.5, abs=0.02)


def test_a_slightly_turned_camera_is_corrected_by_the_zero_the_model_sees():
    """Configured 'zero at 12 o'clock' on a camera turned 12 degrees: the start follows the
    dial's own zero; a zero far from the configured one is not trusted."""
    turned = read(FixedModel(102.0, zero=12.0), ReadOptions(0, 10, 0.0, 360.0))
    assert turned.value == pytest.approx(2.5, abs=0.02)
    assert turned.extra["scale"] == "configured, start refined"
    far = read(FixedModel(102.0, zero=60.0), ReadOptions(0, 10, 0.0, 360.0))
    assert far.value == pytest.approx(102.0 / 36.0, abs=0.02)
    assert far.extra["scale"] == "configured"
    plain = PointerReader(FixedModel(102.0, zero=12.0), refine_zero=False)
    got = plain.read_crops([marked(64, 64, 3)], [ReadOptions(0, 10, 0.0, 360.0)])
    assert got[0].value == pytest.approx(102.0 / 36.0, abs=0.02)


def test_an_upright_camera_keeps_its_exact_configured_start():
    """A zero the model sees a few degrees off is its own noise, not a turned camera."""
    r = read(FixedModel(93.0, zero=4.0), ReadOptions(0, 10, 0.0, 360.0))
    assert r.extra["scale"] == "configured"
    assert r.value == pytest.approx(93.0 / 36.0, abs=0.02)


def test_a_model_unsure_of_its_scale_is_low_confidence_not_ok():
    sure = read(FixedModel(200.0, zero=20.0, ccw=6.0), ReadOptions(0, 10))
    assert sure.quality == "ok"
    unsure_direction = read(FixedModel(200.0, zero=20.0, ccw=0.1), ReadOptions(0, 10))
    assert unsure_direction.quality == "low_confidence"
    assert unsure_direction.confidence < 0.1
    assert unsure_direction.as_dict()["why"] == "the pointer's direction or scale is unsure"
    assert "why" not in sure.as_dict()


def test_without_a_scale_the_models_zero_and_direction_are_used():
    r = read(FixedModel(200.0, zero=20.0, ccw=4.0), ReadOptions(0, 10))
    assert r.sweep == -360.0 and r.start_angle == pytest.approx(20.0, abs=0.6)
    assert r.value == pytest.approx(10 - 180.0 / 36.0, abs=0.03)
    assert r.extra["scale"] == "model"


def test_no_clear_direction_is_unreadable_not_a_guess():
    r = read(FixedModel(0.0, flat=True), ReadOptions(0, 10, 0.0, 360.0))
    assert r.value is None and r.quality == "unreadable"
    assert r.as_dict()["why"] == "the pointer's direction is unsure"


def test_a_partial_scale_reads_out_of_range_in_its_dead_zone():
    r = read(FixedModel(180.0), ReadOptions(0, 100, 225.0, 270.0))
    assert r.quality == "out_of_range"
    assert r.as_dict()["why"] == "the pointer points outside the scale"


def test_a_non_square_crop_measures_directions_in_its_own_shape():
    """The model sees every crop squashed to a square; 45 degrees there is steeper in a crop
    twice as tall as wide."""
    r = read(FixedModel(45.0), ReadOptions(0, 360, 0.0, 360.0), marked(200, 100, 3))
    assert r.angle_deg == pytest.approx(np.degrees(np.arctan2(100, 200)), abs=0.6)


def test_many_crops_go_to_the_engine_in_batches_it_was_built_for():
    model = FixedModel(90.0)
    crops = [marked(50, 50, 3)] * 40
    readings = PointerReader(model).read_crops(crops, [ReadOptions(0, 10, 0, 360)] * 40)
    assert model.batches == [(32, 3, 64, 64), (8, 3, 64, 64)] * 2  # each crop and its mirror
    assert len(readings) == 40 and all(r.value == pytest.approx(2.5, abs=0.02) for r in readings)


def test_grey_and_bgra_crops_are_read_too():
    reader = PointerReader(FixedModel(90.0))
    crops = [marked(50, 50), marked(50, 50, 4), marked(50, 50, 1)]
    readings = reader.read_crops(crops, [ReadOptions(0, 10, 0, 360)] * 3)
    assert [r.value for r in readings] == pytest.approx([2.5, 2.5, 2.5], abs=0.02)


def test_keypoints_are_in_frame_pixels():
    reader = PointerReader(FixedModel(90.0))
    r = reader.read_crops(
        [np.zeros((80, 60, 3), np.uint8)], [ReadOptions(0, 10, 0, 360)], [(100, 50)]
    )
    cx, cy, _ = r[0].keypoints["center"]
    tx, ty, _ = r[0].keypoints["tip"]
    assert (cx, cy) == (130.0, 90.0)
    assert tx > cx and ty == pytest.approx(cy, abs=0.5)


@pytest.mark.parametrize(
    ("choice", "w", "h", "sweep", "located", "want"),
    [
        ("auto", 110, 110, 360.0, False, True),  # a small crop of a full-circle dial
        ("auto", 110, 110, -360.0, True, True),
        ("auto", 600, 500, 360.0, True, True),  # a large roi: still one dial
        ("auto", 600, 500, 360.0, False, False),  # a whole photo: find the dial first
        ("auto", 110, 110, 270.0, True, False),  # an ordinary gauge: keypoints read needles
        ("auto", 110, 110, None, True, False),  # no scale: it may be anything
        ("auto", 300, 100, 360.0, True, False),  # not one dial's shape
        ("pointer", 600, 500, None, False, True),
        ("keypoints", 100, 100, 360.0, True, False),
    ],
)
def test_reader_auto_picks_the_pointer_model_for_located_full_circle_dials(
    choice, w, h, sweep, located, want
):
    assert prefers_pointer(choice, w, h, sweep, located) is want


CONFIG = """
sources: [{id: cam0, kind: synthetic}]
pipelines:
  - id: meters
    kind: gauge
    source: cam0
    gauges:
      - {id: x01, min_value: 0, max_value: 10, start_angle: 0, sweep: 360,
         roi: [0, 0, 100, 100]}
      - {id: x001, min_value: 0, max_value: 10, start_angle: 0, sweep: -360,
         roi: [100, 0, 100, 100]}
      - {id: far, min_value: 0, max_value: 10, start_angle: 0, sweep: 360,
         roi: [500, 500, 100, 100]}
"""


def meters_frame():
    """A blank frame whose two meter rois are each ``marked``."""
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:100, 0:12] = frame[:100, 100:112] = 255
    return frame


def test_pipeline_reads_full_circle_rois_with_the_pointer_model_in_one_batch():
    cfg = parse_config(CONFIG).pipelines[0]
    model = FixedModel(90.0)

    def no_keypoints(batch):  # pragma: no cover - must not be called
        raise AssertionError("the keypoint model read a pointer gauge")

    pipe = create_pipeline(cfg)
    pipe._model, pipe._pointer_model = no_keypoints, model
    pipe.open()
    frame = Frame("cam0", 1, time.time(), time.monotonic(), meters_frame())
    result = pipe.process(frame)
    got = {g["gauge_id"]: g for g in result.payload["gauges"]}
    assert got["x01"]["value"] == pytest.approx(2.5, abs=0.02)
    assert got["x001"]["value"] == pytest.approx(7.5, abs=0.02)
    assert got["far"]["quality"] == "unreadable" and got["far"]["value"] is None
    assert model.batches == [(2, 3, 64, 64)] * 2  # the two rois, then their mirror images
    assert set(got["x01"]["keypoints"]) == {"center", "tip", "scale_start", "scale_end"}
    assert pipe.describe()["read_by_pointer_model"] == ["far", "x001", "x01"]
    assert pipe.draw(frame.image, result).shape == frame.image.shape


def test_a_pipeline_of_pointer_gauges_loads_no_keypoint_model(monkeypatch):
    import edged.pipelines.gauge.pipeline as gp

    def keypoint_model(*args, **kwargs):  # pragma: no cover - must not be called
        raise AssertionError("the keypoint model was loaded for pointer gauges only")

    monkeypatch.setattr(gp, "KeypointModel", keypoint_model)
    monkeypatch.setattr(gp, "PointerModel", lambda *a, **k: FixedModel(90.0))
    pipe = create_pipeline(parse_config(CONFIG).pipelines[0])
    pipe.open()
    assert pipe.reader is None and pipe.pointer_reader is not None
    frame = Frame("cam0", 1, time.time(), time.monotonic(), meters_frame())
    assert pipe.process(frame).payload["gauges"][0]["value"] == pytest.approx(2.5, abs=0.02)


def test_reader_pointer_needs_an_roi():
    text = textwrap.dedent(
        """
        sources: [{id: cam0, kind: synthetic}]
        pipelines:
          - {id: g, kind: gauge, source: cam0,
             gauges: [{id: a, min_value: 0, max_value: 10, reader: pointer}]}
        """
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert "set roi" in str(err.value) and "reader" in str(err.value)


@needs_model
def test_bundled_model_reads_held_out_sub_dials():
    from edged.pipelines.gauge.pointer_reader import PointerModel
    from edged.pipelines.gauge.subdial_synth import render_subdial

    reader = PointerReader(PointerModel(POINTER_MODEL))
    errors = []
    for seed in range(40):
        crop, label = render_subdial(6_000_000_000_000 + seed, split="heldout")
        r = reader.read_crops([crop], [ReadOptions(0, 10, label.zero_angle, label.sweep)])[0]
        if r.value is not None:
            d = abs(r.value - label.value)
            errors.append(min(d, 10 - d) * 10)  # % of span
    assert len(errors) >= 36
    assert float(np.median(errors)) < 1.5


@needs_model
def test_read_gauge_cli_reads_a_sub_dial_crop_with_the_pointer_model(tmp_path, capsys):
    import cv2

    from edged.cli import main
    from edged.pipelines.gauge.subdial_synth import render_subdial

    crop, label = render_subdial(6_000_000_000_123, split="heldout", strength=0.3)
    path = str(tmp_path / "dial.png")
    canvas = np.full((300, 400, 3), 90, np.uint8)
    canvas[50 : 50 + crop.shape[0], 70 : 70 + crop.shape[1]] = crop
    cv2.imwrite(path, canvas)
    args = ["read-gauge", path, "--min", "0", "--max", "10", "--start-angle"]
    args += [str(label.zero_angle), "--sweep", str(label.sweep)]
    roi = ["--roi", f"70,50,{crop.shape[1]},{crop.shape[0]}"]
    assert main([*args, *roi]) == 0
    line = json.loads(capsys.readouterr().out)
    d = abs(line["value"] - label.value)
    assert min(d, 10 - d) < 0.3
    assert line["keypoints"]["center"][0] > 70  # frame pixels, not the roi's
    assert main([*args, "--roi", "395,295,50,50"]) == 1  # the roi misses the picture
    assert "outside" in capsys.readouterr().out


@needs_model
@pytest.mark.skipif(
    not os.path.isdir(os.path.join(REAL, "water-meter-dials")),
    reason="the real development photos (../shared/testdata/gauges-real) are not here",
)
def test_bundled_model_reads_real_water_meter_dials():
    """The four upright jomjol crops, labelled by eye (+-0.15 digit): a regression guard on
    real photos, with a margin well above the labels' own uncertainty."""
    import cv2

    from edged.pipelines.gauge.pointer_reader import PointerModel

    reader = PointerReader(PointerModel(POINTER_MODEL))
    folder = os.path.join(REAL, "water-meter-dials")
    with open(os.path.join(folder, "labels.jsonl")) as f:
        items = [json.loads(line) for line in f if "zeiger" in line]
    assert len(items) == 4
    for item in items:
        crop = cv2.imread(os.path.join(folder, item["image"]))
        opts = ReadOptions(0, 10, item["start_angle"], item["sweep"])
        r = reader.read_crops([crop], [opts])[0]
        assert r.value is not None, item["image"]
        d = abs(r.value - item["value"])
        assert min(d, 10 - d) < 0.5, (item["image"], r.value, item["value"])


def test_scene_meters_turn_at_their_roi_and_carry_their_truth():
    from edged.pipelines.gauge.scene import GaugeScene

    scene = GaugeScene(720, 320, count=2, seed=0, rate=5, period_s=20, meters=2)
    a, truth_a = scene.render(3)
    b, truth_b = scene.render(40)
    assert [t["id"] for t in truth_a] == ["g0", "g1", "m0", "m1"]
    (x, y, w, h) = scene.meters[0].roi
    assert y + h <= 320 and x + w <= 720
    assert not np.array_equal(a[y : y + h, x : x + w], b[y : y + h, x : x + w])
    assert truth_a[2]["value"] != truth_b[2]["value"]
    assert [m.config()["sweep"] for m in scene.meters] == [360.0, -360.0]
    again, _ = GaugeScene(720, 320, count=2, seed=0, rate=5, period_s=20, meters=2).render(3)
    assert np.array_equal(a, again)


@needs_model
def test_pipeline_reads_the_scene_meters_close_to_the_truth():
    from edged.pipelines.gauge.scene import GaugeScene

    scene = GaugeScene(720, 320, count=1, seed=0, rate=5, period_s=20, meters=2)
    gauges = [m.config() for m in scene.meters]
    text = textwrap.dedent(
        """
        sources: [{id: cam0, kind: synthetic, scene: gauges, meters: 2}]
        pipelines:
          - {id: m, kind: gauge, source: cam0, pointer_model: %s, gauges: %s}
        """
    ) % (POINTER_MODEL, json.dumps(gauges))
    pipe = create_pipeline(parse_config(text).pipelines[0])
    pipe.open()
    errors = []
    for n in range(0, 100, 10):
        image, truth = scene.render(n)
        result = pipe.process(Frame("cam0", n, time.time(), time.monotonic(), image))
        for g in result.payload["gauges"]:
            want = next(t["value"] for t in truth if t["id"] == g["gauge_id"])
            assert g["value"] is not None
            d = abs(g["value"] - want)
            errors.append(min(d, 10 - d))
    pipe.close()
    assert float(np.median(errors)) < 0.2  # digits of a 0-10 dial


class MirrorAwareModel:
    """Answers 90 degrees for a crop whose left half is brighter, else 270 (its mirror)."""

    def __call__(self, batch):
        n = batch.shape[0]
        left = batch[:, :, :, :32].mean(axis=(1, 2, 3)) > batch[:, :, :, 32:].mean(axis=(1, 2, 3))
        p = np.stack([peaked(90.0 if b else 270.0) for b in left])
        return p, np.tile(peaked(0.0), (n, 1)), np.full((n, 1), -5.0)


def test_flip_averages_a_crop_with_its_mirror_image():
    crop = np.zeros((64, 64, 3), np.uint8)
    crop[:, :32] = 200
    opts = [ReadOptions(0, 10, 0, 360)]
    # a model that mirrors its answer with the crop: the two views agree
    agreeing = PointerReader(MirrorAwareModel(), flip=True).read_crops([crop], opts)[0]
    assert agreeing.value == pytest.approx(2.5, abs=0.02) and agreeing.quality == "ok"
    assert "views_disagree" not in agreeing.extra
    # one that gives the same direction for the mirror: the views disagree (90 against 270
    # degrees), so they are not averaged: the crop's own view is read, and never as ok
    fixed = PointerReader(FixedModel(90.0), flip=True).read_crops([np.zeros_like(crop)], opts)[0]
    assert fixed.value == pytest.approx(2.5, abs=0.02) and fixed.quality == "low_confidence"
    assert fixed.extra["views_disagree"] is True


class OffsetMirrorModel:
    """Sees the pointer at 90 degrees in a crop and ``offset`` degrees further clockwise in
    its mirror image (mirrored back): two views a little or far apart."""

    def __init__(self, offset: float):
        self.offset = offset

    def __call__(self, batch):
        n = batch.shape[0]
        left = batch[:, :, :, :32].mean(axis=(1, 2, 3)) > batch[:, :, :, 32:].mean(axis=(1, 2, 3))
        seen = [90.0 if b else (360.0 - 90.0 - self.offset) for b in left]
        return (
            np.stack([peaked(a) for a in seen]),
            np.tile(peaked(0.0), (n, 1)),
            np.full((n, 1), -5.0),
        )


@pytest.mark.parametrize("offset, averaged", [(6.0, True), (14.0, False), (120.0, False)])
def test_views_are_averaged_only_where_they_agree(offset, averaged):
    from edged.pipelines.gauge.pointer_reader import FLIP_AGREE_DEG

    assert 6.0 < FLIP_AGREE_DEG < 14.0
    crop = np.zeros((64, 64, 3), np.uint8)
    crop[:, :32] = 200
    r = PointerReader(OffsetMirrorModel(offset)).read_crops([crop], [ReadOptions(0, 360, 0, 360)])[
        0
    ]
    if averaged:  # half-way between the two views, read as sure as they are
        assert r.value == pytest.approx(90.0 + offset / 2, abs=1.0) and r.quality == "ok"
    else:  # the crop's own view, flagged
        assert r.value == pytest.approx(90.0, abs=1.0) and r.quality == "low_confidence"
        assert r.extra["views_disagree"] is True
