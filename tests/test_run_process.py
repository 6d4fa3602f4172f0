"""`edged run` as a real process: SIGTERM, SIGHUP with a broken and a changed config."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from sourcekit import wait_until

pytest.importorskip("cv2")

CONFIG = """
device_id: proc
sources:
  - {id: cam0, kind: synthetic, width: 64, height: 48, rate: 30}
pipelines:
  - {id: motion0, kind: motion, source: cam0}
sinks:
  jsonl: {path: RESULTS, fsync: never}
"""


class Edged:
    def __init__(self, cmd, config_path, log_path):
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*cmd, "run", "-c", str(config_path)], stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait(10)
        self._log.close()
        return code


def _records(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


@pytest.fixture
def running(tmp_path, edged_cmd):
    results = tmp_path / "results.jsonl"
    config = tmp_path / "edged.yaml"
    config.write_text(CONFIG.replace("RESULTS", str(results)))
    edged = Edged(edged_cmd, config, tmp_path / "edged.log")
    assert wait_until(lambda: len(_records(results)) >= 5, 20), edged.log()
    yield edged, config, results
    edged.stop()


def _building_its_command_line(pid: int) -> bool:
    """True once the process has started importing its commands (numpy is mapped in)."""
    try:
        return "numpy" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.fixture
def starting(tmp_path, edged_cmd):
    """An edged run caught in start-up, before its event loop exists."""
    if not Path("/proc/self/maps").exists():
        pytest.skip("needs /proc to see how far start-up has got")
    results = tmp_path / "results.jsonl"
    config = tmp_path / "edged.yaml"
    config.write_text(CONFIG.replace("RESULTS", str(results)))
    edged = Edged(edged_cmd, config, tmp_path / "edged.log")
    assert wait_until(lambda: _building_its_command_line(edged.proc.pid), 20, 0.002), edged.log()
    yield edged, results
    edged.stop()


def test_sigterm_during_start_up_stops_cleanly_with_a_log_line(starting):
    edged, _ = starting
    edged.proc.send_signal(signal.SIGTERM)
    assert edged.proc.wait(20) == 0, edged.log()
    assert "stop requested during start-up" in edged.log()


def test_sighup_during_start_up_reloads_once_started(starting):
    edged, results = starting
    edged.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: len(_records(results)) >= 5, 20), edged.log()
    assert wait_until(lambda: "config reloaded" in edged.log(), 10), edged.log()
    assert "reload requested during start-up" in edged.log()
    edged.proc.send_signal(signal.SIGTERM)
    assert edged.proc.wait(10) == 0, edged.log()


def test_sigterm_exits_zero_within_five_seconds(running):
    edged, _, results = running
    start = time.monotonic()
    edged.proc.send_signal(signal.SIGTERM)
    code = edged.proc.wait(10)
    took = time.monotonic() - start
    assert code == 0, edged.log()
    assert took < 5.0
    records = _records(results)  # every line complete and valid JSON
    assert records and all(r["pipeline_id"] == "motion0" for r in records)
    assert "stopped" in edged.log()


def test_sighup_with_broken_config_keeps_running(running):
    edged, config, results = running
    config.write_text(CONFIG.replace("RESULTS", str(results)).replace("rate: 30", "rate: -1"))
    edged.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "new config rejected" in edged.log(), 10), edged.log()
    log = edged.log()
    assert f"{config}:4: sources[0].rate: Input should be greater than or equal to" in log
    count = len(_records(results))
    assert wait_until(lambda: len(_records(results)) > count + 5, 10), "old config stopped"
    assert edged.proc.poll() is None


def test_sighup_with_changed_config_applies_it(running):
    edged, config, results = running
    data = yaml.safe_load(config.read_text())
    data["sources"].append({"id": "cam1", "kind": "synthetic", "width": 32, "height": 32})
    data["pipelines"].append({"id": "motion1", "kind": "motion", "source": "cam1"})
    config.write_text(yaml.safe_dump(data))
    edged.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: any(r["pipeline_id"] == "motion1" for r in _records(results)), 15), (
        edged.log()
    )
    assert "config reloaded" in edged.log()
    assert edged.proc.poll() is None


def test_invalid_config_at_start_exits_2_with_the_errors(tmp_path, edged_cmd):
    config = tmp_path / "bad.yaml"
    config.write_text("sources:\n  - {id: a, kind: rtsp, uri: http://x}\n")
    done = subprocess.run([*edged_cmd, "run", "-c", str(config)], capture_output=True, text=True)
    assert done.returncode == 2
    assert f"{config}:2: sources[0].uri: expected a URI starting with rtsp://" in done.stderr


CAMERA = "sources:\n  - {id: cam0, kind: synthetic, width: 64, height: 48}\n"
UNUSABLE_SECRETS = {
    "empty http token_file": (
        CAMERA + "sinks:\n  http: {port: 1, token_file: SECRET}\n",
        "sinks.http.token_file: 'SECRET' is empty; fix: write the secret into the file",
        "",
    ),
    "missing mqtt password_file": (
        CAMERA + "sinks:\n  mqtt: {host: 127.0.0.1, port: 1, username: u, password_file: SECRET}\n",
        "sinks.mqtt.password_file: cannot read 'SECRET' (No such file or directory)",
        None,
    ),
    "blank rtsp password_file": (
        "sources:\n  - {id: gate, kind: rtsp, uri: 'rtsp://h/s', username: u,\n"
        "     password_file: SECRET}\n",
        "sources[0].password_file: 'SECRET' is empty",
        " \n\n",
    ),
}


@pytest.mark.parametrize("case", sorted(UNUSABLE_SECRETS))
def test_check_and_run_refuse_the_same_unusable_secret(case, tmp_path, edged_cmd):
    text, expected, content = UNUSABLE_SECRETS[case]
    secret = tmp_path / "secret"
    if content is not None:
        secret.write_text(content)
    config = tmp_path / "edged.yaml"
    config.write_text(text.replace("SECRET", str(secret)))
    answers = {
        command: subprocess.run(
            [*edged_cmd, command, "-c", str(config)], capture_output=True, text=True, timeout=30
        )
        for command in ("check", "run")
    }
    for command, done in answers.items():
        assert done.returncode == 2, (command, done.stderr)
        assert expected.replace("SECRET", str(secret)) in done.stderr, (command, done.stderr)
    assert answers["check"].stderr == answers["run"].stderr


def test_sighup_with_an_unusable_secret_keeps_the_running_config(running, tmp_path):
    edged, config, results = running
    token = tmp_path / "token"
    token.write_text("")
    text = CONFIG.replace("RESULTS", str(results))
    config.write_text(text + f"  http: {{port: 1, token_file: {token}}}\n")
    edged.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "new config rejected" in edged.log(), 10), edged.log()
    assert f"sinks.http.token_file: '{token}' is empty" in edged.log()
    count = len(_records(results))
    assert wait_until(lambda: len(_records(results)) > count + 5, 10), "old config stopped"
    assert edged.proc.poll() is None
