"""Gauges of ``type: digital``: seven-segment displays read in a gauge pipeline (issue 16).

Config validation, readings of the synthetic scene's display, an roi with no display,
``decimals`` and ``min``/``max``, the messages against the committed schema, the demo config.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from edged.config import ConfigError, parse_config
from edged.config.gauge import DigitalGaugeConfig
from edged.frames import Frame
from edged.messages import Topics, messages_for_result
from edged.pipelines import create_pipeline
from edged.pipelines.display.reader import DEFAULT_DISPLAY_MODEL, DisplayReading
from edged.pipelines.gauge.pipeline import display_payload, display_quality
from edged.pipelines.gauge.scene import GaugeScene
from edged.sources.synthetic import GaugeSceneCapture

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "edged.gauge-1.json"
needs_model = pytest.mark.skipif(
    not os.path.exists(DEFAULT_DISPLAY_MODEL), reason="weights/display_crnn.onnx is not there"
)


class Seqs:
    def peek(self, topic):
        return 1

    def advance(self, topic, count=1):
        pass


def _config(gauges: str) -> str:
    """A config with one gauge pipeline; ``gauges`` is its list, one YAML item per line."""
    items = "\n".join("      " + line.strip() for line in gauges.strip().splitlines())
    return (
        "sources: [{id: cam0, kind: synthetic, scene: gauges, displays: 1}]\n"
        "pipelines:\n"
        "  - id: g\n"
        "    kind: gauge\n"
        "    source: cam0\n"
        "    backend: onnxruntime\n"
        "    gauges:\n" + items + "\n"
    )


def _problems(gauges: str) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config(_config(gauges))
    return str(err.value)


def test_digital_and_analog_entries_parse_side_by_side():
    p = parse_config(
        _config(
            """
            - {id: boiler, unit: bar, min_value: 0, max_value: 10}
            - {id: temp, type: digital, unit: C, roi: [8, 190, 120, 44], decimals: 1, max: 150}
            """
        )
    ).pipelines[0]
    analog, digital = p.gauges
    assert analog.type == "analog" and analog.max_value == 10  # no type: a dial, as before
    assert isinstance(digital, DigitalGaugeConfig)
    assert (digital.roi, digital.decimals, digital.min, digital.max) == (
        (8, 190, 120, 44),
        1,
        None,
        150,
    )
    assert p.display_model == "weights/display_crnn.onnx"


@pytest.mark.parametrize(
    ("entry", "lines"),
    [
        (  # a display is read from its roi only
            "{id: t, type: digital}",
            ["gauges[0].roi: Field required; fix: roi is: [x, y, w, h]"],
        ),
        (  # a dial's keys are refused one by one, each with what to do
            "{id: t, type: digital, roi: [0, 0, 90, 30], sweep: 270, start_angle: 0, "
            "min_value: 0, position: [4, 4]}",
            [
                "gauges[0].sweep: a digital gauge is a seven-segment display: it has no needle "
                "or scale; fix: remove sweep",
                "gauges[0].start_angle: a digital gauge is a seven-segment display",
                "gauges[0].min_value: a digital gauge is a seven-segment display: it has no "
                "needle or scale; fix: remove min_value; min is the display's plausibility limit",
                "gauges[0].position: a digital gauge is read from its roi only; fix: remove "
                "position and set roi [x, y, w, h]",
            ],
        ),
        (
            "{id: t, type: digital, roi: [0, 0, 90, 30], min: 10, max: 5}",
            ["gauges[0]: min (10.0) must be below max (5.0); swap them, or remove one"],
        ),
        (
            "{id: t, type: digital, roi: [0, 0, 90, 30], decimals: -1}",
            ["gauges[0].decimals: Input should be greater than or equal to 0"],
        ),
        (
            "{id: t, type: digital, roi: [0, 0, 4, 30]}",
            [
                "gauges[0].roi: roi is [x, y, w, h] in frame pixels, with x, y >= 0, w, h >= 8 "
                "and x + w, y + h <= 16384"
            ],
        ),
        (
            "{id: t, type: digital, roi: [100000000000, 0, 90, 30]}",
            [
                "gauges[0].roi: roi is [x, y, w, h] in frame pixels, with x, y >= 0, w, h >= 8 "
                "and x + w, y + h <= 16384"
            ],
        ),
        (
            "{id: t, type: digitl, roi: [0, 0, 90, 30]}",
            [
                "gauges[0]: type must be 'analog' (a dial, the default) or 'digital' (a "
                "seven-segment display); fix: set type: digital for a seven-segment display, "
                "or remove type for a dial"
            ],
        ),
        (  # unknown keys still get the usual hint
            "{id: t, type: digital, roi: [0, 0, 90, 30], decimal: 1}",
            ["gauges[0].decimal: Extra inputs are not permitted; fix: did you mean 'decimals'?"],
        ),
    ],
)
def test_bad_digital_entries_are_refused_with_the_field_and_a_fix(entry, lines):
    text = _problems(f"- {entry}")
    for line in lines:
        assert f"pipelines[0].{line}" in text, text


def test_an_analog_entry_with_type_analog_keeps_its_rules():
    text = _problems("- {id: a, type: analog, min_value: 0, max_value: 10, start_angle: 10}")
    assert "together" in text


def _reading(text, value, confidence=0.99, quality="ok"):
    return DisplayReading(text, value, confidence, quality)


def test_quality_from_decimals_and_plausibility_limits():
    g = DigitalGaugeConfig(type="digital", id="t", roi=(0, 0, 90, 30), decimals=1, min=0, max=100)
    assert display_quality(g, _reading("42.5", 42.5)) == ("ok", 42.5)
    # a missed or an extra decimal point would scale the value tenfold: no value
    assert display_quality(g, _reading("425", 425.0)) == ("unreadable", None)
    assert display_quality(g, _reading("4.25", 4.25)) == ("unreadable", None)
    # outside min/max: what the display shows, flagged
    assert display_quality(g, _reading("142.5", 142.5)) == ("out_of_range", 142.5)
    assert display_quality(g, _reading("-0.5", -0.5)) == ("out_of_range", -0.5)
    # no number shown (dashes), nothing legible, roi outside the frame
    assert display_quality(g, _reading("----", None)) == ("unreadable", None)
    assert display_quality(g, _reading(None, None, 0.5, "unreadable")) == ("unreadable", None)
    assert display_quality(g, None) == ("unreadable", None)
    free = DigitalGaugeConfig(type="digital", id="t", roi=(0, 0, 90, 30))
    assert display_quality(free, _reading("1234", 1234.0)) == ("ok", 1234.0)
    assert display_quality(free, _reading("-1.234", -1.234)) == ("ok", -1.234)
    zero = DigitalGaugeConfig(type="digital", id="t", roi=(0, 0, 90, 30), decimals=0)
    assert display_quality(zero, _reading("12.", 12.0)) == ("ok", 12.0)


def test_display_messages_validate_and_dial_messages_are_unchanged():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    g = DigitalGaugeConfig(type="digital", id="t", unit="C", roi=(0, 0, 90, 30), max=50)
    entries = [
        display_payload(g, _reading("42.5", 42.5)),
        display_payload(g, _reading("77.0", 77.0)),
        display_payload(g, _reading(None, None, 0.4, "unreadable")),
        {  # a dial, as reading_payload makes it: no text key
            "gauge_id": "boiler",
            "value": 3.2,
            "unit": "bar",
            "confidence": 0.9,
            "angle_deg": 10.0,
            "keypoints": None,
            "quality": "ok",
        },
    ]
    from edged.results import Result

    frame = Frame("cam0", 7, time.time(), time.monotonic(), np.zeros((8, 8, 3), np.uint8))
    result = Result("g", "gauge", frame, {"gauges": entries})
    docs = [json.loads(m.payload) for m in messages_for_result(result, Topics("e", "d"), Seqs())]
    for doc in docs:
        validator.validate(doc)
    assert [(d.get("text"), d["value"], d["quality"]) for d in docs[:3]] == [
        ("42.5", 42.5, "ok"),
        ("77.0", 77.0, "out_of_range"),
        (None, None, "unreadable"),
    ]
    assert docs[2]["confidence"] == 0.0
    assert "text" not in docs[2] and "text" not in docs[3]  # absent while null


def test_the_synthetic_scene_shows_displays_with_their_truth():
    cam = GaugeSceneCapture(480, 240, rate=5, gauges=1, seed=0, period_s=20, displays=2)
    frames = [cam.read() for _ in range(3)]
    truth = {t["id"]: t for t in cam.frame_meta()["gauge_truth"]}
    assert set(truth) == {"g0", "d0", "d1"}
    assert truth["d0"]["value"] == float(truth["d0"]["text"])
    scene = GaugeScene(480, 240, count=1, seed=0, rate=5, period_s=20, displays=2)
    assert np.array_equal(scene.render(2)[0], frames[2])
    texts = {scene.display_text(scene.displays[0], n) for n in range(0, 100, 10)}
    assert len(texts) > 5  # the value changes over time
    for d in scene.displays:  # inside the frame, below the dials, apart
        x, y, w, h = d.roi
        assert x >= 0 and y >= 0 and x + w <= 480 and y + h <= 240
    a, b = (d.roi for d in scene.displays)
    assert a[0] + a[2] < b[0]


@needs_model
def test_the_pipeline_reads_the_scene_display_and_a_blank_wall_is_unreadable():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    scene = GaugeScene(480, 240, count=1, seed=0, rate=5, period_s=20, displays=1)
    (display,) = scene.displays
    wall = [300, 10, 120, 44]
    entries = [
        display.config(),
        {"id": "wall", "type": "digital", "roi": wall},
        {**display.config(), "id": "cold", "min": -50, "max": 10},
        {**display.config(), "id": "two", "decimals": 2},
    ]
    text = _config("\n".join(f"- {json.dumps(e)}" for e in entries))
    pipe = create_pipeline(parse_config(text).pipelines[0])
    assert pipe.describe()["displays"] == ["d0", "wall", "cold", "two"]
    pipe.open()
    try:
        assert pipe._model is None and pipe._pointer_model is None  # only the display model
        for n in (0, 17, 33):
            image, truth = scene.render(n)
            image[wall[1] : wall[1] + wall[3], wall[0] : wall[0] + wall[2]] = (150, 160, 165)
            frame = Frame("cam0", n, time.time(), time.monotonic(), image, {"gauge_truth": truth})
            result = pipe.process(frame)
            got = {g["gauge_id"]: g for g in result.payload["gauges"]}
            shown = next(t for t in truth if t["id"] == "d0")
            assert (got["d0"]["text"], got["d0"]["value"], got["d0"]["quality"]) == (
                shown["text"],
                shown["value"],
                "ok",
            )
            assert got["d0"]["confidence"] > 0.7
            assert (got["wall"]["text"], got["wall"]["value"]) == (None, None)
            assert got["wall"]["quality"] == "unreadable"
            cold = (got["cold"]["value"], got["cold"]["quality"])
            assert cold == (shown["value"], "out_of_range")
            assert (got["two"]["text"], got["two"]["value"]) == (shown["text"], None)
            assert got["two"]["quality"] == "unreadable"
            for m in messages_for_result(result, Topics("edged", "dev"), Seqs()):
                validator.validate(json.loads(m.payload))
            drawn = pipe.draw(image, result)
            assert drawn.shape == image.shape and not np.array_equal(drawn, image)
    finally:
        pipe.close()


def test_the_demo_config_reads_its_display(tmp_path):
    from edged.pipelines.gauge.demo import DEMO_HEIGHT, DEMO_WIDTH, build_demo_config

    path = build_demo_config(str(tmp_path), 3, 5.0, None, 8080, None, meters=2, displays=1)
    cfg = parse_config(Path(path).read_text())
    assert cfg.sources[0].displays == 1
    scene = GaugeScene(DEMO_WIDTH, DEMO_HEIGHT, 3, seed=0, meters=2, displays=1)
    (digital,) = [g for g in cfg.pipelines[0].gauges if g.type == "digital"]
    assert (digital.id, digital.roi, digital.decimals) == ("d0", scene.displays[0].roi, 1)
    assert cfg.pipelines[0].display_model.endswith("display_crnn.onnx")
    # the dials and sub-dials are where they were without the display
    before = GaugeScene(DEMO_WIDTH, DEMO_HEIGHT, 3, seed=0, meters=2)
    assert [g.place for g in before.gauges] == [g.place for g in scene.gauges]
    assert [m.roi for m in before.meters] == [m.roi for m in scene.meters]


def test_displays_that_do_not_fit_the_frame_fail_the_source_with_the_fix():
    """Rows of displays grow upwards; on a small frame they would leave it: a clear failure
    (not a capture that crashes on every frame and is retried for ever)."""
    from edged.sources.capture import UnfixableCaptureError
    from edged.sources.synthetic import GaugeSceneCapture

    with pytest.raises(UnfixableCaptureError, match="do not fit a 160x120 frame"):
        GaugeSceneCapture(width=160, height=120, displays=4)
