"""``edged export pose`` and ``edged weights``: parsing, messages and the manifest."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
from pathlib import Path

import pytest

from edged.pipelines.pose import commands

MANIFEST = Path(__file__).resolve().parents[2] / "weights" / "manifest.json"


def test_export_pose_arguments(pose_cli):
    args = pose_cli("export", "pose", "--arch", "densenet121_baseline_att", "--checkpoint", "d.pth")
    assert args.func is commands.run_export_pose
    assert (args.out, args.input_size, args.fp16, args.opset) == (None, None, False, None)
    args = pose_cli(
        *["export", "pose", "--arch", "resnet18_baseline_att", "--checkpoint", "r.pth"],
        *["--input-size", "256x320", "--fp16", "--out", "r.onnx"],
    )
    assert (args.input_size, args.fp16, args.out) == ((256, 320), True, Path("r.onnx"))
    assert args.input_format == "rgb-float"


def test_input_format_is_chosen_by_name(pose_cli):
    base = ["export", "pose", "--arch", "resnet18_baseline_att", "--checkpoint", "r.pth"]
    assert pose_cli(*base, "--input-format", "bgr-uint8").input_format == "bgr-uint8"
    with pytest.raises(SystemExit) as exit_:
        pose_cli(*base, "--input-format", "rgb-uint8")
    assert exit_.value.code == 2


@pytest.mark.parametrize("argv", [["export"], ["export", "pose", "--arch", "resnet50"]])
def test_export_usage_errors(argv, pose_cli):
    with pytest.raises(SystemExit) as exit_:
        pose_cli(*argv, "--checkpoint", "x.pth")
    assert exit_.value.code == 2


def test_input_size_and_default_out():
    assert commands.parse_input_size("224") == 224
    assert commands.parse_input_size("256X320") == (256, 320)
    with pytest.raises(argparse.ArgumentTypeError):
        commands.parse_input_size("big")
    ckpt = Path("weights/resnet18_baseline_att_224x224_A_epoch_249.pth")
    assert commands.default_onnx_path(ckpt) == Path("weights/resnet18_baseline_att_224x224_A.onnx")


def test_export_errors_are_one_message_and_exit_1(tmp_path, capsys, pose_cli):
    missing = str(tmp_path / "missing.pth")
    args = pose_cli("export", "pose", "--arch", "resnet18_baseline_att", "--checkpoint", missing)
    pytest.importorskip("torch")
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("edged export pose: error: checkpoint ") and "does not exist" in err
    assert "Traceback" not in err


def test_wrong_arch_from_the_cli(resnet18_checkpoint, tmp_path, capsys, pose_cli):
    pytest.importorskip("torch")
    ckpt, out = str(resnet18_checkpoint), str(tmp_path / "d.onnx")
    args = pose_cli(
        "export", "pose", "--arch", "densenet121_baseline_att", "--checkpoint", ckpt, "--out", out
    )
    assert args.func(args) == 1
    assert "hint: the keys look like a resnet18_baseline_att" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def _entries(origin):
    return [m for m in commands.load_manifest(MANIFEST) if m["origin"] == origin]


def test_trained_entries_match_the_committed_files():
    from edged.files import file_sha256

    trained = {m["file"]: m for m in _entries("trained")}
    assert set(trained) == {
        "gauge_kp_w32.onnx",
        "gauge_pointer.onnx",
        "gauge_panel_pointer.onnx",
        "gauge_direction.onnx",
        "display_crnn.onnx",
    }
    trainer = {
        "gauge_kp_w32.onnx": "gauge.train",
        "gauge_pointer.onnx": "gauge.pointer_train",
        "gauge_panel_pointer.onnx": "gauge.pointer_train",
        "gauge_direction.onnx": "gauge.direction_train",
        "display_crnn.onnx": "display.train",
    }
    for name, entry in trained.items():
        path = MANIFEST.parent / name
        assert entry["sha256"] == file_sha256(str(path))
        assert entry["size_bytes"] == path.stat().st_size <= 20 * 1024 * 1024
        assert f"python -m edged.pipelines.{trainer[name]} " in entry["reproduce"]
        package = trainer[name].split(".")[0]
        assert f"python -m edged.pipelines.{package}.export" in entry["reproduce"]
        assert (MANIFEST.parent / os.path.basename(entry["details"])).is_file()


def test_manifest_entries_are_consistent(pose_cli):
    models = _entries("download")
    assert {m["file"] for m in models} == {
        "resnet18_baseline_att_224x224_A_epoch_249.pth",
        "densenet121_baseline_att_256x256_B_epoch_160.pth",
    }
    for m in models:
        assert m["sha256"] is None or re.fullmatch(r"[0-9a-f]{64}", m["sha256"])
        if m["sha256"] is None:
            assert m["sha256_note"]
        argv = shlex.split(m["convert"])
        assert argv[0] == "edged"
        args = pose_cli(*argv[1:])
        assert args.arch == m["arch"]
        assert args.checkpoint == Path("weights") / m["file"]
        assert args.out == Path("weights") / m["produces"]
        assert commands.default_onnx_path(args.checkpoint) == args.out


def test_weights_lists_fetch_and_convert(capsys, pose_cli):
    args = pose_cli("weights", "--manifest", str(MANIFEST))
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for m in _entries("download"):
        assert m["file"] in out and m["convert"] in out and m["url"] in out
    for m in _entries("trained"):
        assert m["file"] in out and m["reproduce"] in out and "sha256 ok" in out


def test_weights_checks_sha256_of_present_files(tmp_path, capsys, pose_cli):
    (tmp_path / "a.pth").write_bytes(b"abc")
    entry = {"file": "a.pth", "sha256": "0" * 64}
    (tmp_path / "manifest.json").write_text(json.dumps({"models": [entry]}))
    args = pose_cli("weights", "--manifest", str(tmp_path / "manifest.json"))
    assert args.func(args) == 1
    assert "SHA256 MISMATCH" in capsys.readouterr().out


def test_weights_reports_a_broken_manifest(tmp_path, capsys, pose_cli):
    bad = tmp_path / "manifest.json"
    bad.write_text('{"models": [}')
    args = pose_cli("weights", "--manifest", str(bad))
    assert args.func(args) == 1
    assert f"{bad}:1: not valid JSON" in capsys.readouterr().err
