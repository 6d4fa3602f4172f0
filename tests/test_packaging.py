"""The wheel ``pip install .`` builds: every module, the status page's files, the bundled models.

A person installs edged on a Jetson with pip; what the wheel leaves out the daemon cannot
find there (the status page's script 404s, ``edged demo`` and ``reader: auto`` have no
model), and nothing else would notice, since the tests run from the source tree. The wheel
is built from a copy of the tracked files with the test environment's setuptools (no
build isolation, so offline), as a user's ``pip install .`` builds it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import List

import pytest

REPO = Path(__file__).resolve().parents[1]


def _source_files() -> List[str]:
    """The files a clean clone holds (git's list where this is a checkout)."""
    try:
        out = subprocess.run(
            ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [line for line in out.splitlines() if (REPO / line).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    pytest.importorskip("setuptools", reason="building a wheel needs setuptools")
    src = tmp_path_factory.mktemp("src")
    for name in _source_files():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    done = subprocess.run([*cmd, "-w", str(out), str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    (built,) = out.glob("edged-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_every_module_and_the_status_pages_files(wheel):
    names = set(wheel.namelist())
    modules = [n for n in _source_files() if n.startswith("edged/") and n.endswith(".py")]
    assert modules and not [m for m in modules if m not in names]
    static = [n for n in _source_files() if n.startswith("edged/http/static/")]
    assert static and not [s for s in static if s not in names]


def test_the_wheel_ships_every_bundled_model_with_its_card(wheel):
    """Every model the repository carries (``weights/*.onnx``, the ones edged trained
    itself) goes where ``weights.resolve_model`` looks for it in an installed edged
    (``<prefix>/share/edged/weights``), with the model cards."""
    shipped = {Path(n).name for n in wheel.namelist() if "/data/share/edged/weights/" in n}
    carried = [
        Path(n).name
        for n in _source_files()
        if n.startswith("weights/") and (n.endswith(".onnx") or Path(n).name.startswith("README."))
    ]
    assert any(name.endswith(".onnx") for name in carried)
    missing = sorted(name for name in carried if name not in shipped and name != "README.md")
    assert not missing, f"left out of setup.py's data_files: {missing}"
