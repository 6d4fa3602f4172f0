"""Home Assistant MQTT discovery against a real Mosquitto: announce, re-announce, remove."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mqttkit import Subscriber

from edged.bus import ResultBus
from edged.messages import Topics
from edged.sinks.homeassistant import GaugeEntity, object_ids, sensor_config
from edged.sinks.mqtt import MqttSink, gauge_entities

jsonschema = pytest.importorskip("jsonschema")
jinja2 = pytest.importorskip("jinja2")

HA_SCHEMA = json.loads((Path(__file__).parent / "ha_sensor_schema.json").read_text())
DEVICE = "dev1"
STEAM_CONFIG = f"homeassistant/sensor/{DEVICE}_steam/config"
WATER_CONFIG = f"homeassistant/sensor/{DEVICE}_water/config"
STEAM = GaugeEntity("boiler", "steam", "Steam pressure", "bar")
WATER = GaugeEntity("boiler", "water", None, "m")


def retained_configs(sub: Subscriber) -> dict:
    """The latest payload per discovery topic (empty = removed)."""
    latest: dict = {}
    for topic, payload, _ in sub.snapshot():
        if topic.endswith("/config"):
            latest[topic] = payload
    return latest


async def start(config: Any, gauges: list) -> MqttSink:
    sink = MqttSink(config, device_id=DEVICE, gauges=gauges)
    await sink.start(ResultBus())
    assert await sink.wait_for(lambda s: s.status()["connected"], 5)
    return sink


def test_payload_has_what_home_assistant_requires():
    topics = Topics("edged", DEVICE)
    validator = jsonschema.Draft202012Validator(HA_SCHEMA)
    for gauge, object_id in object_ids(DEVICE, [STEAM, WATER]):
        payload = sensor_config(gauge, object_id, topics, "0.1.0")
        validator.validate(payload)
        assert payload["unique_id"] == object_id
        assert payload["state_topic"] == topics.gauge("boiler", gauge.gauge_id)
        assert payload["availability"][0]["topic"] == topics.status
        assert payload["device"]["identifiers"] == [f"edged_{DEVICE}"]
    assert sensor_config(WATER, "x", topics, "1")["name"] == "water"


def test_templates_render_edged_messages_as_home_assistant_would():
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment()  # Home Assistant renders templates in one
    env.filters["tojson"] = json.dumps
    topics = Topics("edged", DEVICE)
    payload = sensor_config(STEAM, "dev1_steam", topics, "0.1.0")
    reading = {"value": 3.25, "confidence": 0.9, "quality": "ok", "pipeline_id": "b", "seq": 7}
    assert env.from_string(payload["value_template"]).render(value_json=reading) == "3.25"
    unreadable = {**reading, "value": None}
    # 'None' is what Home Assistant turns into the state 'unknown'
    assert env.from_string(payload["value_template"]).render(value_json=unreadable) == "None"
    attributes = env.from_string(payload["json_attributes_template"]).render(value_json=reading)
    assert json.loads(attributes)["quality"] == "ok"
    assert json.loads(attributes)["why"] is None  # edged leaves a null why out of a message
    why = "the needle's tip is too faint to trust"
    doubtful = {**unreadable, "quality": "unreadable", "why": why}
    attributes = env.from_string(payload["json_attributes_template"]).render(value_json=doubtful)
    assert json.loads(attributes)["why"] == why
    availability = payload["availability"][0]
    state = env.from_string(availability["value_template"]).render(value_json={"state": "online"})
    assert state == availability["payload_available"]


def test_a_gauge_id_used_by_two_pipelines_gets_distinct_ids():
    ids = [o for _, o in object_ids(DEVICE, [STEAM, GaugeEntity("other", "steam")])]
    assert ids == [f"{DEVICE}_boiler_steam", f"{DEVICE}_other_steam"]


def test_gauges_come_from_the_whole_config():
    class G:
        def __init__(self, id, unit, name=None):
            self.id, self.unit, self.name = id, unit, name

    class P:
        def __init__(self, id, gauges):
            self.id, self.gauges = id, gauges

    class C:
        pipelines = [P("boiler", [G("steam", "bar", "Steam")]), P("motion0", None)]

    assert gauge_entities(C()) == [GaugeEntity("boiler", "steam", "Steam", "bar")]


class Config:
    """The parts of a whole edged config the sink reads on reload (duck-typed)."""

    def __init__(self, gauges: list, device_id: str = DEVICE):
        self.device_id = device_id
        by_pipeline: dict = {}
        for gauge in gauges:
            by_pipeline.setdefault(gauge.pipeline_id, []).append(_Gauge(gauge))
        self.pipelines = [_Pipeline(ident, found) for ident, found in by_pipeline.items()]


class _Gauge:
    def __init__(self, g: GaugeEntity):
        self.id, self.name, self.unit = g.gauge_id, g.name, g.unit


class _Pipeline:
    def __init__(self, ident: str, gauges: list):
        self.id, self.gauges = ident, gauges


async def test_announce_reannounce_and_remove(broker, sink_config):
    sub = Subscriber(broker.port, ["homeassistant/#"]).start()
    config = sink_config(broker.port)
    validator = jsonschema.Draft202012Validator(HA_SCHEMA)
    try:
        sink = await start(config, [STEAM, WATER])
        try:
            assert await sub.until(lambda s: len(retained_configs(s)) == 2, 5)
            for payload in retained_configs(sub).values():
                validator.validate(json.loads(payload))
            # Home Assistant restarts: it says 'online', edged announces again
            before = len(sub.snapshot())
            sub.client.publish("homeassistant/status", b"online", 1)
            assert await sub.until(lambda s: len(s.snapshot()) >= before + 3, 5)
            # a reload drops the water gauge: its sensor is removed at once
            sink.config_reloaded(Config([STEAM]))
            assert await sub.until(lambda s: retained_configs(s).get(WATER_CONFIG) == b"", 5)
            assert await sink.wait_for(lambda s: s.discovery.removed == 1, 5)
        finally:
            await sink.stop()
        # the next start knows what it had announced: nothing left to remove
        sink = await start(config, [])
        try:
            assert sink.discovery.announced == [STEAM_CONFIG]
            assert await sub.until(lambda s: retained_configs(s).get(STEAM_CONFIG) == b"", 5)
            assert await sink.wait_for(lambda s: s.discovery.announced == [], 5)
        finally:
            await sink.stop()
    finally:
        sub.stop()
    late = Subscriber(broker.port, ["homeassistant/#", "probe"]).start()
    try:
        # retained messages are queued at SUBACK, before this probe: once it is here, they are
        late.client.publish("probe", b"x", 1)
        assert await late.until(lambda s: s.count_on("probe") == 1, 5)
        assert retained_configs(late) == {}, "removed configs must not stay retained"
    finally:
        late.stop()


async def test_discovery_can_be_switched_off(broker, sink_config):
    sub = Subscriber(broker.port, ["homeassistant/#", "edged/#"]).start()
    try:
        sink = await start(sink_config(broker.port, homeassistant={"enabled": False}), [STEAM])
        try:
            assert await sub.until(lambda s: s.count_on(f"edged/{DEVICE}/status") == 1, 5)
        finally:
            await sink.stop()
        assert retained_configs(sub) == {}
    finally:
        sub.stop()
