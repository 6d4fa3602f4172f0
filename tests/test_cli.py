"""The command line: check, config-schema, version."""

from __future__ import annotations

import json
import subprocess

from edged.cli import main


def test_check_prints_a_summary(tmp_path, capsys, monkeypatch):
    secret = tmp_path / "pw"
    secret.write_text("pw")
    config = tmp_path / "edged.yaml"
    config.write_text(
        "device_id: yard\n"
        "sources:\n"
        "  - {id: gate, kind: rtsp, uri: 'rtsp://admin:hunter2@10.0.0.7/s1', fps: 5}\n"
        "  - {id: demo, kind: synthetic}\n"
        "pipelines:\n  - {id: moving, kind: motion, source: [gate, demo]}\n"
        "sinks:\n  jsonl: {path: /tmp/x.jsonl}\n"
    )
    assert main(["check", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "config OK - device_id: yard" in out
    assert "rtsp://***@10.0.0.7/s1 [own process]" in out and "hunter2" not in out
    assert "moving" in out and "<- gate, demo" in out and "/tmp/x.jsonl" in out


def test_check_shows_no_credentials(tmp_path, capsys):
    config = tmp_path / "edged.yaml"
    config.write_text(
        "sources:\n"
        "  - {id: a, kind: rtsp, uri: 'rtsp://admin:P@ssw0rd@10.0.0.7/s1'}\n"
        "  - {id: b, kind: rtsp, uri: 'rtsp://10.0.0.8/s1?user=admin&password=Hunter3'}\n"
        "  - id: c\n    kind: gstreamer\n"
        "    uri: rtspsrc location=rtsp://10.0.0.9/s1 user-id=admin user-pw=Swordfish ! "
        "decodebin ! videoconvert ! appsink\n"
    )
    assert main(["check", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    for secret in ("ssw0rd", "Hunter3", "Swordfish"):
        assert secret not in out
    assert "rtsp://***@10.0.0.7/s1" in out and "user-pw=***" in out


def test_check_fails_on_unreadable_secret(tmp_path, capsys):
    config = tmp_path / "edged.yaml"
    config.write_text(
        "sources:\n  - {id: gate, kind: rtsp, uri: 'rtsp://h/s', password_file: /nonexistent}\n"
    )
    assert main(["check", "-c", str(config)]) == 2
    assert "password_file: cannot read '/nonexistent'" in capsys.readouterr().err


def test_check_reports_config_errors_with_exit_2(tmp_path, capsys):
    config = tmp_path / "edged.yaml"
    config.write_text("sources:\n  - {id: a, kind: synthetic, rate: 0}\n")
    assert main(["check", "-c", str(config)]) == 2
    assert f"{config}:2: sources[0].rate" in capsys.readouterr().err


def test_check_reports_an_unusable_file_with_exit_2(tmp_path, capsys):
    config = tmp_path / "edged.yaml"
    config.write_bytes("sources:\n  - {id: a, kind: synthetic}\n".encode("utf-16"))
    assert main(["check", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:1: (top level): cannot use the file: it is UTF-16 text" in err
    assert "fix: save it as UTF-8" in err


def test_config_schema_is_json(capsys):
    assert main(["config-schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Config" and "sources" in schema["required"]


def test_python_dash_m_and_version(edged_cmd):
    done = subprocess.run([*edged_cmd, "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("edged ")
    done = subprocess.run(edged_cmd, capture_output=True, text=True)
    assert done.returncode == 2 and "run" in done.stdout


def test_check_reads_sink_secrets_too(tmp_path, capsys):
    config = tmp_path / "edged.yaml"
    config.write_text(
        "sources:\n  - {id: a, kind: synthetic}\n"
        "sinks:\n  mqtt: {host: broker, username: u, password_file: /nonexistent/pw}\n"
    )
    assert main(["check", "-c", str(config)]) == 2
    assert "sinks.mqtt.password_file: cannot read '/nonexistent/pw'" in capsys.readouterr().err
