"""Contract tests of the plan builder against fakes of the TensorRT 8.x, 10.x and 11.x APIs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edged.engines.build import BuildOptions, build_engine_file, build_plan, parse_shape_arg
from edged.engines.errors import EngineBuildError
from edged.engines.tensorrt import TensorRTEngine

from .engine_models import build_model

MiB = 2**20


@pytest.mark.parametrize(
    ("version", "network_flags", "workspace_call"),
    [
        ("8.2.1", 1, ("max_workspace_size", 64 * MiB)),
        ("8.6.1", 1, ("set_memory_pool_limit", "WORKSPACE", 64 * MiB)),
        ("10.3.0", 0, ("set_memory_pool_limit", "WORKSPACE", 64 * MiB)),
    ],
)
def test_builder_calls_per_generation(fake_gpu, onnx_model, version, network_flags, workspace_call):
    gpu = fake_gpu(version)
    plan = build_plan(onnx_model, BuildOptions(fp16=True, workspace_mb=64))
    assert plan.startswith(b"FAKEPLAN")
    assert ("create_network", network_flags) in gpu.log
    assert workspace_call in gpu.log
    assert ("set_flag", "FP16") in gpu.log
    assert ("parse_from_file", str(onnx_model)) in gpu.log


def test_dynamic_batch_defaults_to_a_batch_one_profile(fake_gpu, onnx_model):
    gpu = fake_gpu("10.3.0")
    build_plan(onnx_model, BuildOptions())
    one = (1, 3, 8, 8)
    assert ("profile_set_shape", "image", one, one, one) in gpu.log


def test_shape_ranges_become_the_profile(fake_gpu, onnx_model):
    gpu = fake_gpu("10.3.0")
    shapes = {"image": ((1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8))}
    build_plan(onnx_model, BuildOptions(shapes=shapes))
    assert ("profile_set_shape", "image", (1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8)) in gpu.log


def test_built_plan_loads_and_runs(fake_gpu, onnx_model, tmp_path):
    fake_gpu("10.3.0")
    shapes = {"image": ((1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8))}
    out = build_engine_file(onnx_model, tmp_path / "tiny.plan", BuildOptions(shapes=shapes))
    with TensorRTEngine(out) as eng:
        assert eng.inputs[0].shape == (None, 3, 8, 8)
        result = eng.infer({"image": np.ones((3, 3, 8, 8), np.float32)})
        assert set(result) == {"logits", "features"}


def test_unknown_shape_name_is_refused(fake_gpu, onnx_model):
    fake_gpu("10.3.0")
    with pytest.raises(EngineBuildError, match=r"--shape names \['img'\] are not inputs"):
        build_plan(onnx_model, BuildOptions(shapes={"img": ((1,), (1,), (1,))}))


def test_shape_that_contradicts_the_model_is_refused(fake_gpu, onnx_model):
    fake_gpu("10.3.0")
    bad = ((1, 3, 9, 9),) * 3
    with pytest.raises(EngineBuildError, match="does not fit the model's shape"):
        build_plan(onnx_model, BuildOptions(shapes={"image": bad}))


def test_dynamic_spatial_dims_need_a_shape(fake_gpu, tmp_path):
    fake_gpu("10.3.0")
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "dyn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])],
    )
    path = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(EngineBuildError, match=r"dynamic dimensions .* --shape x:MIN,OPT,MAX"):
        build_plan(path, BuildOptions())


def test_unparseable_model_is_a_build_error(fake_gpu, onnx_model, tmp_path):
    fake_gpu("8.2.1")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(onnx_model.read_bytes()[:100])
    with pytest.raises(EngineBuildError, match="could not parse .*broken.onnx"):
        build_plan(broken, BuildOptions())


def _uint8_input_model(path):
    graph = helper.make_graph(
        [helper.make_node("Cast", ["frame"], ["y"], to=TensorProto.FLOAT)],
        "uint8_input",
        [helper.make_tensor_value_info("frame", TensorProto.UINT8, [1, 8, 8, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 3])],
    )
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_uint8_input_on_old_tensorrt_says_to_export_float(fake_gpu, tmp_path):
    """TensorRT 8.2 (JetPack 4.6) has no uint8 inputs: the error says which export to use."""
    fake_gpu("8.2.1")
    model = _uint8_input_model(tmp_path / "frame.onnx")
    with pytest.raises(
        EngineBuildError, match=r"UINT8.*before 8\.5.*without --input-format bgr-uint8"
    ):
        build_plan(model, BuildOptions())


def test_uint8_input_builds_on_newer_tensorrt(fake_gpu, tmp_path):
    fake_gpu("10.3.0")
    assert build_plan(_uint8_input_model(tmp_path / "frame.onnx"), BuildOptions())


def test_failed_build_is_a_build_error_with_advice(fake_gpu, onnx_model):
    gpu = fake_gpu("10.3.0")
    gpu.trt.build_fails = True
    with pytest.raises(EngineBuildError, match="failed to build .*--workspace"):
        build_plan(onnx_model, BuildOptions())


def test_tensorrt_11_has_no_fp16_flag_and_says_what_to_do(fake_gpu, onnx_model):
    gpu = fake_gpu("11.0.0")
    with pytest.raises(
        EngineBuildError, match="no FP16 builder flag.*Convert the ONNX model to FP16"
    ):
        build_plan(onnx_model, BuildOptions(fp16=True))
    with pytest.raises(EngineBuildError, match="no INT8 calibration.*Q/DQ"):
        build_plan(onnx_model, BuildOptions(int8=True, calibration_dir="/nonexistent"))
    assert gpu.trt.builds == 0
    assert build_plan(onnx_model, BuildOptions()).startswith(b"FAKEPLAN")
    assert ("create_network", 0) in gpu.log


@pytest.mark.parametrize("version", ["8.2.1", "10.3.0"])
def test_int8_calibrates_from_npy_batches(fake_gpu, onnx_model, tmp_path, version):
    gpu = fake_gpu(version)
    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(3):
        np.save(calib / f"batch{i}.npy", np.full((1, 3, 8, 8), i, np.float32))
    build_plan(onnx_model, BuildOptions(int8=True, calibration_dir=str(calib)))
    assert ("set_flag", "INT8") in gpu.log
    assert gpu.log.count("calibration_batch") == 3
    assert gpu.log.count("htod_sync") == 3
    assert gpu.cuda.memory == {} and gpu.cuda.contexts_retained == 0


def test_int8_with_empty_calibration_dir_is_refused(fake_gpu, onnx_model, tmp_path):
    fake_gpu("10.3.0")
    (tmp_path / "calib").mkdir()
    with pytest.raises(EngineBuildError, match="no .npy/.npz batches"):
        build_plan(onnx_model, BuildOptions(int8=True, calibration_dir=str(tmp_path / "calib")))


def test_missing_model_is_a_build_error(fake_gpu, tmp_path):
    fake_gpu("10.3.0")
    with pytest.raises(EngineBuildError, match="does not exist"):
        build_plan(tmp_path / "nope.onnx", BuildOptions())


def test_parse_shape_arg():
    assert parse_shape_arg("image:1x3x224x224,2x3x224x224,8x3x224x224") == (
        "image",
        ((1, 3, 224, 224), (2, 3, 224, 224), (8, 3, 224, 224)),
    )
    assert parse_shape_arg("input.1:1x3x8x8")[1] == ((1, 3, 8, 8),) * 3
    for bad in ("image", "image:1x3,2x3", "image:4x3,2x3,1x3", "image:ax3", "image:1x3,1x3x3,1x3"):
        with pytest.raises(ValueError):
            parse_shape_arg(bad)


def test_cache_flags_change_with_every_option():
    base = BuildOptions().cache_flags()
    assert BuildOptions(fp16=True).cache_flags() != base
    assert BuildOptions(workspace_mb=256).cache_flags() != base
    assert BuildOptions(shapes={"x": ((1,), (1,), (2,))}).cache_flags() != base
    assert BuildOptions().cache_flags() == base


def test_static_model_builds_without_a_profile(fake_gpu, tmp_path):
    gpu = fake_gpu("10.3.0")
    path = build_model(tmp_path / "static.onnx", batch=1)
    build_plan(path, BuildOptions())
    assert "profile_set_shape" not in gpu.log.names()


def test_npz_calibration_batches_are_keyed_by_input_name(tmp_path):
    from edged.engines.calibration import load_batches

    np.savez(tmp_path / "b0.npz", a=np.zeros((1, 2), np.float32), b=np.ones((1, 3), np.float32))
    batches = load_batches(str(tmp_path), ["a", "b"])
    assert [sorted(b) for b in batches] == [["a", "b"]]
    with pytest.raises(EngineBuildError, match=r"lacks arrays for inputs \['c'\]"):
        load_batches(str(tmp_path), ["a", "c"])
    np.save(tmp_path / "b1.npy", np.zeros((1, 2), np.float32))
    with pytest.raises(EngineBuildError, match="single-input models"):
        load_batches(str(tmp_path), ["a", "b"])
