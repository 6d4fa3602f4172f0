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
from edged.pipelines.gauge.pointer_reader import PointerModel, PointerReader
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


@pytest.mark.parametrize(
    ("gauge", "says"),
    [
        ("{id: a, min_value: 0, max_value: 5, reader: panel, start_angle: 315, sweep: 90}",
         "set roi"),
        ("{id: a, min_value: 0, max_value: 5, reader: panel, roi: [0, 0, 90, 60]}",
         "start_angle and sweep"),
    ],
)  # fmt: skip
def test_reader_panel_needs_an_roi_and_the_scale(gauge, says):
    with pytest.raises(ConfigError) as err:
        parse_config(config(f"[{gauge}]"))
    assert says in str(err.value) and "reader" in str(err.value)


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
    pointer, panel = FixedModel(90.0), FixedModel(0.0, zero=315.0)

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


def test_read_gauge_cli_refuses_reader_panel_without_the_scale(tmp_path, capsys):
    from edged.cli import main

    path = str(tmp_path / "meter.png")
    import cv2

    cv2.imwrite(path, np.zeros((60, 80, 3), np.uint8))
    assert main(["read-gauge", path, "--min", "0", "--max", "5", "--reader", "panel"]) == 2
    assert "--start-angle" in capsys.readouterr().err


@needs_model
def test_bundled_model_reads_held_out_panel_meters():
    from edged.pipelines.gauge.panel_crop import render_panel_crop

    reader = PointerReader(PointerModel(PANEL_MODEL), kind="panel")
    errors = []
    for seed in range(40):
        crop, label = render_panel_crop(6_000_000_000_000 + seed, split="heldout")
        truth = label.label
        opts = ReadOptions(truth.min_value, truth.max_value, label.zero_angle, truth.sweep)
        r = reader.read_crops([crop], [opts])[0]
        if r.value is not None:
            errors.append(abs(r.value - truth.value) / (truth.max_value - truth.min_value) * 100)
    assert len(errors) >= 36
    assert float(np.median(errors)) < 2.0


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
