"""``reader: panel``: panel meters read from their roi by the panel model (the pointer network
trained on panel meters): the config's rules, the pipeline's batches, the CLI, and the bundled
model on held-out renders and on the real panel meters whose scale is labelled."""

from __future__ import annotations

import json
import os
import textwrap
import time

import numpy as np
import pytest
from test_gauge_pointer import REAL, FixedModel, marked

from edged.config import ConfigError, parse_config
from edged.frames import Frame
from edged.pipelines import create_pipeline
from edged.pipelines.gauge.pipeline import resolve_model
from edged.pipelines.gauge.pointer_reader import (
    MIN_WINDOW,
    ZOOM,
    ZOOM_STEPS,
    PointerModel,
    PointerReader,
    _sub_windows,
)
from edged.pipelines.gauge.reader import ReadOptions

PANEL_MODEL = resolve_model("weights/gauge_panel_pointer.onnx")
needs_model = pytest.mark.skipif(
    not os.path.exists(PANEL_MODEL), reason=f"no trained panel model at {PANEL_MODEL}"
)


def config(gauges: str) -> str:
    return textwrap.dedent(
        """
        sources: [{id: cam0, kind: synthetic}]
        pipelines:
          - {id: g, kind: gauge, source: cam0, gauges: %s}
        """
        % gauges
    )


def test_reader_panel_needs_an_roi_but_not_the_scale():
    with pytest.raises(ConfigError) as err:
        parse_config(config("[{id: a, min_value: 0, max_value: 5, reader: panel}]"))
    assert "set roi" in str(err.value) and "reader" in str(err.value)
    # min and max alone: the panel model sees where the scale begins and ends
    only_min_max = "[{id: a, min_value: 0, max_value: 5, reader: panel, roi: [0, 0, 90, 60]}]"
    (gauge,) = parse_config(config(only_min_max)).pipelines[0].gauges
    assert gauge.reader == "panel" and gauge.sweep is None


def read_panel(model, opts=None):
    # the roi as a whole: these fakes answer a window as they answer the roi
    reader = PointerReader(model, kind="panel", search=False)
    return reader.read_crops([marked()], [opts or ReadOptions(0, 5)])[0]


def test_a_panel_meter_given_min_and_max_reads_on_the_scale_the_model_sees():
    # the needle straight up on a scale from 315 to 45 degrees: half-way (within a degree:
    # the fake's peaks fall between two classes, which the decoder reads a little off)
    r = read_panel(FixedModel(0.0, zero=315.0, end=45.0))
    assert r.value == pytest.approx(2.5, abs=0.06) and r.quality == "ok"
    assert (r.start_angle, r.sweep) == (pytest.approx(315.0, abs=1), pytest.approx(90.0, abs=1))
    assert r.extra["scale"] == "model" and r.extra["end_angle"] == pytest.approx(45.0, abs=1)
    # both ends found, the crop and its mirror image agreeing on them
    assert min(r.extra["zero_confidence"], r.extra["end_confidence"]) > 0.9
    # an 84-degree scale is a 90-degree one measured a little off: snapped, its middle kept
    r = read_panel(FixedModel(20.0, zero=318.0, end=42.0))
    assert r.sweep == 90.0 and r.start_angle == pytest.approx(315.0, abs=1)
    assert r.value == pytest.approx(5 * 65 / 90, abs=0.06)
    unsnapped = ReadOptions(0, 5)
    unsnapped.snap_sweep = False
    r = read_panel(FixedModel(20.0, zero=318.0, end=42.0), unsnapped)
    assert r.sweep == pytest.approx(84.0, abs=1)
    # a model unsure which end is which (both heads at both ends, as on a crop too small to
    # read its numbers): the clockwise arc under 180 degrees tells them apart
    unsure = FixedModel(20.0, zero=315.0, end=45.0)
    pointer, zero, ccw, end = unsure.out
    both = np.logaddexp(zero, end)
    unsure.out = (pointer, both, ccw, both)
    r = read_panel(unsure)
    assert (r.start_angle, r.sweep) == (pytest.approx(315.0, abs=1), pytest.approx(90.0, abs=1))
    assert r.value == pytest.approx(5 * 65 / 90, abs=0.06) and r.quality == "ok"
    # a configured scale wins over the measured one
    r = read_panel(FixedModel(0.0, zero=315.0, end=45.0), ReadOptions(0, 5, 300.0, 120.0))
    assert r.value == pytest.approx(5 * 60 / 120, abs=0.06) and r.extra["scale"] == "configured"


def test_a_panel_reading_without_a_scale_to_read_on_is_unreadable_not_a_guess():
    # the model's two ends on top of each other: it did not tell them apart
    r = read_panel(FixedModel(0.0, zero=0.0, end=10.0))
    assert r.value is None and r.quality == "unreadable"
    assert r.extra["scale"] == "model: its ends not told apart"
    # ends that make no clockwise arc (from 45 back to 315), though the model says clockwise
    r = read_panel(FixedModel(30.0, zero=45.0, end=315.0, ccw=-5.0))
    assert r.value is None and r.quality == "unreadable" and r.confidence < 0.5
    assert r.extra["scale"] == "model: no clockwise scale seen"
    # numbers the model is sure run counter-clockwise: such a meter needs its scale configured,
    # even where its ends, mistaken for each other, would make a clockwise arc
    for end in (315.0, 45.0):
        r = read_panel(FixedModel(30.0, zero=360.0 - end, end=end, ccw=5.0))
        assert r.value is None and r.quality == "unreadable" and r.confidence == 0.0
        assert r.extra["scale"] == "model: counter-clockwise numbers (configure start_angle/sweep)"
        assert r.as_dict()["why"] == f"no scale ({r.extra['scale']})"
    # a model that leans to counter-clockwise: read on the clockwise arc, but not ok
    r = read_panel(FixedModel(0.0, zero=315.0, end=45.0, ccw=0.5))
    assert r.value == pytest.approx(2.5, abs=0.06) and r.quality == "low_confidence"
    assert r.extra["scale"] == "model, direction unsure"
    # a panel model that measures no end (one trained before the end head): no scale at all
    r = read_panel(FixedModel(0.0, zero=315.0))
    assert r.value is None and r.quality == "unreadable"
    assert r.extra["scale"] == "not configured, no end measured"


def test_a_panel_model_without_an_end_is_refused_for_meters_given_only_min_and_max():
    from edged.engines.errors import ModelLoadError

    gauges = (
        "[{id: amps, min_value: 0, max_value: 5, reader: panel, roi: [0, 0, 100, 100]},"
        " {id: volts, min_value: 0, max_value: 300, start_angle: 315, sweep: 90,"
        "  reader: panel, roi: [100, 0, 100, 100]}]"
    )
    pipe = create_pipeline(parse_config(config(gauges)).pipelines[0])
    pipe._panel_model = FixedModel(0.0, zero=315.0)
    with pytest.raises(ModelLoadError) as err:
        pipe.open()
    assert "amps" in str(err.value) and "volts" not in str(err.value)
    assert "start_angle and sweep" in str(err.value)
    pipe = create_pipeline(parse_config(config(gauges)).pipelines[0])
    pipe._panel_model = FixedModel(0.0, zero=315.0, end=45.0)
    pipe.open()
    frame = Frame("cam0", 1, time.time(), time.monotonic(), panels_frame())
    got = {g["gauge_id"]: g for g in pipe.process(frame).payload["gauges"]}
    assert got["amps"]["value"] == pytest.approx(2.5, abs=0.05)
    assert got["volts"]["value"] == pytest.approx(150.0, abs=3.0)


PANELS = config(
    "[{id: amps, min_value: 0, max_value: 5, start_angle: 315, sweep: 90, reader: panel,"
    "  roi: [0, 0, 100, 100]},"
    " {id: volts, min_value: 0, max_value: 300, start_angle: 315, sweep: 90, reader: panel,"
    "  roi: [100, 0, 100, 100]},"
    " {id: x01, min_value: 0, max_value: 10, start_angle: 0, sweep: 360,"
    "  roi: [200, 0, 100, 100]}]"
)


def panels_frame() -> np.ndarray:
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:100, 0:12] = frame[:100, 100:112] = frame[:100, 200:212] = 255
    return frame


def test_pipeline_reads_panels_with_the_panel_model_and_sub_dials_with_the_pointer_model():
    pointer, panel = FixedModel(90.0), FixedModel(0.0, zero=315.0, end=45.0)

    def no_keypoints(batch):  # pragma: no cover - must not be called
        raise AssertionError("the keypoint model read a gauge read from its roi")

    pipe = create_pipeline(parse_config(PANELS).pipelines[0])
    pipe._model, pipe._pointer_model, pipe._panel_model = no_keypoints, pointer, panel
    pipe.open()
    frame = Frame("cam0", 1, time.time(), time.monotonic(), panels_frame())
    got = {g["gauge_id"]: g for g in pipe.process(frame).payload["gauges"]}
    # the needle straight up: half-way along a 90-degree scale from 315
    assert got["amps"]["value"] == pytest.approx(2.5, abs=0.05)
    assert got["volts"]["value"] == pytest.approx(150.0, abs=3.0)
    assert got["x01"]["value"] == pytest.approx(2.5, abs=0.02)
    assert panel.batches == [(2, 3, 64, 64)] * 2  # both panels in one batch (and mirrored)
    assert pointer.batches == [(1, 3, 64, 64)] * 2
    d = pipe.describe()
    assert d["read_by_panel_model"] == ["amps", "volts"] and d["read_by_pointer_model"] == ["x01"]
    assert d["panel_model"] == "weights/gauge_panel_pointer.onnx"


def test_the_panel_model_is_loaded_only_for_panels(monkeypatch):
    import edged.pipelines.gauge.pipeline as gp

    loaded = []

    def model(path, *args, **kwargs):
        loaded.append(os.path.basename(path))
        return FixedModel(0.0)

    monkeypatch.setattr(gp, "PointerModel", model)
    only_sub_dials = config(
        "[{id: x01, min_value: 0, max_value: 10, start_angle: 0, sweep: 360,"
        "  roi: [0, 0, 100, 100]}]"
    )
    gp_pipe = create_pipeline(parse_config(only_sub_dials).pipelines[0])
    gp_pipe.open()
    assert loaded == ["gauge_pointer.onnx"] and gp_pipe.panel_reader is None
    loaded.clear()
    only_panels = config(
        "[{id: amps, min_value: 0, max_value: 5, start_angle: 315, sweep: 90, reader: panel,"
        "  roi: [0, 0, 100, 100]}]"
    )
    pipe = create_pipeline(parse_config(only_panels).pipelines[0])
    pipe._model = lambda batch: pytest.fail("the keypoint model was used")  # pragma: no cover
    pipe.open()
    assert loaded == ["gauge_panel_pointer.onnx"] and pipe.pointer_reader is None
    reading = pipe.panel_reader.read_crops([marked()], [ReadOptions(0, 5, 315.0, 90.0)])[0]
    assert reading.extra["reader"] == "panel"


@needs_model
def test_read_gauge_cli_refuses_a_panel_model_without_an_end_when_the_scale_is_not_given(
    tmp_path, capsys
):
    import cv2

    from edged.cli import main

    path = str(tmp_path / "meter.png")
    cv2.imwrite(path, np.zeros((60, 80, 3), np.uint8))
    sub_dial_model = resolve_model("weights/gauge_pointer.onnx")  # no end head
    args = ["read-gauge", path, "--min", "0", "--max", "5", "--reader", "panel"]
    assert main([*args, "--panel-model", sub_dial_model]) == 2
    assert "--start-angle" in capsys.readouterr().err


@needs_model
@pytest.mark.parametrize("scale_given", [True, False])
def test_bundled_model_reads_held_out_panel_meters(scale_given):
    from edged.pipelines.gauge.panel_crop import render_panel_crop

    reader = PointerReader(PointerModel(PANEL_MODEL), kind="panel")
    errors = []
    for seed in range(40):
        crop, label = render_panel_crop(6_000_000_000_000 + seed, split="heldout")
        truth = label.label
        opts = ReadOptions(truth.min_value, truth.max_value)
        if scale_given:
            opts.start_angle, opts.sweep = label.zero_angle, truth.sweep
        r = reader.read_crops([crop], [opts])[0]
        if r.value is not None:
            errors.append(abs(r.value - truth.value) / (truth.max_value - truth.min_value) * 100)
            assert r.extra["scale"] == ("configured" if scale_given else "model")
    assert len(errors) >= 36
    assert float(np.median(errors)) < (2.0 if scale_given else 2.5)


@needs_model
def test_read_gauge_cli_reads_a_panel_meter_in_an_roi(tmp_path, capsys):
    import cv2

    from edged.cli import main
    from edged.pipelines.gauge.panel_crop import render_panel_crop

    crop, label = render_panel_crop(6_000_000_000_077, split="heldout")
    truth = label.label
    canvas = np.full((300, 400, 3), 90, np.uint8)
    h, w = crop.shape[:2]
    canvas[40 : 40 + h, 60 : 60 + w] = crop
    path = str(tmp_path / "meter.png")
    cv2.imwrite(path, canvas)
    args = ["read-gauge", path, "--min", str(truth.min_value), "--max", str(truth.max_value)]
    args += ["--start-angle", str(label.zero_angle), "--sweep", str(truth.sweep)]
    assert main([*args, "--reader", "panel", "--roi", f"60,40,{w},{h}"]) == 0
    line = json.loads(capsys.readouterr().out)
    span = truth.max_value - truth.min_value
    assert abs(line["value"] - truth.value) < 0.04 * span
    assert line["keypoints"]["center"][0] > 60  # frame pixels, not the roi's
    # given only min and max, the scale comes from the picture
    assert main([*args[:6], "--reader", "panel", "--roi", f"60,40,{w},{h}"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert abs(line["value"] - truth.value) < 0.04 * span


@needs_model
@pytest.mark.skipif(
    not os.path.isdir(os.path.join(REAL, "panel-meters")),
    reason="the real development photos (../shared/testdata/gauges-real) are not here",
)
def test_bundled_model_reads_real_panel_meters_whose_scale_is_labelled():
    """The ten panel meters whose pivot (and so the scale) could be labelled: a regression
    guard on real photos, far looser than the figures in bench/results/gauge.md."""
    import cv2

    reader = PointerReader(PointerModel(PANEL_MODEL), kind="panel")
    folder = os.path.join(REAL, "panel-meters")
    with open(os.path.join(folder, "labels.jsonl")) as f:
        items = [item for item in map(json.loads, f) if item.get("sweep") is not None]
    assert len(items) == 10
    errors = []
    for item in items:
        crop = cv2.imread(os.path.join(folder, item["image"]))
        opts = ReadOptions(item["min"], item["max"], item["start_angle"], item["sweep"])
        r = reader.read_crops([crop], [opts])[0]
        if r.value is not None:
            errors.append(abs(r.value - item["value"]) / (item["max"] - item["min"]) * 100)
    assert len(errors) >= 7
    assert float(np.mean(errors)) < 6.0


@needs_model
@pytest.mark.skipif(
    not os.path.isdir(os.path.join(REAL, "panel-meters")),
    reason="the real development photos (../shared/testdata/gauges-real) are not here",
)
def test_bundled_model_reads_real_panel_meters_given_only_min_and_max():
    """All 20 real panel meters, each photo its own roi, the scale from the model: a
    regression guard far looser than bench/results/gauge.md (median 1.5 %, none unreadable,
    the readings flagged ``ok`` 1.7 %)."""
    import cv2

    reader = PointerReader(PointerModel(PANEL_MODEL), kind="panel")
    folder = os.path.join(REAL, "panel-meters")
    with open(os.path.join(folder, "labels.jsonl")) as f:
        items = [json.loads(line) for line in f]
    assert len(items) == 20
    errors, ok = [], []
    for item in items:
        crop = cv2.imread(os.path.join(folder, item["image"]))
        r = reader.read_crops([crop], [ReadOptions(item["min"], item["max"])])[0]
        if r.value is not None:
            errors.append(abs(r.value - item["value"]) / (item["max"] - item["min"]) * 100)
            if r.quality == "ok":
                ok.append(errors[-1])
    assert len(errors) >= 18
    assert float(np.median(errors)) < 4.0
    assert ok and float(np.mean(ok)) < 3.0


def test_scene_panels_sit_in_their_roi_with_their_scale():
    from edged.pipelines.gauge.scene import GaugeScene

    scene = GaugeScene(720, 320, count=2, seed=0, rate=5, period_s=20, panels=1)
    a, truth_a = scene.render(3)
    b, truth_b = scene.render(40)
    assert [t["id"] for t in truth_a] == ["g0", "g1", "p0"]
    panel = scene.gauges[2]
    entry = panel.config()
    assert entry["reader"] == "panel" and entry["roi"] == list(panel.roi)
    assert (entry["start_angle"], entry["sweep"]) == (
        pytest.approx(panel.spec.start_angle, abs=0.01),
        pytest.approx(panel.spec.sweep, abs=0.01),
    )
    assert truth_a[2]["value"] == pytest.approx(scene.values(3)[2], abs=1e-3)
    x, y, w, h = panel.roi
    assert x >= 0 and y >= 0 and x + w <= 720 and y + h <= 320 and min(w, h) >= 48
    assert not np.array_equal(a[y : y + h, x : x + w], b[y : y + h, x : x + w])
    assert truth_a[2]["value"] != truth_b[2]["value"]
    assert x >= 480  # the third cell of the row: the panel comes after the dials
    parse_config(config(json.dumps([entry])))  # a valid gauge entry as it stands


@needs_model
def test_pipeline_reads_the_scene_panel_close_to_the_truth():
    from edged.pipelines.gauge.scene import GaugeScene

    scene = GaugeScene(720, 320, count=2, seed=0, rate=5, period_s=20, panels=1)
    entry = scene.gauges[2].config()
    span = entry["max_value"] - entry["min_value"]
    pipe = create_pipeline(parse_config(config(json.dumps([entry]))).pipelines[0])
    pipe.open()
    errors = []
    for n in range(0, 100, 10):
        image, truth = scene.render(n)
        (got,) = pipe.process(Frame("cam0", n, time.time(), time.monotonic(), image)).payload[
            "gauges"
        ]
        assert got["value"] is not None
        errors.append(abs(got["value"] - truth[2]["value"]) / span * 100)
    pipe.close()
    assert float(np.median(errors)) < 3.0  # % of span


class FramingModel(FixedModel):
    """A contract fake of a panel model that is as sure of the directions it answers as its
    input is filled by a bright meter (the real model is sure where the scale fills the
    crop): its logits are ``FixedModel``'s scaled by the bright share of the input."""

    def __call__(self, batch):
        self.batches.append(batch.shape)
        filled = (batch.mean(axis=1) > 127).mean(axis=(1, 2))
        heads = [np.stack([h * f for f in filled]) for k, h in enumerate(self.out) if k != 2]
        ccw = np.tile(self.out[2], (len(batch), 1))
        return (heads[0], heads[1], ccw, heads[2])


def meter_off_centre() -> np.ndarray:
    """A dark 240 px square crop with a bright 80 px "meter" low on its right."""
    crop = np.zeros((240, 240, 3), np.uint8)
    crop[140:220, 150:230] = 255
    return crop


def test_the_panel_reader_searches_an_unsure_roi_for_the_meter_in_it():
    model = FramingModel(0.0, zero=315.0, end=45.0)
    assert PointerReader(model, kind="panel").search  # the default for the panel model
    assert not PointerReader(model).search  # a sub-dial crop is the dial
    whole_only = PointerReader(model, kind="panel", flip=False, search=False)
    opts = ReadOptions(0, 5)
    (whole,) = whole_only.read_crops([meter_off_centre()], [opts], [(100, 50)])
    assert whole.quality != "ok" and "window" not in whole.extra
    model.batches.clear()
    reader = PointerReader(model, kind="panel", flip=False)
    (found,) = reader.read_crops([meter_off_centre()], [opts], [(100, 50)])
    assert found.confidence > whole.confidence and found.value == pytest.approx(2.5, abs=0.06)
    # the window it read, in frame pixels (the roi's origin added), holds the meter
    x, y, w, h = found.extra["window"]
    assert x <= 100 + 150 and y <= 50 + 140 and x + w >= 100 + 230 - 8 and y + h >= 50 + 220 - 8
    assert w < 240 * 0.5 and h < 240 * 0.5  # zoomed in, not the roi
    assert found.keypoints["center"][:2] == [x + w / 2, y + h / 2]
    # the roi, then five windows a step (all crops' in one batch), at most ZOOM_STEPS steps
    assert [b[0] for b in model.batches] == [1] + [5] * (len(model.batches) - 1)
    assert len(model.batches) - 1 <= ZOOM_STEPS


def test_the_search_leaves_sure_readings_and_other_crops_alone():
    model = FramingModel(0.0, zero=315.0, end=45.0)
    reader = PointerReader(model, kind="panel", flip=False)
    filled = np.full((120, 160, 3), 255, np.uint8)  # a meter filling its roi: read sure
    crops = [filled, meter_off_centre(), filled]
    got = reader.read_crops(crops, [ReadOptions(0, 5)] * 3)
    assert got[0].quality == "ok" and got[2].quality == "ok"
    assert "window" not in got[0].extra and "window" not in got[2].extra
    assert "window" in got[1].extra  # (and read sure there)
    # only the unsure crop's windows were read after the first batch
    assert model.batches[0][0] == 3 and all(b[0] == 5 for b in model.batches[1:])


def test_a_remembered_window_read_sure_is_kept_without_a_search():
    """``remembered`` (the window the last frame's search found, in the crop's pixels): a crop
    read unsure is read there first, and where that reads ``ok`` nothing else is read."""
    model = FramingModel(0.0, zero=315.0, end=45.0)
    reader = PointerReader(model, kind="panel", flip=False)
    opts = ReadOptions(0, 5)
    (first,) = reader.read_crops([meter_off_centre()], [opts], [(100, 50)])
    x, y, w, h = first.extra["window"]
    window = (x - 100, y - 50, w, h)  # in the crop's pixels
    model.batches.clear()
    (again,) = reader.read_crops([meter_off_centre()], [opts], [(100, 50)], [window])
    assert [b[0] for b in model.batches] == [1, 1]  # the roi, then the remembered window
    assert again.quality == "ok" and again.extra["window"] == first.extra["window"]
    assert again.keypoints["center"] == first.keypoints["center"]  # the overlay stays put
    assert again.value == pytest.approx(first.value, abs=1e-6)


def test_a_remembered_window_that_reads_unsure_or_lies_outside_is_searched_again():
    model = FramingModel(0.0, zero=315.0, end=45.0)
    reader = PointerReader(model, kind="panel", flip=False)
    opts = ReadOptions(0, 5)
    # the meter moved away from the remembered window (the top left's dark corner)
    (got,) = reader.read_crops([meter_off_centre()], [opts], None, [(0, 0, 80, 80)])
    assert [b[0] for b in model.batches][:3] == [1, 1, 5]  # roi, the window, then the search
    assert got.quality == "ok" and got.extra["window"][0] > 80  # found where it is now
    # a window outside the crop (its roi got smaller), or under the smallest size: not read
    for stale in ((200, 200, 80, 80), (150, 140, MIN_WINDOW - 1, 40)):
        model.batches.clear()
        reader.read_crops([meter_off_centre()], [opts], None, [stale])
        assert [b[0] for b in model.batches][:2] == [1, 5]
    # a crop read sure as a whole is not read again anywhere
    model.batches.clear()
    filled = np.full((120, 160, 3), 255, np.uint8)
    (sure,) = reader.read_crops([filled], [opts], None, [(0, 0, 80, 80)])
    assert sure.quality == "ok" and "window" not in sure.extra and len(model.batches) == 1
    # without the search (the sub-dial model's way), no window is read either
    model.batches.clear()
    plain = PointerReader(model, kind="panel", flip=False, search=False)
    plain.read_crops([meter_off_centre()], [opts], None, [(150, 140, 80, 80)])
    assert len(model.batches) == 1
    # one remembered window (or None) per crop, with the search or without: else refused
    for reader_ in (reader, plain):
        with pytest.raises(ValueError, match="1 crops"):
            reader_.read_crops([meter_off_centre()], [opts], None, [])


def test_the_search_windows_never_go_below_their_smallest_size():
    assert len(_sub_windows((0, 0, 100, 60))) == 5
    for x, y, w, h in _sub_windows((10, 20, 100, 60)):
        assert x >= 10 and x + w <= 110 and y >= 20 and y + h <= 80
        assert (w, h) == (round(100 * ZOOM), round(60 * ZOOM))
    assert _sub_windows((0, 0, MIN_WINDOW, 200)) == []


@needs_model
def test_bundled_model_finds_loose_framed_held_out_panel_meters():
    """Meters framed up to 2x loose, anywhere in the picture (``render_loose_panel``): the
    search reads them closer than the roi as a whole (bench/results/gauge.md, session 13:
    2,000 of them, mean error 5.02 -> 2.12 % of span; session 11's panel model 2.57 %)."""
    from edged.pipelines.gauge.panel_crop import render_loose_panel

    model = PointerModel(PANEL_MODEL)
    whole, searched = [], []
    for seed in range(30):
        picture, label = render_loose_panel(6_000_000_000_000 + seed, "heldout", 2.0)
        truth = label.label
        opts = ReadOptions(truth.min_value, truth.max_value)
        span = truth.max_value - truth.min_value
        for out, search in ((whole, False), (searched, True)):
            r = PointerReader(model, kind="panel", search=search).read_crops([picture], [opts])[0]
            out.append(100.0 if r.value is None else abs(r.value - truth.value) / span * 100)
    assert float(np.mean(searched)) < float(np.mean(whole))
    assert float(np.median(searched)) < 3.0


def test_the_search_keeps_a_value_and_agreeing_views_over_a_surer_window():
    """A window whose reading is surer but has no value, or whose two views disagree, does
    not replace a reading; one no window beats is kept as it was, without a window."""
    from edged.pipelines.gauge.reading import GaugeReading

    def reading(value, confidence, **extra):
        quality = "unreadable" if value is None else "low_confidence"
        return GaugeReading(value, confidence, quality, 0.0, {}, extra=dict(extra))

    scripted = [
        [reading(3.0, 0.30)],  # the roi
        [reading(None, 0.45), reading(1.0, 0.9, views_disagree=True)]
        + [reading(2.0, 0.1)] * 3,  # its five windows: none better
    ]
    reader = PointerReader(FixedModel(0.0), kind="panel", flip=False)
    reader._read_batch = lambda batch: scripted.pop(0)
    (got,) = reader.read_crops([meter_off_centre()], [ReadOptions(0, 5)])
    assert got.value == 3.0 and got.confidence == 0.30 and "window" not in got.extra
    assert scripted == []  # no step after one where no window was better

    scripted = [
        [reading(None, 0.45)],
        [reading(2.0, 0.1)] + [reading(None, 0.9)] * 4,  # one window with a value
        [reading(None, 0.95)] * 5,  # its five windows: none with a value, the search ends
    ]
    reader._read_batch = lambda batch: scripted.pop(0)
    (got,) = reader.read_crops([meter_off_centre()], [ReadOptions(0, 5)])
    assert got.value == 2.0 and got.extra["window"] == [0, 0, 168, 168] and scripted == []
