"""bench/abuse.py --quick, its config and HTTP areas, against a live daemon (about 30 s).

The MQTT area (a broker outage, a message over max_packet_size) takes longer and is
covered piece by piece in tests/mqtt; run ``python bench/abuse.py`` for all of it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_abuse_suite_quick_config_and_http_areas_pass(tmp_path):
    if not Path("/proc/self/status").exists():
        pytest.skip("the abuse suite reads /proc (Linux only)")
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        pytest.skip("mosquitto not installed")
    figures = tmp_path / "abuse.json"
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "abuse.py"),
            "--quick",
            "--areas",
            "config,http",
            "--json",
            str(figures),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "checks pass" in run.stdout
    checks = json.loads(figures.read_text())["checks"]
    assert {c["area"] for c in checks} >= {"config", "http"}
    assert all(c["server_errors"] == 0 and not c["failures"] for c in checks), checks
