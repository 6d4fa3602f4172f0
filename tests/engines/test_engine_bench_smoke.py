"""``bench/engine_overhead.py`` still runs (tiny settings; the figures come from a real run)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "engine_overhead.py"


def test_bench_runs_and_writes_markdown(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("engine_overhead_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "engines.md"
    argv = ["--size", "16", "--width", "2", "--rounds", "2", "--calls", "3"]
    argv += ["--paced-s", "0.2", "--hz", "50", "--write", str(out)]
    assert bench.main(argv) == 0
    text = out.read_text()
    assert "| edged `OnnxRuntimeEngine.infer` |" in text
    assert "allow_spinning: true" in text and "Goal (engine >= 0.98" in text
