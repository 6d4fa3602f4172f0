"""Backend selection (``auto``) and the engine factory."""

from __future__ import annotations

import numpy as np
import pytest

from edged.config.engine import EngineConfig
from edged.engines.errors import BackendUnavailableError, ModelLoadError
from edged.engines.factory import create_engine, model_kind, select_backend
from edged.engines.onnxruntime import OnnxRuntimeEngine
from edged.engines.probe import TensorRTStatus, probe_tensorrt
from edged.engines.tensorrt import TensorRTEngine


def _probe(available: bool, reason: str = "why"):
    return lambda: TensorRTStatus(available, reason)


def test_model_kinds():
    assert model_kind("m.onnx") == "onnx"
    assert model_kind("m.ENGINE") == "plan" and model_kind("m.plan") == "plan"
    assert model_kind("pose_trt.pth") == "torch2trt"
    with pytest.raises(ModelLoadError, match="cannot tell what kind of model"):
        model_kind("weights.pth")


@pytest.mark.parametrize(
    ("path", "requested", "available", "expected"),
    [
        ("m.onnx", "auto", False, "onnxruntime"),
        ("m.onnx", "auto", True, "tensorrt"),
        ("m.onnx", "onnxruntime", True, "onnxruntime"),
        ("m.onnx", "tensorrt", True, "tensorrt"),
        ("m.engine", "auto", True, "tensorrt"),
        ("m_trt.pth", "auto", True, "tensorrt"),
    ],
)
def test_select_backend(path, requested, available, expected):
    backend, reason = select_backend(path, requested, probe=_probe(available, "PROBE"))
    assert backend == expected
    assert reason


def test_auto_on_a_laptop_explains_why_not_tensorrt():
    backend, reason = select_backend("m.onnx", "auto", probe=_probe(False, "no CUDA GPU found"))
    assert backend == "onnxruntime" and "no CUDA GPU found" in reason


def test_plan_files_need_tensorrt_whatever_was_asked():
    with pytest.raises(BackendUnavailableError, match="m.engine is a TensorRT engine, but nope"):
        select_backend("m.engine", "auto", probe=_probe(False, "nope"))
    with pytest.raises(ModelLoadError, match="ONNX Runtime cannot run it"):
        select_backend("m.plan", "onnxruntime", probe=_probe(True))


def test_requested_tensorrt_without_it_is_an_error():
    with pytest.raises(BackendUnavailableError, match="backend: tensorrt is requested, but gone"):
        select_backend("m.onnx", "tensorrt", probe=_probe(False, "gone"))


def test_unknown_backend_name():
    with pytest.raises(ValueError):
        select_backend("m.onnx", "openvino", probe=_probe(True))


def test_probe_without_tensorrt_says_what_to_install(no_gpu):
    status = probe_tensorrt()
    assert not status.available and "tensorrt" in status.reason and "install" in status.reason


def test_probe_without_a_gpu(fake_gpu):
    fake_gpu("10.3.0", devices=0)
    status = probe_tensorrt()
    assert not status.available and "no CUDA GPU" in status.reason


def test_probe_with_tensorrt_and_a_gpu(fake_gpu):
    fake_gpu("8.2.1")
    status = probe_tensorrt()
    assert status.available and status.version == "8.2.1" and status.gpu.sm == "8.7"


def test_create_engine_auto_falls_back_to_onnxruntime(no_gpu, onnx_model):
    with create_engine(onnx_model, options=EngineConfig(intra_op_threads=1)) as eng:
        assert isinstance(eng, OnnxRuntimeEngine)
        info = eng.describe()
        assert info["reason"].startswith("auto: TensorRT not usable here")
        assert info["intra_op_threads"] == 1


def test_create_engine_auto_builds_and_caches_on_a_gpu(fake_gpu, onnx_model, tmp_path):
    gpu = fake_gpu("10.3.0")
    options = EngineConfig(cache_dir=str(tmp_path))
    with create_engine(onnx_model, options=options) as eng:
        assert isinstance(eng, TensorRTEngine)
        assert eng.describe()["precision"] == "fp32"
        assert eng.describe()["plan"].startswith(str(tmp_path))
        eng.infer({"image": np.zeros((1, 3, 8, 8), np.float32)})
    with create_engine(onnx_model, options=options):
        pass
    assert gpu.trt.builds == 1


def test_config_backend_is_used_when_none_is_passed(fake_gpu, onnx_model):
    fake_gpu("10.3.0")
    with create_engine(onnx_model, options=EngineConfig(backend="onnxruntime")) as eng:
        assert eng.backend == "onnxruntime"
    with create_engine(onnx_model, "onnxruntime") as eng:
        assert eng.describe()["reason"] == "backend: onnxruntime requested in config"
