"""Contract tests: engines saved by torch2trt (``*_trt.pth``) as trt_pose's live demo makes them.

torch2trt's ``TRTModule`` saves ``{prefix}engine`` (a bytearray of the
serialised engine), ``{prefix}input_names`` and ``{prefix}output_names`` via
``torch.save(model_trt.state_dict(), path)``. These tests write such files
with real torch and load them through edged onto the fake TensorRT.
"""

from __future__ import annotations

import sys
from collections import OrderedDict

import numpy as np
import pytest

from edged.engines.errors import BackendUnavailableError, ModelLoadError
from edged.engines.factory import create_engine, model_kind, open_tensorrt_file
from edged.engines.torch2trt import is_torch2trt_path, load_torch2trt

from .trt_fakes import make_plan, simple_plan

torch = pytest.importorskip("torch", reason="torch2trt files are torch saves; torch not installed")


def _save(path, state):
    torch.save(state, str(path))
    return path


def _trt_pose_state(prefix: str = "") -> OrderedDict:
    """The state dict layout of trt_pose's resnet18 ..._trt.pth (implicit batch, TRT 7/8)."""
    plan = make_plan(
        [{"name": "input_0", "shape": [-1, 3, 4, 4], "dtype": "float32"}],
        [
            {"name": "output_0", "op": "affine", "source": "input_0"},
            {"name": "output_1", "op": "sum", "source": "input_0"},
        ],
        implicit_batch=True,
        max_batch_size=1,
    )
    state = OrderedDict()
    state[prefix + "engine"] = bytearray(plan)
    state[prefix + "input_names"] = ["input_0"]
    state[prefix + "output_names"] = ["output_0", "output_1"]
    return state


def test_trt_pose_file_loads_and_runs_on_tensorrt_8(fake_gpu, tmp_path):
    gpu = fake_gpu("8.2.1")
    path = _save(tmp_path / "resnet18_baseline_att_224x224_A_epoch_249_trt.pth", _trt_pose_state())
    assert model_kind(path) == "torch2trt"
    with create_engine(path, "auto", name="pose") as eng:
        assert [s.name for s in eng.inputs] == ["input_0"]
        assert [s.name for s in eng.outputs] == ["output_0", "output_1"]
        x = np.ones((1, 3, 4, 4), np.float32)
        out = eng.infer({"input_0": x})
        np.testing.assert_allclose(out["output_0"], x * 2 + 1)
        np.testing.assert_allclose(out["output_1"], np.full((1, 3), 16.0))
        assert eng.describe()["api"] == "bindings-implicit-batch"
        assert "needs it" in eng.selection_reason
    assert gpu.cuda.contexts_retained == 0


def test_prefixed_keys_and_flatteners_of_newer_torch2trt(fake_gpu, tmp_path):
    fake_gpu("10.3.0")
    state = OrderedDict()
    state["module.engine"] = bytearray(simple_plan())
    state["module.input_names"] = ["input"]
    state["module.output_names"] = [
        "pooled",
        "scaled",
    ]  # positional order differs from the engine's
    state["module.input_flattener"] = {"schema": [0]}
    state["module.output_flattener"] = {"schema": [0, 1]}
    path = _save(tmp_path / "detector_trt.pth", state)
    saved = load_torch2trt(str(path))
    assert saved.prefix == "module." and saved.plan.startswith(b"FAKEPLAN")
    with open_tensorrt_file(path) as eng:
        assert [s.name for s in eng.outputs] == ["pooled", "scaled"]
        out = eng.infer({"input": np.ones((2, 3, 4, 4), np.float32)})
        assert out["pooled"].shape == (2, 3)


def test_file_without_torch2trt_keys_is_refused(tmp_path):
    path = _save(tmp_path / "weights_trt.pth", {"conv.weight": torch.zeros(2)})
    with pytest.raises(ModelLoadError, match="not a torch2trt engine file"):
        load_torch2trt(str(path))


def test_names_that_do_not_match_the_engine_are_refused(fake_gpu, tmp_path):
    fake_gpu("10.3.0")
    state = _trt_pose_state()
    state["engine"] = bytearray(simple_plan())
    path = _save(tmp_path / "mixed_trt.pth", state)
    with pytest.raises(ModelLoadError, match="lists tensors"):
        open_tensorrt_file(path)


def test_truncated_file_is_a_load_error(tmp_path):
    path = _save(tmp_path / "pose_trt.pth", _trt_pose_state())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelLoadError, match="cannot read torch2trt file"):
        load_torch2trt(str(path))


def test_engine_from_another_tensorrt_is_refused_with_advice(fake_gpu, tmp_path):
    fake_gpu("10.3.0")  # implicit-batch engines do not deserialise on TensorRT 10
    path = _save(tmp_path / "pose_trt.pth", _trt_pose_state())
    with pytest.raises(ModelLoadError, match="edged build-engine"):
        open_tensorrt_file(path)


def test_without_torch_the_error_says_what_to_install(tmp_path, monkeypatch):
    path = _save(tmp_path / "pose_trt.pth", _trt_pose_state())
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(BackendUnavailableError, match="needs PyTorch"):
        load_torch2trt(str(path))


def test_naming_convention():
    assert is_torch2trt_path("resnet18_baseline_att_224x224_A_epoch_249_trt.pth")
    assert not is_torch2trt_path("resnet18_baseline_att_224x224_A_epoch_249.pth")
