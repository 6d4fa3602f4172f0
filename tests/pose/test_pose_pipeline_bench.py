"""``bench/pose_pipeline.py --null-engine`` still runs edged's pose pipeline on an instant
engine and the trt_pose demo path beside it (tiny settings; the figures in bench/results come
from a real run)."""

from __future__ import annotations

import pytest
from benchkit import load_bench

from tests.pose.test_parse_vectors import vectors_dir


def test_null_engine_bench_times_every_stage_of_both_paths() -> None:
    pytest.importorskip("cv2")
    pytest.importorskip("torch")
    bench = load_bench("pose_pipeline.py")
    missing = [n for n in bench.ORDINARY_VECTORS if not (vectors_dir() / f"{n}.npz").is_file()]
    if missing:
        pytest.skip("trt_pose reference vectors not found in %s" % vectors_dir())
    result = bench.null_engine_bench(frames=3, rounds=1, parses=("numpy",))
    assert result["parse_names"] == {"numpy": "numpy"}
    paths = result["paths"]
    assert set(paths) == {"edged (numpy)", "trt_pose demo"}
    assert set(paths["edged (numpy)"]) == {*bench.EDGED_STAGES, "total"}
    assert set(paths["trt_pose demo"]) == {*bench.DEMO_STAGES, "total"}
    assert result["samples"] == {"edged (numpy)": 3, "trt_pose demo": 3}
    for stages in paths.values():
        total = stages["total"]
        assert 0 < total["median"] <= total["p99"] < 10_000
        for name in ("preprocess", "parse"):
            assert stages[name]["median"] > 0
        # the stages fit inside the frame's total
        assert sum(s["mean"] for n, s in stages.items() if n != "total") <= total["mean"] * 1.01
    text = bench.null_engine_markdown(result, "python bench/pose_pipeline.py --null-engine", "x")
    assert "| edged (numpy) | numpy |" in text
    assert "goal <= 1.0 ms" in text


def test_null_engine_bench_runs_the_compiled_parse_when_built() -> None:
    pytest.importorskip("cv2")
    pytest.importorskip("torch")
    from tests.pose.conftest import compiled_parse_or_skip

    compiled_parse_or_skip()
    bench = load_bench("pose_pipeline.py")
    if not (vectors_dir() / f"{bench.ORDINARY_VECTORS[0]}.npz").is_file():
        pytest.skip("trt_pose reference vectors not found in %s" % vectors_dir())
    result = bench.null_engine_bench(frames=2, rounds=1, parses=("compiled",))
    assert result["parse_names"] == {"compiled": "compiled"}
    assert result["paths"]["edged (compiled)"]["parse"]["median"] > 0


def test_batching_bench_compares_both_sides_on_the_same_pipeline(resnet18_dynamic_onnx) -> None:
    """``bench/batching.py``: batched and separate passes over 4 cameras, the same payloads."""
    pytest.importorskip("cv2")
    bench = load_bench("batching.py")
    result = bench.run(resnet18_dynamic_onnx, rounds=2, iterations=1)
    assert result["batching"] == "up to 4 frames per engine call"
    assert len(result["rounds"]) == 2 and result["ratio_median"] > 0
    assert all(r["batched"]["fps"] > 0 and r["separate"]["fps"] > 0 for r in result["rounds"])
    text = bench.markdown(result, "python bench/batching.py", "x")
    assert "| round | batched frames/s | separate frames/s | ratio |" in text
