"""Real TensorRT on a real GPU: build from ONNX, compare with ONNX Runtime.

Marked ``gpu``; skipped with the reason when tensorrt, pycuda or a CUDA GPU
is missing (every CI machine today). On a Jetson or a CUDA box:
``python -m pytest tests/engines -m gpu``.
"""

from __future__ import annotations

import numpy as np
import pytest

from edged.config.engine import EngineConfig, ShapeRange
from edged.engines.factory import create_engine
from edged.engines.onnxruntime import OnnxRuntimeEngine
from edged.engines.probe import probe_tensorrt

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def real_tensorrt():
    status = probe_tensorrt()
    if not status.available:
        pytest.skip("real TensorRT test: %s" % status.reason)
    return status


def _config(tmp_path, **kw):
    shapes = {"image": ShapeRange(min=[1, 3, 8, 8], opt=[2, 3, 8, 8], max=[4, 3, 8, 8])}
    return EngineConfig(cache_dir=str(tmp_path / "plans"), shapes=shapes, **kw)


@pytest.mark.parametrize("batch", [1, 3])
def test_tensorrt_matches_onnxruntime(real_tensorrt, onnx_model, tmp_path, batch):
    x = np.random.default_rng(0).standard_normal((batch, 3, 8, 8)).astype(np.float32)
    with OnnxRuntimeEngine(onnx_model) as ort_engine:
        expected = ort_engine.infer({"image": x})
    with create_engine(onnx_model, "tensorrt", _config(tmp_path)) as trt_engine:
        assert [s.name for s in trt_engine.inputs] == ["image"]
        got = trt_engine.executor.submit(trt_engine.infer, {"image": x}).result(timeout=60)
        assert trt_engine.describe()["api"] in ("tensor", "bindings")
    for name in ("logits", "features"):
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-3, atol=1e-3)


def test_fp16_plan_is_close_to_onnxruntime(real_tensorrt, onnx_model, tmp_path):
    import tensorrt as trt

    if not hasattr(trt.BuilderFlag, "FP16"):
        pytest.skip("TensorRT %s has no FP16 builder flag" % trt.__version__)
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    with OnnxRuntimeEngine(onnx_model) as ort_engine:
        expected = ort_engine.infer({"image": x})
    with create_engine(onnx_model, "tensorrt", _config(tmp_path, fp16=True)) as trt_engine:
        got = trt_engine.infer({"image": x})
    np.testing.assert_allclose(got["logits"], expected["logits"], rtol=5e-2, atol=5e-2)


def test_cached_plan_is_reused_and_warmup_runs(real_tensorrt, onnx_model, tmp_path):
    cfg = _config(tmp_path)
    with create_engine(onnx_model, "tensorrt", cfg) as first:
        plan = first.describe()["plan"]
        first.warmup(3)
    with create_engine(onnx_model, "tensorrt", cfg) as second:
        assert second.describe()["plan"] == plan
        assert second.infer({"image": np.zeros((4, 3, 8, 8), np.float32)})["logits"].shape == (4, 5)
