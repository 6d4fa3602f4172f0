"""Fixtures for the MQTT sink tests: a Mosquitto broker started here, sink configs, results."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # mqttkit lives beside the tests, not in a package
    sys.path.insert(0, str(HERE))

from mqttkit import Broker, find_mosquitto, make_certificates  # noqa: E402

from edged.config.mqtt import MqttSinkConfig  # noqa: E402
from edged.frames import Frame  # noqa: E402
from edged.results import Result  # noqa: E402


@pytest.fixture(scope="session")
def mosquitto_bin() -> str:
    path = find_mosquitto()
    if path is None:
        pytest.skip("mosquitto is not installed (apt install mosquitto mosquitto-clients)")
    return path


@pytest.fixture
def broker(mosquitto_bin: str, tmp_path: Path) -> Iterator[Broker]:
    """Anonymous Mosquitto with persistence on a free loopback port."""
    server = Broker(mosquitto_bin, tmp_path / "broker")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_broker(mosquitto_bin: str, tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Build a broker with users and/or TLS; started by the test, stopped here."""
    made: List[Broker] = []

    def make(**kwargs: Any) -> Broker:
        server = Broker(mosquitto_bin, tmp_path / f"broker{len(made)}", **kwargs)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    try:
        return make_certificates(tmp_path_factory.mktemp("certs"))
    except FileNotFoundError:
        pytest.skip("the openssl command is not installed")


@pytest.fixture
def sink_config(tmp_path: Path) -> Callable[..., MqttSinkConfig]:
    """An MqttSinkConfig for a test: spool in tmp_path, quick reconnects, no stats timer."""

    def make(port: int, **overrides: Any) -> MqttSinkConfig:
        data: Dict[str, Any] = {
            "host": "127.0.0.1",
            "port": port,
            "spool": str(tmp_path / "spool.db"),
            "spool_sync": "normal",
            "reconnect": {"initial_s": 0.05, "max_s": 0.3},
            "connect_timeout_s": 3,
            "stats_interval_s": 0,
        }
        data.update(overrides)
        return MqttSinkConfig.model_validate(data)

    return make


_IMAGE = np.zeros((48, 64, 3), np.uint8)


def result(kind: str, payload: Dict[str, Any], frame_seq: int, pipeline_id: str = "p1") -> Result:
    now = time.time()
    frame = Frame("cam0", frame_seq, now, time.monotonic(), _IMAGE)
    return Result(pipeline_id, kind, frame, payload)


def pose_result(frame_seq: int, pipeline_id: str = "people") -> Result:
    person = {"score": 0.9, "keypoints": {"nose": [10.0, 12.5, 0.8], "neck": [11.0, 20.0, 0.7]}}
    return result("pose", {"persons": [person]}, frame_seq, pipeline_id)


def gauge_reading(gauge_id: str, value: float = 3.5, **extra: Any) -> Dict[str, Any]:
    reading = {
        "gauge_id": gauge_id,
        "value": value,
        "unit": "bar",
        "confidence": 0.93,
        "angle_deg": 123.4,
        "keypoints": {
            "center": [32.0, 24.0],
            "tip": [40.0, 10.0],
            "scale_start": [20.0, 40.0],
            "scale_end": [44.0, 40.0],
        },
        "quality": "ok",
    }
    reading.update(extra)
    return reading


def gauge_result(frame_seq: int, gauge_ids: List[str], pipeline_id: str = "boiler") -> Result:
    readings = [gauge_reading(g, 1.0 + frame_seq / 100.0) for g in gauge_ids]
    return result("gauge", {"gauges": readings}, frame_seq, pipeline_id)


@pytest.fixture
def results() -> Any:
    """The result builders, for tests that cannot import from conftest by name."""

    class Builders:
        make = staticmethod(result)
        pose = staticmethod(pose_result)
        gauge = staticmethod(gauge_result)
        reading = staticmethod(gauge_reading)

    return Builders
