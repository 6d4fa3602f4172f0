"""Fixtures for the pose model tests: the shared trt_pose fixture data and a rebuilt checkpoint.

The data lives outside the repository (``../shared/testdata`` from the repo root,
or ``$EDGED_SHARED_TESTDATA``); tests that need it skip, saying where they looked.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path
from typing import Callable

import pytest

PARSE_IMPLEMENTATIONS = ("numpy", "compiled")

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_testdata_dir() -> Path:
    """``$EDGED_SHARED_TESTDATA`` if set, else ``<repo>/../shared/testdata``."""
    override = os.environ.get("EDGED_SHARED_TESTDATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def trt_pose_testdata() -> Path:
    """The ``trt_pose_models`` fixture directory (keys files, weights, reference I/O)."""
    path = shared_testdata_dir() / "trt_pose_models"
    if not (path / "rebuild.py").is_file():
        pytest.skip(f"trt_pose fixture data not found at {path} (set EDGED_SHARED_TESTDATA)")
    return path


@pytest.fixture(scope="session")
def resnet18_checkpoint(trt_pose_testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``resnet18_baseline_att`` .pth of the official kind, rebuilt from the fixture .npz."""
    torch = pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location(
        "trt_pose_rebuild", trt_pose_testdata / "rebuild.py"
    )
    assert spec is not None and spec.loader is not None
    rebuild = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rebuild)
    state = rebuild.rebuild_state_dict(str(trt_pose_testdata / "resnet18_baseline_att.npz"))
    out = tmp_path_factory.mktemp("ckpt") / "resnet18_baseline_att_224x224_A_epoch_249.pth"
    torch.save(state, str(out))
    return out


@pytest.fixture(scope="session")
def resnet18_io(trt_pose_testdata: Path) -> dict:
    """Reference inputs and trt_pose's own outputs: ``{name: (input, cmap, paf)}``."""
    np = pytest.importorskip("numpy")
    with np.load(trt_pose_testdata / "resnet18_baseline_att_io.npz") as z:
        names = [k.split("/", 1)[1] for k in z.files if k.startswith("input/")]
        return {n: (z[f"input/{n}"], z[f"cmap/{n}"], z[f"paf/{n}"]) for n in names}


@pytest.fixture
def pose_cli() -> Callable[..., argparse.Namespace]:
    """Parse argv like ``edged`` would, with only the pose commands registered."""
    from edged.pipelines.pose import commands

    def parse(*argv: str) -> argparse.Namespace:
        parser = argparse.ArgumentParser(prog="edged")
        commands.register(parser.add_subparsers(dest="command"))
        return parser.parse_args(list(argv))

    return parse


@pytest.fixture(scope="session")
def resnet18_onnx(resnet18_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture checkpoint exported to ONNX once per session (needs torch)."""
    from edged.pipelines.pose.export import export_pose_onnx

    out = tmp_path_factory.mktemp("onnx") / "resnet18_baseline_att_224x224_A.onnx"
    export_pose_onnx("resnet18_baseline_att", resnet18_checkpoint, out)
    return out


@pytest.fixture(scope="session")
def resnet18_bgr_uint8_onnx(
    resnet18_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The fixture checkpoint exported with ``--input-format bgr-uint8`` (needs torch)."""
    from edged.pipelines.pose.export import export_pose_onnx

    out = tmp_path_factory.mktemp("onnx") / "resnet18_baseline_att_224x224_A_bgr.onnx"
    export_pose_onnx("resnet18_baseline_att", resnet18_checkpoint, out, input_format="bgr-uint8")
    return out


@pytest.fixture(scope="session")
def resnet18_dynamic_onnx(
    resnet18_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The fixture checkpoint exported with ``--dynamic-batch`` (needs torch)."""
    from edged.pipelines.pose.export import export_pose_onnx

    out = tmp_path_factory.mktemp("onnx") / "resnet18_baseline_att_224x224_A_dynamic.onnx"
    export_pose_onnx("resnet18_baseline_att", resnet18_checkpoint, out, dynamic_batch=True)
    return out


def compiled_parse_or_skip() -> Callable[..., tuple]:
    """The compiled parse, or a skip that says how to build it."""
    try:
        from edged.pipelines.pose.compiled import parse_objects_compiled
    except ImportError as exc:
        pytest.skip(
            "compiled pose parse not built (%s): pip install -e . or "
            "python setup.py build_ext --inplace, with a C compiler" % exc
        )
    return parse_objects_compiled


@pytest.fixture(params=PARSE_IMPLEMENTATIONS)
def parse_impl(request: pytest.FixtureRequest) -> Callable[..., tuple]:
    """Each implementation of ``parse_objects`` in turn (the compiled one skips if not built)."""
    if request.param == "compiled":
        return compiled_parse_or_skip()
    from edged.pipelines.pose.parse import parse_objects_numpy

    return parse_objects_numpy


@pytest.fixture
def fresh_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the process-wide choice of parse implementation, so a test can make it again."""
    import edged.pipelines.pose.parse as parse_module

    monkeypatch.setattr(parse_module, "_selection", None)


@pytest.fixture
def compiled_parse_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imports of the compiled parse fail, as where the extension was not built."""
    import sys

    import edged.pipelines.pose as package

    monkeypatch.setitem(sys.modules, "edged.pipelines.pose._parse", None)  # import fails
    monkeypatch.delitem(sys.modules, "edged.pipelines.pose.compiled", raising=False)
    monkeypatch.delattr(package, "_parse", raising=False)
    monkeypatch.delattr(package, "compiled", raising=False)
