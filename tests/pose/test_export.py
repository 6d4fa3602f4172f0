"""ONNX export: the file's interface, and ONNX Runtime reproducing trt_pose's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edged.pipelines.pose.export import resolve_input_size

#: same bound as the PyTorch parity test; the float32 export measures ~1e-7
PARITY_ATOL = 1e-5
#: float16 weights and arithmetic: measured ~1e-4 on outputs peaking near 0.1, so 1e-3
#: (about 1% of the output range) leaves 10x headroom and still catches a broken graph
FP16_ATOL = 1e-3


@pytest.fixture(scope="module")
def fp32_export(resnet18_checkpoint, tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from edged.pipelines.pose.export import export_pose_onnx

    out = tmp_path_factory.mktemp("onnx") / "r18.onnx"
    return export_pose_onnx("resnet18_baseline_att", resnet18_checkpoint, out)


def _session(path: Path):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _max_abs(a, b) -> float:
    return float(abs(a - b).max())


def test_interface_matches_jetson_inference(fp32_export):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(fp32_export.path))
    onnx.checker.check_model(model, full_check=True)
    io = {v.name: v for v in [*model.graph.input, *model.graph.output]}
    f32 = onnx.TensorProto.FLOAT
    assert [v.name for v in model.graph.input] == ["input"]
    assert [v.name for v in model.graph.output] == ["cmap", "paf"]
    assert all(v.type.tensor_type.elem_type == f32 for v in io.values())
    assert fp32_export.input_shape == (1, 3, 224, 224)
    assert fp32_export.output_shapes == {"cmap": (1, 18, 56, 56), "paf": (1, 42, 56, 56)}
    assert {i.data_type for i in model.graph.initializer} <= {f32, onnx.TensorProto.INT64}
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["edged.arch"] == "resnet18_baseline_att"
    assert meta["edged.input_size"] == "224x224"
    assert len(meta["edged.checkpoint_sha256"]) == 64
    assert not list(fp32_export.path.parent.glob("*.tmp")), "temporary file left behind"


def test_onnxruntime_matches_trt_pose_outputs(fp32_export, resnet18_io):
    session = _session(fp32_export.path)
    assert [i.type for i in session.get_inputs()] == ["tensor(float)"]
    for name, (x, cmap_ref, paf_ref) in resnet18_io.items():
        cmap, paf = session.run(["cmap", "paf"], {"input": x})
        assert _max_abs(cmap, cmap_ref) <= PARITY_ATOL, name
        assert _max_abs(paf, paf_ref) <= PARITY_ATOL, name


def test_fp16_export_through_the_cli(resnet18_checkpoint, resnet18_io, tmp_path, capsys, pose_cli):
    """--fp16: float16 weights, float32 I/O, outputs close to trt_pose's float32 ones."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("torch")
    out = tmp_path / "r18_fp16.onnx"
    args = pose_cli(
        *["export", "pose", "--arch", "resnet18_baseline_att", "--fp16"],
        *["--checkpoint", str(resnet18_checkpoint), "--out", str(out)],
    )
    assert args.func(args) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    model = onnx.load(str(out))
    floats = [i for i in model.graph.initializer if i.data_type != onnx.TensorProto.INT64]
    assert floats and {i.data_type for i in floats} == {onnx.TensorProto.FLOAT16}
    session = _session(out)
    assert [v.type for v in [*session.get_inputs(), *session.get_outputs()]] == [
        "tensor(float)"
    ] * 3
    for name, (x, cmap_ref, paf_ref) in resnet18_io.items():
        cmap, paf = session.run(["cmap", "paf"], {"input": x})
        assert _max_abs(cmap, cmap_ref) <= FP16_ATOL, name
        assert _max_abs(paf, paf_ref) <= FP16_ATOL, name


def test_other_size_with_dynamic_batch(resnet18_checkpoint, resnet18_io, tmp_path):
    np = pytest.importorskip("numpy")
    pytest.importorskip("onnx")
    from edged.pipelines.pose.export import export_pose_onnx

    result = export_pose_onnx(
        "resnet18_baseline_att",
        resnet18_checkpoint,
        tmp_path / "r18_dyn.onnx",
        input_size=(256, 192),
        dynamic_batch=True,
    )
    assert result.input_shape == ("batch", 3, 256, 192)
    assert result.output_shapes["paf"] == ("batch", 42, 64, 48)
    x = np.random.default_rng(0).standard_normal((2, 3, 256, 192)).astype(np.float32)
    cmap, paf = _session(result.path).run(None, {"input": x})
    assert cmap.shape == (2, 18, 64, 48) and paf.shape == (2, 42, 64, 48)


def test_export_replaces_an_existing_file(fp32_export, resnet18_checkpoint, tmp_path):
    from edged.pipelines.pose.export import export_pose_onnx

    out = tmp_path / "model.onnx"
    out.write_bytes(b"old")
    result = export_pose_onnx("resnet18_baseline_att", resnet18_checkpoint, out)
    assert result.sha256 == fp32_export.sha256, "export should be deterministic"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_input_size_rules():
    assert resolve_input_size("resnet18_baseline_att") == (224, 224)
    assert resolve_input_size("densenet121_baseline_att") == (256, 256)
    assert resolve_input_size("resnet18_baseline_att", 320) == (320, 320)
    assert resolve_input_size("resnet18_baseline_att", (352, 640)) == (352, 640)
    with pytest.raises(ValueError, match="multiple of 32"):
        resolve_input_size("resnet18_baseline_att", (360, 640))
    with pytest.raises(ValueError, match="unknown pose architecture"):
        resolve_input_size("resnet50")


def test_bgr_uint8_input_takes_the_frame_and_gives_the_same_maps(
    resnet18_onnx, resnet18_bgr_uint8_onnx
):
    """--input-format bgr-uint8: the graph does layout, colour order and normalisation, with
    the CPU path's arithmetic: same CMAP/PAF as the float model fed by PosePreprocessor
    (measured identical with ONNX Runtime), for frames that need a resize and for one that
    does not."""
    onnx = pytest.importorskip("onnx")
    from edged.pipelines.pose.preprocess import FrameResizer, PosePreprocessor

    model = onnx.load(str(resnet18_bgr_uint8_onnx))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["edged.input_format"].startswith("BGR uint8 NHWC")
    uint8_session, float_session = _session(resnet18_bgr_uint8_onnx), _session(resnet18_onnx)
    (frame_input,) = uint8_session.get_inputs()
    assert (frame_input.name, frame_input.type, frame_input.shape) == (
        "input",
        "tensor(uint8)",
        [1, 224, 224, 3],
    )
    assert [o.name for o in uint8_session.get_outputs()] == ["cmap", "paf"]
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(480, 640, 3)] * 2]
    frames.append(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8))
    frames[0][:, :, 0] = 0  # a frame with no blue: a missed BGR -> RGB swap would show
    resize, normalise = FrameResizer(224, 224), PosePreprocessor(224, 224)
    for frame in frames:
        got = uint8_session.run(["cmap", "paf"], {"input": resize(frame)})
        want = float_session.run(["cmap", "paf"], {"input": normalise(frame)})
        for g, w in zip(got, want):
            assert _max_abs(g, w) <= PARITY_ATOL


def test_unknown_input_format_is_refused(resnet18_checkpoint, tmp_path):
    from edged.pipelines.pose.export import export_pose_onnx

    with pytest.raises(ValueError, match="input format 'nhwc'.*rgb-float, bgr-uint8"):
        export_pose_onnx(
            "resnet18_baseline_att", resnet18_checkpoint, tmp_path / "x.onnx", input_format="nhwc"
        )
    assert not (tmp_path / "x.onnx").exists()
