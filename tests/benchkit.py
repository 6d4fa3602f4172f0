"""Test helper: a script in ``bench/`` (not a package) loaded as a module, for smoke tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_bench(script: str) -> ModuleType:
    """``bench/<script>`` as a module (its ``main`` is not run)."""
    path = BENCH / script
    spec = importlib.util.spec_from_file_location(path.stem + "_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
