"""A pose model from ``edged export pose`` into a Triton model repository, end to end.

The fixture checkpoint is exported small (64x96) to keep the test quick; the
config is read back with Triton's own protobuf (tritonclient), as in
tests/engines/test_triton_repo.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edged.cli import main

pb = pytest.importorskip(
    "tritonclient.grpc.model_config_pb2",
    reason="tritonclient is not installed (pip install 'edged[triton]')",
)
text_format = pytest.importorskip("google.protobuf.text_format")
pytest.importorskip("onnx", reason="onnx is not installed")

ARCH = "resnet18_baseline_att"


@pytest.fixture(scope="module")
def pose_exports(resnet18_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory):
    """(fixed batch 1, rgb-float) and (dynamic batch, bgr-uint8) exports of the fixture."""
    from edged.pipelines.pose.export import export_pose_onnx

    out = tmp_path_factory.mktemp("pose-onnx")
    fixed = export_pose_onnx(ARCH, resnet18_checkpoint, out / "fixed.onnx", input_size=(64, 96))
    dynamic = export_pose_onnx(
        ARCH,
        resnet18_checkpoint,
        out / "dynamic.onnx",
        input_size=(64, 96),
        dynamic_batch=True,
        input_format="bgr-uint8",
    )
    return fixed.path, dynamic.path


def read_config(path: Path):
    return text_format.Parse(path.read_text(encoding="utf-8"), pb.ModelConfig())


def io(fields):
    return [(t.name, pb.DataType.Name(t.data_type), list(t.dims)) for t in fields]


def test_dynamic_batch_bgr_uint8_pose_model(pose_exports, tmp_path):
    _, dynamic = pose_exports
    argv = ["export", "triton-repo", str(dynamic), "--name", "pose", "--out", str(tmp_path)]
    assert main([*argv, "--fp16", "--instances", "2"]) == 0
    assert (tmp_path / "pose" / "1" / "model.onnx").read_bytes() == Path(dynamic).read_bytes()
    config = read_config(tmp_path / "pose" / "config.pbtxt")
    assert (config.name, config.backend, config.max_batch_size) == ("pose", "onnxruntime", 8)
    assert io(config.input) == [("input", "TYPE_UINT8", [64, 96, 3])]
    assert io(config.output) == [
        ("cmap", "TYPE_FP32", [18, 16, 24]),
        ("paf", "TYPE_FP32", [42, 16, 24]),
    ]
    assert config.dynamic_batching.max_queue_delay_microseconds > 0
    assert config.instance_group[0].count == 2
    accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert accelerator.name == "tensorrt" and accelerator.parameters["precision_mode"] == "FP16"


def test_fixed_batch_pose_model_serves_unbatched_and_refuses_max_batch(
    pose_exports, tmp_path, capsys
):
    fixed, _ = pose_exports
    argv = ["export", "triton-repo", str(fixed), "--name", "pose", "--out", str(tmp_path)]
    assert main([*argv, "--max-batch", "4"]) == 1
    err = capsys.readouterr().err
    assert "input [1,3,64,96]" in err and "edged export pose --dynamic-batch" in err
    assert not (tmp_path / "pose").exists()
    assert main(argv) == 0
    config = read_config(tmp_path / "pose" / "config.pbtxt")
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    assert io(config.input) == [("input", "TYPE_FP32", [1, 3, 64, 96])]
    accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert accelerator.parameters["precision_mode"] == "FP32"
