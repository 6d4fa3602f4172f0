"""The ONNX Runtime engine on a real (tiny) ONNX model: outputs, errors, options."""

from __future__ import annotations

import json
import threading

import numpy as np
import onnxruntime as ort
import pytest

from edged.engines.errors import InputMismatchError, ModelLoadError
from edged.engines.onnxruntime import OnnxRuntimeEngine, resolve_providers, session_options

from .engine_models import CLASSES, build_model, reference


@pytest.fixture
def engine(onnx_model):
    with OnnxRuntimeEngine(onnx_model, name="tiny") as eng:
        yield eng


def _image(batch: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, 8, 8)).astype(np.float32)


def test_specs_describe_the_model(engine):
    assert [(s.name, s.shape, s.dtype) for s in engine.inputs] == [
        ("image", ("batch", 3, 8, 8), np.dtype(np.float32))
    ]
    assert [(s.name, s.shape) for s in engine.outputs] == [
        ("logits", ("batch", CLASSES)),
        ("features", ("batch", 4, 8, 8)),
    ]


@pytest.mark.parametrize("batch", [1, 3])
def test_outputs_match_numpy_reference(engine, batch):
    image = _image(batch)
    out = engine.infer({"image": image})
    logits, features = reference(image)
    assert set(out) == {"logits", "features"}
    np.testing.assert_allclose(out["logits"], logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out["features"], features, rtol=1e-4, atol=1e-4)
    assert out["logits"].shape == (batch, CLASSES)


def test_dynamic_batch_changes_between_calls(engine):
    for batch in (2, 1, 4):
        assert engine.infer({"image": _image(batch)})["logits"].shape == (batch, CLASSES)


def test_wrong_input_name_is_named_in_the_error(engine):
    with pytest.raises(
        InputMismatchError, match=r"expects inputs \['image'\].*missing: \['image'\]"
    ):
        engine.infer({"img": _image(1)})


def test_extra_input_is_refused(engine):
    with pytest.raises(InputMismatchError, match="unexpected: \\['mask'\\]"):
        engine.infer({"image": _image(1), "mask": _image(1)})


def test_wrong_dtype_is_refused_not_cast(engine):
    with pytest.raises(InputMismatchError, match="dtype float64.*expected float32.*never casts"):
        engine.infer({"image": _image(1).astype(np.float64)})
    assert engine.metrics.count == 0 and engine.metrics.errors == 1


def test_wrong_shape_names_expected_shape(engine):
    with pytest.raises(
        InputMismatchError, match=r"shape \(1, 3, 9, 8\), expected \(batch, 3, 8, 8\)"
    ):
        engine.infer({"image": np.zeros((1, 3, 9, 8), np.float32)})
    with pytest.raises(InputMismatchError, match="shape \\(3, 8, 8\\)"):
        engine.infer({"image": np.zeros((3, 8, 8), np.float32)})


def test_a_list_instead_of_a_dict_is_refused(engine):
    with pytest.raises(InputMismatchError, match="takes a dict of input name"):
        engine.infer([_image(1)])


def test_non_array_input_is_refused(engine):
    with pytest.raises(InputMismatchError, match="must be a numpy.ndarray, got list"):
        engine.infer({"image": [[0.0]]})


def test_truncated_model_is_a_load_error_naming_the_file(onnx_model, tmp_path):
    data = onnx_model.read_bytes()
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError) as info:
        OnnxRuntimeEngine(broken)
    assert str(broken) in str(info.value)
    assert "truncated" in str(info.value)


def test_non_onnx_file_is_a_load_error(tmp_path):
    bogus = tmp_path / "notes.onnx"
    bogus.write_text("this is not a model\n")
    with pytest.raises(ModelLoadError, match="cannot load ONNX model .*notes.onnx"):
        OnnxRuntimeEngine(bogus)


def test_missing_file_is_a_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        OnnxRuntimeEngine(tmp_path / "nope.onnx")


def test_describe_is_json_and_reports_providers(engine):
    engine.infer({"image": _image(1)})
    info = json.loads(json.dumps(engine.describe()))
    assert info["backend"] == "onnxruntime"
    assert info["providers"] == ["CPUExecutionProvider"]
    assert len(info["sha256"]) == 12
    assert info["metrics"]["count"] == 1
    assert info["inputs"][0] == {"name": "image", "shape": ["batch", 3, 8, 8], "dtype": "float32"}


async def test_runs_on_its_own_named_thread_via_run_in_executor(engine):
    import asyncio

    seen = []

    def infer_and_note(batch):
        seen.append(threading.current_thread().name)
        return engine.infer(batch)

    loop = asyncio.get_running_loop()
    out = await loop.run_in_executor(engine.executor, infer_and_note, {"image": _image(2)})
    assert out["logits"].shape == (2, CLASSES)
    assert seen == ["engine-tiny_0"]


def test_session_options_default_to_no_spinning_sequential_all_optimisations():
    options = session_options(ort, 2, 1, allow_spinning=False)
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    spinning = session_options(ort, 0, 0, allow_spinning=True)
    assert spinning.get_session_config_entry("session.intra_op.allow_spinning") == "1"


def test_missing_provider_is_skipped_with_a_warning_and_cpu_kept(caplog):
    chosen = resolve_providers(["CUDAExecutionProvider"], ["CPUExecutionProvider"])
    assert chosen == ["CPUExecutionProvider"]
    assert "CUDAExecutionProvider" in caplog.text and "not available" in caplog.text


def test_static_batch_model_checks_the_batch(tmp_path):
    path = build_model(tmp_path / "fixed.onnx", batch=2)
    with OnnxRuntimeEngine(path) as eng:
        assert eng.inputs[0].shape == (2, 3, 8, 8)
        with pytest.raises(InputMismatchError):
            eng.infer({"image": _image(1)})
        assert eng.infer({"image": _image(2)})["logits"].shape == (2, CLASSES)
