"""The rebuilt trt_pose models: exact checkpoint layout, and trt_pose's own outputs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edged.pipelines.pose.models import ARCHITECTURES, arch_spec

#: a faithful model matches trt_pose's float32 outputs to ~1e-6; 1e-5 means something differs
PARITY_ATOL = 1e-5


def _expected_layout(testdata: Path, arch: str) -> list:
    lines = (testdata / f"{arch}_state_dict_keys.txt").read_text().splitlines()
    return [tuple(line.split("\t")) for line in lines if line]


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_state_dict_keys_and_shapes_match_trt_pose_in_order(arch, trt_pose_testdata):
    pytest.importorskip("torch")
    from edged.pipelines.pose.models import build_model

    model = build_model(arch)
    layout = [(k, str(tuple(v.shape))) for k, v in model.state_dict().items()]
    assert layout == _expected_layout(trt_pose_testdata, arch)
    assert not model.training


def test_resnet18_matches_trt_pose_outputs(resnet18_checkpoint, resnet18_io):
    torch = pytest.importorskip("torch")
    from edged.pipelines.pose.checkpoints import load_pose_model

    model = load_pose_model("resnet18_baseline_att", resnet18_checkpoint)
    assert set(resnet18_io) == {"zeros", "randn", "natural"}
    with torch.no_grad():
        for name, (x, cmap_ref, paf_ref) in resnet18_io.items():
            cmap, paf = model(torch.from_numpy(x))
            assert cmap.shape == (1, 18, 56, 56) and paf.shape == (1, 42, 56, 56)
            assert abs(cmap.numpy() - cmap_ref).max() <= PARITY_ATOL, name
            assert abs(paf.numpy() - paf_ref).max() <= PARITY_ATOL, name


def test_legacy_serialization_format_loads(resnet18_checkpoint, tmp_path):
    """The 2019 release files may predate torch 1.6's zip format."""
    torch = pytest.importorskip("torch")
    from edged.pipelines.pose.checkpoints import load_pose_model, read_state_dict

    legacy = tmp_path / "legacy.pth"
    state = read_state_dict(resnet18_checkpoint)
    torch.save(state, str(legacy), _use_new_zipfile_serialization=False)
    assert legacy.read_bytes()[:2] != b"PK"
    load_pose_model("resnet18_baseline_att", legacy)


def test_head_options_change_the_layout_like_trt_pose():
    pytest.importorskip("torch")
    from edged.pipelines.pose.models import build_model

    state = build_model("resnet18_baseline_att", num_upsample=2, num_flat=1).state_dict()
    # per step: ConvT, BN, ReLU, then Conv, BN, ReLU for the flat layer
    assert state["1.cmap_up.3.weight"].shape == (256, 256, 3, 3)
    assert state["1.cmap_up.6.weight"].shape == (256, 256, 4, 4)
    assert "1.cmap_up.12.weight" not in state
    with pytest.raises(ValueError, match="num_upsample"):
        build_model("resnet18_baseline_att", num_upsample=0)


def test_registry_needs_no_torch():
    assert arch_spec("resnet18_baseline_att").input_size == 224
    assert arch_spec("densenet121_baseline_att").input_size == 256
    with pytest.raises(ValueError, match="known: densenet121_baseline_att, resnet18_baseline_att"):
        arch_spec("resnet50_baseline_att")


def test_cli_modules_import_without_torch_and_explain_its_absence():
    """The daemon side never needs torch: importing must not pull it in."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["torch"] = None  # any "import torch" now fails
        import edged.pipelines.pose.commands, edged.pipelines.pose.export
        import edged.pipelines.pose.checkpoints, edged.pipelines.pose.models
        assert "onnx" not in sys.modules
        from edged.pipelines.pose.export import export_pose_onnx
        from edged.pipelines.pose.models import TorchNotInstalledError
        try:
            export_pose_onnx("resnet18_baseline_att", "x.pth", "x.onnx")
        except TorchNotInstalledError as exc:
            print(exc)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'edged[export]'" in proc.stdout
