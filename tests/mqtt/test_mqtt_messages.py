"""Message models, topics, committed schemas and the MQTT sink's config (no broker needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Dict

import pytest
from mqttkit import REPO, SCHEMAS, load_schema
from pydantic import ValidationError

from edged.config import parse_config
from edged.config.mqtt import MqttSinkConfig
from edged.messages import (
    Topics,
    check_schema_files,
    mark_replayed,
    messages_for_result,
    schema_documents,
)

jsonschema = pytest.importorskip("jsonschema")


class Seqs:
    """In-memory SeqCounters."""

    def __init__(self) -> None:
        self.values: Dict[str, int] = {}

    def peek(self, topic: str) -> int:
        return self.values.get(topic, 0) + 1

    def advance(self, topic: str, count: int = 1) -> None:
        self.values[topic] = self.values.get(topic, 0) + count


TOPICS = Topics("edged", "dev1")


def validate(payload: bytes, schema_file: str) -> dict:
    document = json.loads(payload)
    jsonschema.Draft202012Validator(load_schema(schema_file)).validate(document)
    return document


def test_committed_schemas_match_the_models():
    problems = check_schema_files(SCHEMAS)
    assert not problems, "\n".join(problems) + "\nrun: edged schemas --write"


def test_schema_command_check_and_write(tmp_path):
    cmd = [sys.executable, "-m", "edged", "schemas"]
    stale = subprocess.run([*cmd, "--check", str(tmp_path)], capture_output=True, text=True)
    assert stale.returncode == 1 and "missing" in stale.stderr
    wrote = subprocess.run([*cmd, "--write", str(tmp_path)], capture_output=True, text=True)
    assert wrote.returncode == 0, wrote.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(schema_documents())
    (tmp_path / "edged.old-1.json").write_text("{}")
    left = subprocess.run([*cmd, "--check", str(tmp_path)], capture_output=True, text=True)
    assert left.returncode == 1 and "edged.old-1.json" in left.stderr
    ok = subprocess.run([*cmd, "--check", str(SCHEMAS)], capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0, ok.stderr


def test_every_schema_is_a_valid_json_schema():
    for name in schema_documents():
        jsonschema.Draft202012Validator.check_schema(load_schema(name))


def test_topics_are_built_in_one_place():
    t = Topics("plant/a", "line3", "ha")
    assert t.status == "plant/a/line3/status"
    assert t.stats == "plant/a/line3/stats"
    assert t.pose("people") == "plant/a/line3/people/pose"
    assert t.gauge("boiler", "steam") == "plant/a/line3/boiler/gauge/steam"
    assert t.result("m0", "motion") == "plant/a/line3/m0/motion"
    assert t.ha_status == "ha/status"
    assert t.ha_sensor_config("line3_steam") == "ha/sensor/line3_steam/config"


def test_pose_message_validates_and_counts_seq_per_topic(results):
    seqs = Seqs()
    first = messages_for_result(results.pose(7), TOPICS, seqs)
    second = messages_for_result(results.pose(8), TOPICS, seqs)
    assert [m.topic for m in first] == ["edged/dev1/people/pose"]
    one = validate(first[0].payload, "edged.pose-1.json")
    two = validate(second[0].payload, "edged.pose-1.json")
    assert (one["seq"], two["seq"]) == (1, 2)
    assert one["schema"] == "edged.pose/1"
    assert one["frame_seq"] == 7 and one["source_id"] == "cam0"
    assert one["pipeline_id"] == "people" and one["device_id"] == "dev1"
    assert one["width"] == 64 and one["height"] == 48
    assert one["frame_age_ms"] >= 0
    assert one["persons"][0]["keypoints"]["nose"] == [10.0, 12.5, 0.8]
    assert "replayed" not in one
    assert not first[0].retain


def test_gauge_result_gives_one_retained_message_per_gauge(results):
    seqs = Seqs()
    out = messages_for_result(results.gauge(1, ["steam", "water"]), TOPICS, seqs)
    assert [m.topic for m in out] == [
        "edged/dev1/boiler/gauge/steam",
        "edged/dev1/boiler/gauge/water",
    ]
    assert all(m.retain for m in out)
    docs = [validate(m.payload, "edged.gauge-1.json") for m in out]
    assert [d["gauge_id"] for d in docs] == ["steam", "water"]
    assert [d["seq"] for d in docs] == [1, 1]  # per topic
    assert not any("why" in d for d in docs)  # absent while null
    why = "the needle's tip is too faint to trust"
    unreadable = results.make(
        "gauge",
        {"gauges": [results.reading("steam", None, quality="unreadable", keypoints=None, why=why)]},
        2,
        "boiler",
    )
    (message,) = messages_for_result(unreadable, TOPICS, seqs)
    doc = validate(message.payload, "edged.gauge-1.json")
    assert doc["value"] is None and doc["quality"] == "unreadable" and doc["seq"] == 2
    assert doc["why"] == why


def test_motion_and_other_kinds(results):
    seqs = Seqs()
    motion = results.make("motion", {"motion": True, "motion_fraction": 0.2, "brightness": 99.5}, 3)
    (m,) = messages_for_result(motion, TOPICS, seqs)
    assert m.topic == "edged/dev1/p1/motion"
    assert validate(m.payload, "edged.motion-1.json")["motion"] is True
    other = results.make("count", {"count": 4, "labels": ["a"]}, 3)
    (c,) = messages_for_result(other, TOPICS, seqs)
    assert c.topic == "edged/dev1/p1/count"
    doc = validate(c.payload, "edged.result-1.json")
    assert doc["schema"] == "edged.count/1" and doc["count"] == 4


@pytest.mark.parametrize(
    "kind,payload",
    [
        ("pose", {"persons": [{"score": float("nan"), "keypoints": {}}]}),
        ("pose", {"persons": "nobody"}),
        ("gauge", {"gauges": [{"gauge_id": "g", "value": 1.0}]}),
        ("gauge", {}),
        ("motion", {"motion": True}),
        ("count", {"seq": 5}),
        ("count", {"blob": object()}),
    ],
)
def test_a_payload_that_does_not_fit_raises_and_takes_no_seq(results, kind, payload):
    seqs = Seqs()
    with pytest.raises(Exception):  # noqa: B017 - any error: the sink counts and drops it
        messages_for_result(results.make(kind, payload, 1), TOPICS, seqs)
    assert seqs.values == {}


def test_mark_replayed_keeps_the_message_valid(results):
    (m,) = messages_for_result(results.pose(1), TOPICS, Seqs())
    doc = validate(mark_replayed(m.payload), "edged.pose-1.json")
    assert doc["replayed"] is True


# ---------------------------------------------------------------- config


def test_config_defaults_and_sinks_section():
    config = parse_config(
        "device_id: dev1\n"
        "sources: [{id: cam0, kind: synthetic}]\n"
        "sinks:\n  mqtt: {host: broker.lan, spool: /tmp/s.db}\n"
    )
    mqtt = config.sinks.mqtt
    assert mqtt is not None and mqtt.qos == 1 and mqtt.protocol == "3.1.1"
    assert mqtt.homeassistant.enabled and mqtt.homeassistant.discovery_prefix == "homeassistant"
    assert mqtt.qos_for("pose") == 1


@pytest.mark.parametrize(
    "data,message",
    [
        ({"password": "x"}, "no username"),
        ({"username": "u", "password": "x", "password_env": "P"}, "keep exactly one"),
        ({"qos": 3}, "qos"),
        ({"qos_by_kind": {"status": 0}}, "status"),
        ({"qos_by_kind": {"Pose!": 0}}, "not a message kind"),
        ({"topic_prefix": "a/#"}, "topic_prefix"),
        ({"topic_prefix": "/a"}, "topic_prefix"),
        ({"tls": {"key_file": "k.pem"}}, "cert_file"),
        ({"port": 0}, "port"),
        ({"spool_max_bytes": 10}, "spool_max_bytes"),
        ({"hostname": "x"}, "hostname"),
    ],
)
def test_config_errors_name_the_field(data, message):
    with pytest.raises(ValidationError) as info:
        MqttSinkConfig.model_validate(data)
    assert message in str(info.value)


def test_password_from_file_and_env(tmp_path, monkeypatch):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    from_file = MqttSinkConfig(username="u", password_file=str(secret))
    assert from_file.resolved_password() == "s3cret"
    monkeypatch.setenv("EDGED_TEST_PW", "envpw")
    assert MqttSinkConfig(username="u", password_env="EDGED_TEST_PW").resolved_password() == "envpw"
    assert "s3cret" not in repr(MqttSinkConfig(username="u", password="s3cret"))
