"""``bench/pose_parse.py`` still runs and checks what it times (tiny settings; the figures in
bench/results come from a real run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchkit import load_bench

from tests.pose.conftest import compiled_parse_or_skip
from tests.pose.test_parse_vectors import vectors_dir


def tiny_run(tmp_path: Path, *extra: str) -> str:
    if not list(vectors_dir().glob("*.npz")):
        pytest.skip("trt_pose reference vectors not found in %s" % vectors_dir())
    compiled_parse_or_skip()
    out = tmp_path / "pose_parse.md"
    argv = ["--frames", "2", "--rounds", "1", "--warmup", "1", "--skip-dense"]
    assert load_bench("pose_parse.py").main([*argv, *extra, "--write", str(out)]) == 0
    return out.read_text()


def test_bench_compares_compiled_and_numpy(tmp_path: Path) -> None:
    text = tiny_run(tmp_path, "--no-cpp")
    assert "| crowd_24 | 35 | 316 |" in text
    assert "left out (--no-cpp)" in text
    assert "not measured, a column is missing" in text


@pytest.mark.slow
def test_bench_builds_trt_pose_harness_when_its_sources_are_at_hand(tmp_path: Path) -> None:
    bench = load_bench("pose_parse.py")
    if bench.find_trt_pose(None, fetch=False)[0] is None:
        pytest.skip("trt_pose's C++ sources not at hand (set TRT_POSE_SRC)")
    text = tiny_run(tmp_path, "--no-fetch")
    assert "Goal (compiled <= 1.0x trt_pose's C++" in text
    assert "| mean, 20 vectors without random_dense | C++ |" in text
