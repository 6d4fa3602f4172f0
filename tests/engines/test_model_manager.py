"""The model manager: states, background TensorRT builds with an ONNX Runtime fallback, unload."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from edged.config.engine import EngineConfig
from edged.engines.errors import (
    EngineClosedError,
    EngineError,
    EngineNotReadyError,
    ModelLoadError,
)
from edged.engines.manager import ModelManager, ModelState

from .engine_models import reference

READY, WARMING, FAILED = ModelState.READY, ModelState.WARMING, ModelState.FAILED


def _image(batch: int = 1) -> np.ndarray:
    return np.random.default_rng(3).standard_normal((batch, 3, 8, 8)).astype(np.float32)


async def _infer(handle, batch):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(handle.executor, handle.infer, batch)


@pytest.fixture
async def manager():
    async with ModelManager() as models:
        yield models


@pytest.fixture
def gated_gpu(fake_gpu):
    """Fake TensorRT 10 whose builder waits until the test opens ``gpu.trt.build_gate``."""
    import threading

    gpu = fake_gpu("10.3.0")
    gpu.trt.build_gate = threading.Event()
    yield gpu
    gpu.trt.build_gate.set()


async def test_onnxruntime_model_is_ready_after_load(no_gpu, manager, onnx_model):
    handle = await manager.load("tiny", onnx_model, EngineConfig(warmup_iters=2))
    assert manager.state("tiny") is READY
    out = await _infer(handle, {"image": _image(2)})
    np.testing.assert_allclose(out["logits"], reference(_image(2))[0], rtol=1e-4, atol=1e-4)
    info = json.loads(json.dumps(manager.describe("tiny")))
    assert info["state"] == "ready" and info["planned_backend"] == "onnxruntime"
    assert info["engine"]["backend"] == "onnxruntime"
    assert info["engine"]["serving"]["metrics"]["count"] == 1  # warmup calls were reset
    assert manager.get("tiny") is handle and manager.names() == ["tiny"]


async def test_failed_load_is_listed_with_its_reason_and_can_be_retried(
    no_gpu, manager, onnx_model, tmp_path
):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(onnx_model.read_bytes()[:50])
    with pytest.raises(ModelLoadError):
        await manager.load("m", broken)
    info = manager.describe("m")
    assert info["state"] == "failed" and "broken.onnx" in info["reason"]
    assert [m["name"] for m in manager.list()] == ["m"]
    handle = await manager.load("m", onnx_model)
    assert manager.state("m") is READY and handle.inputs[0].name == "image"


async def test_loading_a_name_twice_is_refused(no_gpu, manager, onnx_model):
    await manager.load("tiny", onnx_model)
    with pytest.raises(EngineError, match="already loaded"):
        await manager.load("tiny", onnx_model)


async def test_unload_closes_the_engine(no_gpu, manager, onnx_model):
    handle = await manager.load("tiny", onnx_model)
    await manager.unload("tiny")
    with pytest.raises(EngineClosedError):
        handle.infer({"image": _image()})
    with pytest.raises(EngineNotReadyError, match="no model named 'tiny'"):
        manager.get("tiny")
    with pytest.raises(EngineNotReadyError):
        await manager.unload("tiny")


async def test_tensorrt_builds_in_background_while_onnxruntime_serves(
    gated_gpu, manager, onnx_model
):
    handle = await manager.load("tiny", onnx_model)
    assert manager.state("tiny") is WARMING
    assert manager.describe("tiny")["reason"] == "building TensorRT plan"
    assert manager.describe("tiny")["planned_backend"] == "tensorrt"
    fallback = handle.target
    assert fallback.backend == "onnxruntime"
    out = await _infer(handle, {"image": _image()})
    np.testing.assert_allclose(out["logits"], reference(_image())[0], rtol=1e-4, atol=1e-4)

    gated_gpu.trt.build_gate.set()
    assert await manager.wait_until("tiny", READY, FAILED, timeout_s=10) is READY
    assert handle.target.backend == "tensorrt" and fallback.closed
    out = await _infer(handle, {"image": _image()})
    # the fake TensorRT computes x * 2 + 1: proof that the plan now serves
    np.testing.assert_allclose(out["features"], _image() * 2 + 1)
    info = manager.describe("tiny")
    assert info["engine"]["backend"] == "tensorrt"
    assert info["selection"].startswith("auto: TensorRT 10.3.0 and GPU Fake Orin")
    assert info["engine"]["serving"]["reason"] == info["selection"] == info["reason"]


async def test_without_fallback_nothing_serves_until_the_plan_is_built(
    gated_gpu, manager, onnx_model
):
    handle = await manager.load("tiny", onnx_model, EngineConfig(fallback_while_building=False))
    assert manager.state("tiny") is WARMING
    with pytest.raises(EngineNotReadyError, match="waiting for its TensorRT plan"):
        handle.infer({"image": _image()})
    gated_gpu.trt.build_gate.set()
    assert await manager.wait_until("tiny", timeout_s=10) is READY
    assert handle.infer({"image": _image()})["features"].shape == (1, 3, 8, 8)


async def test_failed_build_keeps_onnxruntime_serving(gated_gpu, manager, onnx_model):
    gated_gpu.trt.build_fails = True
    handle = await manager.load("tiny", onnx_model)
    gated_gpu.trt.build_gate.set()
    assert await manager.wait_until("tiny", READY, FAILED, timeout_s=10) is READY
    assert "TensorRT build failed" in manager.describe("tiny")["reason"]
    assert handle.target.backend == "onnxruntime"


async def test_failed_build_without_fallback_fails_the_model(gated_gpu, manager, onnx_model):
    gated_gpu.trt.build_fails = True
    handle = await manager.load("tiny", onnx_model, EngineConfig(fallback_while_building=False))
    gated_gpu.trt.build_gate.set()
    assert await manager.wait_until("tiny", READY, FAILED, timeout_s=10) is FAILED
    assert "failed to build" in manager.describe("tiny")["reason"]
    with pytest.raises(EngineNotReadyError, match="failed"):
        handle.infer({"image": _image()})


async def test_cached_plan_loads_straight_to_ready(fake_gpu, manager, onnx_model):
    gpu = fake_gpu("10.3.0")
    await manager.load("a", onnx_model)
    assert await manager.wait_until("a", timeout_s=10) is READY
    await manager.unload("a")
    handle = await manager.load("a", onnx_model)
    assert manager.state("a") is READY and handle.target.backend == "tensorrt"
    assert gpu.trt.builds == 1


async def test_unload_during_build_releases_everything(gated_gpu, manager, onnx_model):
    await manager.load("tiny", onnx_model)
    builder = manager._entry("tiny").builder
    await manager.unload("tiny")
    gated_gpu.trt.build_gate.set()
    await asyncio.get_running_loop().run_in_executor(None, builder.join, 10)
    assert not builder.is_alive()
    assert gated_gpu.cuda.contexts_retained == 0 and gated_gpu.cuda.memory == {}


async def test_calls_in_flight_survive_the_swap(gated_gpu, manager, onnx_model):
    handle = await manager.load("tiny", onnx_model)
    results = []

    async def keep_calling(stop):
        while not stop.is_set():
            results.append(await _infer(handle, {"image": _image()}))

    stop = asyncio.Event()
    caller = asyncio.ensure_future(keep_calling(stop))
    gated_gpu.trt.build_gate.set()
    await manager.wait_until("tiny", timeout_s=10)
    results_at_swap = len(results)
    while len(results) < results_at_swap + 3:
        await asyncio.sleep(0)  # yield to the caller task, no timing involved
    stop.set()
    await caller
    assert all(
        r["features"].shape == (1, 4, 8, 8) or r["features"].shape == (1, 3, 8, 8) for r in results
    )
    assert results[-1]["features"].shape == (1, 3, 8, 8)  # the fake plan's output


async def test_plan_file_without_tensorrt_fails_clearly(no_gpu, manager, tmp_path):
    plan = tmp_path / "pose.engine"
    plan.write_bytes(b"plan")
    with pytest.raises(ModelLoadError, match="TensorRT engine, but tensorrt is not importable"):
        await manager.load("pose", plan)
    assert manager.state("pose") is FAILED
