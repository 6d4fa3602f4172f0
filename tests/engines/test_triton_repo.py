"""``edged export triton-repo``: the repository layout, and config.pbtxt read back with Triton's
own protobuf (tritonclient's ``model_config_pb2``). Triton itself does not run here."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from edged.cli import main
from edged.engines.triton_repo import (
    DEFAULT_MAX_BATCH,
    DEFAULT_QUEUE_DELAY_US,
    TritonRepoError,
    write_model_repository,
)
from edged.export_command import export_kinds

from .engine_models import build_model

pb = pytest.importorskip(
    "tritonclient.grpc.model_config_pb2",
    reason="tritonclient is not installed (pip install 'edged[triton]')",
)
onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'edged[triton]')")
text_format = pytest.importorskip("google.protobuf.text_format")

GAUGE_KP = Path(__file__).resolve().parents[2] / "weights" / "gauge_kp_w32.onnx"


def read_config(repo: Path, name: str):
    text = (repo / name / "config.pbtxt").read_text(encoding="utf-8")
    return text_format.Parse(text, pb.ModelConfig())


def tensors(fields):
    return [(t.name, pb.DataType.Name(t.data_type), list(t.dims)) for t in fields]


def tensorrt_parameters(config):
    accelerators = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert [a.name for a in accelerators] == ["tensorrt"]
    return dict(accelerators[0].parameters)


def uint8_model(path: Path, batch) -> Path:
    """uint8 frames in, a per-frame peak ([batch]) out; an initializer is listed as an input."""
    from onnx import TensorProto, helper, numpy_helper

    offset = numpy_helper.from_array(np.array([1], dtype=np.uint8), "offset")
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["frame", "offset"], ["shifted"]),
            helper.make_node("ReduceMax", ["shifted"], ["peak"], axes=[1, 2, 3], keepdims=0),
        ],
        "uint8_graph",
        [
            helper.make_tensor_value_info("frame", TensorProto.UINT8, [batch, "h", "w", 3]),
            helper.make_tensor_value_info("offset", TensorProto.UINT8, [1]),
        ],
        [
            helper.make_tensor_value_info("shifted", TensorProto.UINT8, [batch, "h", "w", 3]),
            helper.make_tensor_value_info("peak", TensorProto.UINT8, [batch]),
        ],
        initializer=[offset],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_gauge_keypoint_model_defaults_to_dynamic_batching(tmp_path):
    repo = tmp_path / "repo"
    result = write_model_repository(GAUGE_KP, repo, "gauge_kp")
    assert result.model_path == repo / "gauge_kp" / "1" / "model.onnx"
    assert result.model_path.read_bytes() == GAUGE_KP.read_bytes()
    assert sorted(p.name for p in (repo / "gauge_kp").iterdir()) == ["1", "config.pbtxt"]

    config = read_config(repo, "gauge_kp")
    assert (config.name, config.backend, config.platform) == ("gauge_kp", "onnxruntime", "")
    assert config.max_batch_size == DEFAULT_MAX_BATCH == result.max_batch_size
    # the graph's [n,3,h,w] -> [n,6,h4,w4], [n,8,h4,w4]: the batch axis left to Triton
    assert tensors(config.input) == [("image", "TYPE_FP32", [3, -1, -1])]
    assert tensors(config.output) == [
        ("cmap", "TYPE_FP32", [6, -1, -1]),
        ("paf", "TYPE_FP32", [8, -1, -1]),
    ]
    assert config.HasField("dynamic_batching")
    assert config.dynamic_batching.max_queue_delay_microseconds == DEFAULT_QUEUE_DELAY_US
    assert [(g.count, g.kind) for g in config.instance_group] == [
        (1, pb.ModelInstanceGroup.KIND_GPU)
    ]
    assert tensorrt_parameters(config) == {
        "precision_mode": "FP32",
        "max_workspace_size_bytes": "1073741824",
    }


def test_options_reach_the_config(tmp_path):
    repo = tmp_path / "repo"
    write_model_repository(
        GAUGE_KP, repo, "kp", max_batch_size=4, instances=2, fp16=True, version=3
    )
    assert (repo / "kp" / "3" / "model.onnx").read_bytes() == GAUGE_KP.read_bytes()
    config = read_config(repo, "kp")
    assert config.max_batch_size == 4
    assert [(g.count, g.kind) for g in config.instance_group] == [
        (2, pb.ModelInstanceGroup.KIND_GPU)
    ]
    assert tensorrt_parameters(config)["precision_mode"] == "FP16"


def test_max_batch_0_keeps_the_batch_axis_and_drops_dynamic_batching(tmp_path):
    write_model_repository(GAUGE_KP, tmp_path, "kp", max_batch_size=0)
    config = read_config(tmp_path, "kp")
    assert config.max_batch_size == 0
    assert tensors(config.input) == [("image", "TYPE_FP32", [-1, 3, -1, -1])]
    assert not config.HasField("dynamic_batching")


def test_max_batch_1_batches_without_a_dynamic_batcher(tmp_path):
    write_model_repository(GAUGE_KP, tmp_path, "kp", max_batch_size=1)
    config = read_config(tmp_path, "kp")
    assert config.max_batch_size == 1 and not config.HasField("dynamic_batching")
    assert tensors(config.input) == [("image", "TYPE_FP32", [3, -1, -1])]


def test_fixed_batch_model_defaults_to_0_with_full_dims(tmp_path):
    model = build_model(tmp_path / "fixed.onnx", batch=1)
    result = write_model_repository(model, tmp_path / "repo", "fixed")
    config = read_config(tmp_path / "repo", "fixed")
    assert result.max_batch_size == config.max_batch_size == 0
    # the initializers (conv_w, ...) are graph inputs in old exports; only real ones show
    assert tensors(config.input) == [("image", "TYPE_FP32", [1, 3, 8, 8])]
    assert tensors(config.output) == [
        ("logits", "TYPE_FP32", [1, 5]),
        ("features", "TYPE_FP32", [1, 4, 8, 8]),
    ]


def test_max_batch_on_a_fixed_batch_model_is_refused_with_the_fix(tmp_path):
    model = build_model(tmp_path / "fixed.onnx", batch=1)
    with pytest.raises(TritonRepoError) as info:
        write_model_repository(model, tmp_path / "repo", "fixed", max_batch_size=4)
    message = str(info.value)
    assert "\n" not in message
    assert "image [1,3,8,8]" in message and "logits [1,5]" in message
    assert "--dynamic-batch" in message and "--max-batch 0" in message
    assert not (tmp_path / "repo").exists()


def test_uint8_io_and_initializers_listed_as_inputs(tmp_path):
    model = uint8_model(tmp_path / "u8.onnx", "batch")
    write_model_repository(model, tmp_path / "repo", "u8", max_batch_size=2)
    config = read_config(tmp_path / "repo", "u8")
    assert tensors(config.input) == [("frame", "TYPE_UINT8", [-1, -1, 3])]  # no "offset"
    assert tensors(config.output)[0] == ("shifted", "TYPE_UINT8", [-1, -1, 3])
    # [batch] per request is a scalar: Triton wants dims [1] reshaped to []
    peak = config.output[1]
    assert (peak.name, list(peak.dims)) == ("peak", [1])
    assert peak.HasField("reshape") and not peak.reshape.shape
    assert not config.input[0].HasField("reshape")


def test_without_batching_a_rank_1_output_keeps_its_shape(tmp_path):
    model = uint8_model(tmp_path / "u8.onnx", 1)
    write_model_repository(model, tmp_path / "repo", "u8")
    config = read_config(tmp_path / "repo", "u8")
    assert config.max_batch_size == 0
    assert tensors(config.output) == [
        ("shifted", "TYPE_UINT8", [1, -1, -1, 3]),
        ("peak", "TYPE_UINT8", [1]),
    ]
    assert not config.output[1].HasField("reshape")


def test_a_scalar_output_in_a_batched_model_is_refused(tmp_path):
    model = uint8_model(tmp_path / "u8.onnx", "batch")
    proto = onnx.load(str(model))
    proto.graph.output[1].type.tensor_type.shape.ClearField("dim")  # peak: a scalar
    onnx.save(proto, str(model))
    with pytest.raises(TritonRepoError, match=r"fixed ones: peak \[\]; re-export"):
        write_model_repository(model, tmp_path / "repo", "u8", max_batch_size=2)
    result = write_model_repository(model, tmp_path / "repo", "u8")
    assert result.max_batch_size == 0
    peak = read_config(tmp_path / "repo", "u8").output[1]
    assert list(peak.dims) == [1] and peak.HasField("reshape") and not peak.reshape.shape


def test_rewriting_replaces_the_config_and_keeps_other_versions(tmp_path):
    write_model_repository(GAUGE_KP, tmp_path, "kp", version=1)
    write_model_repository(GAUGE_KP, tmp_path, "kp", version=2, fp16=True)
    assert (tmp_path / "kp" / "1" / "model.onnx").is_file()
    assert (tmp_path / "kp" / "2" / "model.onnx").is_file()
    assert tensorrt_parameters(read_config(tmp_path, "kp"))["precision_mode"] == "FP16"
    assert not [p for p in (tmp_path / "kp").rglob(".*")]  # no temporary files left


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"name": "../up"}, "model name '../up'"),
        ({"name": ""}, "model name ''"),
        ({"version": 0}, "--version must be >= 1"),
        ({"instances": 0}, "--instances must be >= 1"),
        ({"max_batch_size": -1}, "--max-batch must be >= 0"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, fragment):
    args = {"name": "kp", **kwargs}
    with pytest.raises(TritonRepoError, match="^" + re.escape(fragment)):
        write_model_repository(GAUGE_KP, tmp_path, **args)
    assert not list(tmp_path.iterdir())


def test_a_file_that_is_not_onnx(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\xff\xfe not a protobuf")
    with pytest.raises(TritonRepoError, match="is not an ONNX model"):
        write_model_repository(bad, tmp_path / "repo", "bad")


# --- the command line ------------------------------------------------------------------------


def test_cli_writes_the_repository(tmp_path, capsys):
    repo = tmp_path / "models"
    argv = ["export", "triton-repo", str(GAUGE_KP), "--name", "gauge_kp", "--out", str(repo)]
    assert main([*argv, "--max-batch", "16", "--instances", "2", "--fp16", "--version", "7"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {repo / 'gauge_kp' / '7' / 'model.onnx'}" in out
    assert f"wrote {repo / 'gauge_kp' / 'config.pbtxt'}" in out
    assert "max_batch_size 16" in out and "input image: TYPE_FP32 [n,3,h,w]" in out
    assert f"tritonserver --model-repository={repo}" in out
    config = read_config(repo, "gauge_kp")
    assert (config.max_batch_size, config.instance_group[0].count) == (16, 2)
    assert tensorrt_parameters(config)["precision_mode"] == "FP16"
    assert (
        (repo / "gauge_kp" / "config.pbtxt")
        .read_text()
        .startswith("# written by edged export triton-repo from 'gauge_kp_w32.onnx' (sha256 ")
    )


def test_cli_refuses_max_batch_on_a_fixed_batch_model_in_one_line(tmp_path, capsys):
    model = build_model(tmp_path / "fixed.onnx", batch=1)
    argv = ["export", "triton-repo", str(model), "--name", "m", "--out", str(tmp_path / "r")]
    assert main([*argv, "--max-batch", "8"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("edged export triton-repo: error: --max-batch 8 needs a symbolic")
    assert "edged export pose --dynamic-batch" in err
    assert main([*argv, "--max-batch", "0"]) == 0


def test_cli_missing_model_file(tmp_path, capsys):
    missing = tmp_path / "nope.onnx"
    argv = ["export", "triton-repo", str(missing), "--name", "m", "--out", str(tmp_path / "r")]
    assert main(argv) == 1
    assert capsys.readouterr().err.strip() == (
        f"edged export triton-repo: error: model file not found: {missing}"
    )
    assert not (tmp_path / "r").exists()


def test_cli_without_tritonclient_exits_2_saying_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tritonclient.grpc.model_config_pb2", None)
    argv = ["export", "triton-repo", str(GAUGE_KP), "--name", "m", "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "needs tritonclient" in err and "pip install 'edged[triton]'" in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "tail",
    [
        ["--out", "r"],  # no --name
        ["--name", "m"],  # no --out
        ["--name", "m", "--out", "r", "--max-batch", "-1"],
        ["--name", "m", "--out", "r", "--instances", "0"],
        ["--name", "m", "--out", "r", "--version", "x"],
    ],
)
def test_cli_usage_errors_exit_2(tail, capsys):
    with pytest.raises(SystemExit) as info:
        main(["export", "triton-repo", str(GAUGE_KP), *tail])
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_export_kinds_share_one_export_command_in_either_order():
    from edged.engines import commands as engine_commands
    from edged.pipelines.pose import commands as pose_commands

    for modules in ((pose_commands, engine_commands), (engine_commands, pose_commands)):
        parser = argparse.ArgumentParser(prog="edged")
        sub = parser.add_subparsers(dest="command")
        for module in modules:
            module.register(sub)
        assert sorted(export_kinds(sub).choices) == ["pose", "triton-repo"]
        args = parser.parse_args(["export", "triton-repo", "m.onnx", "--name", "n", "--out", "d"])
        assert args.func is engine_commands.run_triton_repo
        assert (args.max_batch, args.instances, args.version, args.fp16) == (None, 1, 1, False)
