"""``edged build-engine``: exit codes and messages, on a laptop and on the fake TensorRT."""

from __future__ import annotations

import argparse

import pytest

from edged.engines.commands import main, register


def _parse(argv):
    parser = argparse.ArgumentParser(prog="edged")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_register_sets_func_and_options():
    args = _parse(
        ["build-engine", "m.onnx", "--fp16", "--workspace", "256", "--shape", "x:1x3,2x3,4x3"]
    )
    assert callable(args.func)
    assert (args.model, args.fp16, args.workspace) == ("m.onnx", True, 256)
    assert args.shape == [("x", ((1, 3), (2, 3), (4, 3)))]


def test_without_tensorrt_exits_2_with_one_line_of_advice(no_gpu, onnx_model, capsys):
    assert main(["build-engine", str(onnx_model)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("edged build-engine: tensorrt is not importable") and "install" in err


def test_int8_without_calibration_data_exits_2(onnx_model, capsys):
    assert main(["build-engine", str(onnx_model), "--int8"]) == 2
    assert "--int8 needs --calib" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["--shape=image", "--workspace=0", "--workspace=big"])
def test_bad_arguments_exit_2(bad, capsys):
    with pytest.raises(SystemExit) as info:
        main(["build-engine", "m.onnx", bad])
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_builds_into_the_cache_then_reuses_it(fake_gpu, onnx_model, tmp_path, capsys):
    gpu = fake_gpu("8.2.1")
    cache = tmp_path / "cache"
    assert main(["build-engine", str(onnx_model), "--cache-dir", str(cache)]) == 0
    first = capsys.readouterr().out.strip()
    assert first.startswith(str(cache)) and first.endswith(".plan")
    assert main(["build-engine", str(onnx_model), "--cache-dir", str(cache)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == first and "already cached" in captured.err
    assert main(["build-engine", str(onnx_model), "--cache-dir", str(cache), "--force"]) == 0
    assert gpu.trt.builds == 2


def test_out_writes_the_plan_there(fake_gpu, onnx_model, tmp_path, capsys):
    fake_gpu("10.3.0")
    out = tmp_path / "tiny.plan"
    assert main(["build-engine", str(onnx_model), "--out", str(out), "--fp16"]) == 0
    assert out.read_bytes().startswith(b"FAKEPLAN")
    assert capsys.readouterr().out.strip() == str(out)


def test_build_failure_exits_1(fake_gpu, onnx_model, tmp_path, capsys):
    gpu = fake_gpu("10.3.0")
    gpu.trt.build_fails = True
    assert main(["build-engine", str(onnx_model), "--out", str(tmp_path / "x.plan")]) == 1
    assert "failed to build" in capsys.readouterr().err
    assert not (tmp_path / "x.plan").exists()


def test_fp16_on_tensorrt_11_exits_1_pointing_to_an_fp16_onnx(
    fake_gpu, onnx_model, tmp_path, capsys
):
    fake_gpu("11.0.0")
    assert main(["build-engine", str(onnx_model), "--fp16", "--out", str(tmp_path / "x.plan")]) == 1
    assert "Convert the ONNX model to FP16" in capsys.readouterr().err
