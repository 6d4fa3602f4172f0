"""Fixtures for the engine tests: a small ONNX model, and fake TensorRT/pycuda installs."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from .engine_models import build_model
from .trt_fakes import CallLog, FakeCuda, make_tensorrt


@pytest.fixture(autouse=True)
def _private_plan_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never let a test write plans to /var/cache or ~/.cache."""
    root = tmp_path_factory.mktemp("plan-cache")
    monkeypatch.setattr("edged.engines.cache.DEFAULT_CACHE_DIR", str(root))
    return root


@pytest.fixture
def onnx_model(tmp_path: Path) -> Path:
    """The test model (Conv/Relu/Flatten/MatMul/Add, dynamic batch) as a file."""
    return build_model(tmp_path / "tiny.onnx")


@dataclass
class FakeGpu:
    """What ``fake_gpu`` installed: the fake modules and their shared call log."""

    trt: types.ModuleType
    cuda: FakeCuda
    log: CallLog


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch):
    """Install fake ``tensorrt`` + ``pycuda.driver`` of a TensorRT generation into sys.modules.

    Usage: ``gpu = fake_gpu("10.3.0")``. Contract-test helper: the real
    libraries are never imported while it is active.
    """

    def install(version: str = "10.3.0", *, devices: int = 1) -> FakeGpu:
        log = CallLog()
        cuda = FakeCuda(log, devices=devices)
        trt = make_tensorrt(version, cuda, log)
        package = types.ModuleType("pycuda")
        package.driver = cuda
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        monkeypatch.setitem(sys.modules, "pycuda", package)
        monkeypatch.setitem(sys.modules, "pycuda.driver", cuda)
        return FakeGpu(trt, cuda, log)

    return install


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``tensorrt`` and ``pycuda`` unimportable, as on a laptop (also where they exist)."""
    for name in ("tensorrt", "pycuda", "pycuda.driver"):
        monkeypatch.setitem(sys.modules, name, None)
