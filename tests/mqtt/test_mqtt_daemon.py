"""`edged run` with the MQTT sink as a real process: last will on kill -9, spool kept across it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from mqttkit import Broker, Subscriber, assert_no_gap, load_schema, wait_until

pytest.importorskip("cv2")
jsonschema = pytest.importorskip("jsonschema")

DEVICE = "proc"
STATUS = f"edged/{DEVICE}/status"
MOTION = f"edged/{DEVICE}/motion0/motion"

CONFIG = """
device_id: proc
sources:
  - {{id: cam0, kind: synthetic, width: 64, height: 48, rate: {rate}}}
pipelines:
  - {{id: motion0, kind: motion, source: cam0}}
sinks:
  mqtt:
    host: 127.0.0.1
    port: {port}
    spool: {spool}
    spool_sync: normal
    connect_timeout_s: 2
    reconnect: {{initial_s: 0.05, max_s: 0.2}}
    stats_interval_s: 0
logging:
  level: INFO
"""


class Edged:
    """``python -m edged run`` in its own process, output kept in a file."""

    def __init__(self, config: Path, log: Path):
        self.log_path = log
        self._log = open(log, "a")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edged", "run", "-c", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.wait()

    def wait(self, timeout_s: float = 10) -> int:
        try:
            return self.proc.wait(timeout_s)
        finally:
            self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()


def write_config(tmp_path: Path, port: int, rate: int = 60) -> Path:
    path = tmp_path / "edged.yaml"
    path.write_text(CONFIG.format(port=port, spool=tmp_path / "spool.db", rate=rate))
    return path


def spooled(spool: Path) -> List[Dict]:
    """The messages in a spool file, read from outside (the daemon may be gone)."""
    if not spool.exists():
        return []
    db = sqlite3.connect(f"file:{spool}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT topic, payload FROM spool ORDER BY id").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        db.close()
    return [{"topic": t, **json.loads(p)} for t, p in rows]


def test_kill_9_makes_the_broker_publish_offline(broker, tmp_path):
    sub = Subscriber(broker.port, [f"edged/{DEVICE}/#"]).start()
    edged = Edged(write_config(tmp_path, broker.port), tmp_path / "edged.log")
    try:
        ok = sub.wait_for(lambda s: s.count_on(MOTION) >= 5, 20)
        assert ok, edged.log()
        edged.kill9()
        assert sub.wait_for(lambda s: s.json_on(STATUS)[-1]["state"] == "offline", 10)
    finally:
        edged.stop()
        sub.stop()
    online, offline = sub.json_on(STATUS)[-2:]
    validator = jsonschema.Draft202012Validator(load_schema("edged.status-1.json"))
    validator.validate(online)
    validator.validate(offline)
    assert online["state"] == "online" and online["sources"][0]["id"] == "cam0"
    assert offline["reason"] == "connection lost" and offline["seq"] == online["seq"] + 1
    for message in sub.json_on(MOTION):
        jsonschema.Draft202012Validator(load_schema("edged.motion-1.json")).validate(message)


def test_kill_9_with_a_full_spool_then_restart_delivers_every_spooled_message(
    mosquitto_bin, tmp_path
):
    broker = Broker(mosquitto_bin, tmp_path / "broker")  # not started: the broker is down
    config = write_config(tmp_path, broker.port, rate=100)
    spool = tmp_path / "spool.db"
    edged = Edged(config, tmp_path / "edged.log")
    try:
        assert wait_until(lambda: len(spooled(spool)) >= 150, 30), edged.log()
        edged.kill9()
    finally:
        edged.stop()
    kept = [m for m in spooled(spool) if m["topic"] == MOTION]
    assert len(kept) >= 150
    assert [m["seq"] for m in kept] == list(range(1, len(kept) + 1))
    assert "cannot connect" in edged.log() and "connection refused" in edged.log()

    broker.start()
    sub = Subscriber(broker.port, [f"edged/{DEVICE}/#"]).start()
    edged = Edged(config, tmp_path / "edged.log")
    try:
        ok = sub.wait_for(lambda s: len(set(s.seqs_on(MOTION))) >= len(kept) + 5, 30)
        assert ok, edged.log()
        edged.proc.send_signal(signal.SIGTERM)
        assert edged.wait() == 0
        assert sub.wait_for(lambda s: s.json_on(STATUS)[-1]["reason"] == "shutdown", 5)
    finally:
        edged.stop()
        sub.stop()
        broker.stop()
    seqs = sub.seqs_on(MOTION)
    assert_no_gap(seqs, max(seqs))
    by_seq = {m["seq"]: m for m in sub.json_on(MOTION)}
    for old in kept:  # the very messages that were spooled, with their capture time
        got = by_seq[old["seq"]]
        assert got["replayed"] is True and got["ts"] == old["ts"]
        assert got["frame_seq"] == old["frame_seq"]
    assert "from an earlier run" in edged.log()
