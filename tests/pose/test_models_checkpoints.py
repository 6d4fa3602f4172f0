"""Checkpoint loading: every wrong file gets a message that says what it is and what to do."""

from __future__ import annotations

import pytest

from edged.pipelines.pose.checkpoints import CheckpointError, check_state_dict

RESNET = {
    "0.resnet.conv1.weight": (64, 3, 7, 7),
    "1.cmap_conv.weight": (18, 256, 1, 1),
    "1.paf_conv.weight": (42, 256, 1, 1),
}


def test_matching_shapes_pass():
    check_state_dict(dict(RESNET), RESNET, "resnet18_baseline_att", "a.pth")


def test_other_task_gets_channel_hint():
    found = dict(RESNET)
    found.update({"1.cmap_conv.weight": (21, 256, 1, 1), "1.paf_conv.weight": (40, 256, 1, 1)})
    with pytest.raises(CheckpointError) as err:
        check_state_dict(found, RESNET, "resnet18_baseline_att", "hand.pth")
    message = str(err.value)
    assert "shape mismatches (2): 1.cmap_conv.weight (21, 256, 1, 1) != model (18, " in message
    assert "--cmap-channels 21 --paf-channels 40" in message


def test_dataparallel_prefix_gets_hint():
    found = {"module." + k: v for k, v in RESNET.items()}
    with pytest.raises(CheckpointError, match="saved from DataParallel"):
        check_state_dict(found, RESNET, "resnet18_baseline_att", "dp.pth")


def test_long_key_lists_are_cut_with_counts():
    expected = {f"k{i:02d}": (1,) for i in range(12)}
    with pytest.raises(CheckpointError) as err:
        check_state_dict({}, expected, "resnet18_baseline_att", "empty.pth")
    assert "missing keys (12 of 12): k00, k01, k02, k03, k04 (+7 more)" in str(err.value)


def test_missing_file_and_directory(tmp_path):
    from edged.pipelines.pose.checkpoints import read_state_dict

    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "nope.pth")
    with pytest.raises(CheckpointError, match="is a directory"):
        read_state_dict(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "hint"),
    [
        ("drive.pth", b"<!DOCTYPE html><html>Virus scan warning</html>", "Google Drive"),
        ("empty.pth", b"", "empty"),
        ("model.onnx", b"\x08\x07\x12\x07pytorch", "ONNX model"),
        ("x_trt.pth", b"garbage", "TensorRT engine saved by torch2trt"),
    ],
)
def test_files_that_are_not_checkpoints(tmp_path, name, content, hint):
    pytest.importorskip("torch")
    from edged.pipelines.pose.checkpoints import read_state_dict

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="is not a PyTorch checkpoint") as err:
        read_state_dict(path)
    assert hint in str(err.value)


def test_torch2trt_engine_file(tmp_path):
    torch = pytest.importorskip("torch")
    from edged.pipelines.pose.checkpoints import TorchTrtEngineError, read_state_dict

    path = tmp_path / "model.pth"
    engine = {"engine": bytearray(b"ftrt...."), "input_names": ["input_0"], "output_names": ["0"]}
    torch.save(engine, str(path))
    with pytest.raises(TorchTrtEngineError, match="not a checkpoint: use it with backend tensorrt"):
        read_state_dict(path)


def test_pickled_objects_are_refused_not_run(tmp_path):
    torch = pytest.importorskip("torch")
    from edged.pipelines.pose.checkpoints import read_state_dict

    path = tmp_path / "module.pth"
    torch.save(torch.nn.Linear(1, 1), str(path))
    with pytest.raises(CheckpointError, match="weights_only=True"):
        read_state_dict(path)


def test_non_mapping_and_wrapped_state_dicts(tmp_path):
    torch = pytest.importorskip("torch")
    from edged.pipelines.pose.checkpoints import read_state_dict

    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], str(listed))
    with pytest.raises(CheckpointError, match="holds a list, not a state_dict"):
        read_state_dict(listed)
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"epoch": 3, "state_dict": {"a": torch.zeros(2)}}, str(wrapped))
    assert list(read_state_dict(wrapped)) == ["a"]


def test_resnet_checkpoint_into_densenet_names_the_right_arch(resnet18_checkpoint):
    pytest.importorskip("torch")
    from edged.pipelines.pose.checkpoints import load_pose_model

    with pytest.raises(CheckpointError) as err:
        load_pose_model("densenet121_baseline_att", resnet18_checkpoint)
    message = str(err.value)
    assert "does not fit densenet121_baseline_att" in message
    assert "missing keys (727 of 777): 0.densenet.features.conv0.weight" in message
    assert "unexpected keys (122): 0.resnet.conv1.weight" in message
    assert "(+117 more)" in message
    assert "try --arch resnet18_baseline_att" in message
