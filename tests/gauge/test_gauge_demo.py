"""``edged demo`` end to end: MQTT readings arrive and track the synthetic truth."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from edged.pipelines.gauge.demo import DEMO_HEIGHT, DEMO_WIDTH
from edged.pipelines.gauge.pipeline import resolve_model
from edged.pipelines.gauge.scene import GaugeScene

MODEL = resolve_model("weights/gauge_kp_w32.onnx")

pytestmark = [
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs the mosquitto binary"),
    pytest.mark.skipif(not os.path.exists(MODEL), reason=f"no trained model at {MODEL}"),
]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def test_demo_publishes_readings_that_track_the_truth():
    paho = pytest.importorskip("paho.mqtt.client")
    mqtt_port, http_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edged",
            "demo",
            "--duration",
            "25",
            "--rate",
            "5",
            "--mqtt-port",
            str(mqtt_port),
            "--http-port",
            str(http_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    got = []
    done = threading.Event()
    try:
        assert _wait_port(mqtt_port, 15), "the demo's broker did not start"
        client = paho.Client(paho.CallbackAPIVersion.VERSION2)

        def on_message(_c, _u, msg):  # runs on paho's thread
            got.append(json.loads(msg.payload))
            if len(got) >= 45:
                done.set()

        client.on_message = on_message
        client.connect("127.0.0.1", mqtt_port)
        client.subscribe("edged/demo/dials/gauge/#", qos=1)
        client.loop_start()
        done.wait(40)
        client.loop_stop()
        client.disconnect()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert "mosquitto_sub -h 127.0.0.1 -p %d" % mqtt_port in out
    assert f"http://127.0.0.1:{http_port}/" in out
    assert len(got) >= 15, out[-2000:]
    scene = GaugeScene(
        DEMO_WIDTH,
        DEMO_HEIGHT,
        count=2,
        seed=0,
        rate=5.0,
        period_s=60.0,
        meters=2,
        displays=1,
        panels=1,
    )
    spans = {g.id: g.max_value - g.min_value for g in scene.gauges}
    index = {g.id: i for i, g in enumerate(scene.gauges)}
    meters = {m.id: m for m in scene.meters}
    displays = {d.id: d for d in scene.displays}
    errors = {"dials": [], "panels": [], "meters": [], "displays": []}
    for m in got:
        assert m["schema"] == "edged.gauge/1"
        if m["value"] is None:
            continue
        n = m["frame_seq"] - 1
        if m["gauge_id"] in displays:  # read right, or not at all
            shown = scene.display_text(displays[m["gauge_id"]], n)
            errors["displays"].append(0.0 if m["text"] == shown else 1.0)
            continue
        if m["gauge_id"] in meters:  # a sub-dial: 0..10 round a full circle
            d = abs(m["value"] - scene.meter_value(meters[m["gauge_id"]], n)) % 10.0
            errors["meters"].append(min(d, 10.0 - d) / 10.0)
            continue
        truth = scene.values(n)[index[m["gauge_id"]]]
        kind = "panels" if m["gauge_id"].startswith("p") else "dials"
        errors[kind].append(abs(m["value"] - truth) / spans[m["gauge_id"]])
    assert sum(len(e) for e in errors.values()) >= 0.8 * len(got)
    assert errors["meters"], "the demo's water-meter sub-dials were not read"
    assert errors["displays"], "the demo's display was not read"
    assert errors["panels"], "the demo's panel meter was not read"
    for kind, e in errors.items():
        assert float(np.median(e)) < 0.03, kind


def test_demo_embeds_an_amqtt_broker_when_mosquitto_is_absent(tmp_path, monkeypatch):
    pytest.importorskip("amqtt", reason="amqtt is the demo's fallback broker (extra [demo])")
    import paho.mqtt.client as mqtt

    from edged.pipelines.gauge import demo

    monkeypatch.setattr(demo.shutil, "which", lambda name: None)  # no mosquitto binary
    port = _free_port()
    got_port, handle, how = demo.start_broker(port, str(tmp_path))
    assert (got_port, handle) == (port, None) and "amqtt" in how
    received = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda client, userdata, msg: received.append(msg.payload)
    sub.on_connect = lambda client, userdata, flags, rc, props: client.subscribe("demo/#", 1)
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    try:
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            pub.publish("demo/x", b"reading", qos=1)
            time.sleep(0.2)
        assert b"reading" in received
    finally:
        for c in (pub, sub):
            c.loop_stop()
            c.disconnect()
