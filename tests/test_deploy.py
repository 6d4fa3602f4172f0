"""Deployment files: the systemd unit verifies, the scripts pass shellcheck."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "deploy" / "systemd" / "edged.service"


def test_unit_verifies(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    stub = tmp_path / "edged"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    unit = tmp_path / "edged.service"
    unit.write_text(UNIT.read_text().replace("/opt/edged/venv/bin/edged", str(stub)))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "edged.service" not in done.stderr, done.stderr  # no warnings about our unit


def test_unit_keeps_gpu_and_csi_reachable():
    text = UNIT.read_text()
    settings = {
        line.split("=", 1)[0] for line in text.splitlines() if "=" in line and line[0] != "#"
    }
    assert {"Type", "WatchdogSec", "NoNewPrivileges", "ProtectSystem", "ProtectHome"} <= settings
    assert {"StateDirectory", "CacheDirectory", "ConfigurationDirectory"} <= settings
    assert not {"PrivateDevices", "ProtectClock", "PrivateTmp"} & settings
    assert "Type=notify" in text and "SupplementaryGroups=video" in text


@pytest.mark.parametrize("script", ["deploy/install.sh", "deploy/uninstall.sh", ".ci/run"])
def test_shellcheck(script):
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck not installed (apt install shellcheck)")
    done = subprocess.run(["shellcheck", str(REPO / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
