"""Contract tests of the TensorRT engine against fakes of both TensorRT I/O API generations.

These do not run TensorRT: ``trt_fakes`` implements the calls edged makes
(bindings API of TRT 8.2, tensor API of TRT >= 8.5/10.x) and pycuda's memory
and stream calls, strictly (overflows, double frees and calls without a
current CUDA context raise). The fake engine computes ``scaled = x * 2 + 1``
and ``pooled = x.sum over H, W``, so outputs are checked for real. The real
TensorRT is exercised by ``test_tensorrt_gpu.py`` on machines with a GPU.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from edged.engines.errors import (
    InferenceError,
    InputMismatchError,
    ModelLoadError,
    PlanDeserializeError,
)
from edged.engines.tensorrt import TensorRTEngine

from .trt_fakes import FakeCudaError, make_plan, simple_plan

GENERATIONS = {"8.2.1": "bindings", "8.6.1": "tensor", "10.3.0": "tensor"}


def _x(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, 4, 4)).astype(np.float32)


def _expected(x: np.ndarray):
    return x * 2 + 1, x.sum(axis=(2, 3))


@pytest.fixture(params=sorted(GENERATIONS))
def gpu(request, fake_gpu):
    return fake_gpu(request.param)


@pytest.fixture
def plan_file(tmp_path):
    path = tmp_path / "simple.plan"
    path.write_bytes(simple_plan())
    return path


@pytest.fixture
def engine(gpu, plan_file):
    eng = TensorRTEngine(plan_file, name="simple")
    yield eng
    eng.close()


def test_picks_the_api_by_capability_and_describes_io(gpu, engine):
    assert engine.describe()["api"] == GENERATIONS[gpu.trt.__version__]
    assert [(s.name, s.shape, s.dtype.name) for s in engine.inputs] == [
        ("input", (None, 3, 4, 4), "float32")
    ]
    assert [(s.name, s.shape) for s in engine.outputs] == [
        ("scaled", (None, 3, 4, 4)),
        ("pooled", (None, 3)),
    ]


@pytest.mark.parametrize("batch", [1, 2, 4])
def test_outputs_are_computed_from_inputs(engine, batch):
    x = _x(batch)
    out = engine.infer({"input": x})
    scaled, pooled = _expected(x)
    np.testing.assert_allclose(out["scaled"], scaled, rtol=1e-6)
    np.testing.assert_allclose(out["pooled"], pooled, rtol=1e-5)
    assert out["scaled"].flags.c_contiguous and out["scaled"].strides == (192, 64, 16, 4)


def test_buffers_are_allocated_once_for_the_max_profile_shape(gpu, engine):
    allocs = [e for e in gpu.log if e[0] == "mem_alloc"]
    pinned = [e for e in gpu.log if e[0] == "pagelocked_empty"]
    # input and scaled: 4 x 3 x 4 x 4 float32 = 768 bytes; pooled: 4 x 3 float32 = 48 bytes
    assert sorted(size for _, _, size in allocs) == [48, 768, 768]
    assert sorted(shape for _, shape, _ in pinned) == [(12,), (192,), (192,)]
    for batch in (1, 4, 2, 2, 3):
        engine.infer({"input": _x(batch)})
    assert gpu.log.count("mem_alloc") == 3 and gpu.log.count("pagelocked_empty") == 3


def test_one_call_is_ordered_on_one_stream_inside_push_pop(gpu, engine):
    start = len(gpu.log)
    engine.infer({"input": _x(2)})
    call = [e for e in gpu.log[start:] if e[0] != "set_shape"]
    names = [e[0] for e in call]
    execute = (
        "execute_async_v2" if GENERATIONS[gpu.trt.__version__] == "bindings" else "execute_async_v3"
    )
    assert names == ["push", "htod", execute, "dtoh", "dtoh", "sync", "pop"]
    streams = {e[-1] for e in call if e[0] in ("htod", "dtoh", execute, "sync")}
    assert len(streams) == 1
    assert call[1][2] == 2 * 3 * 4 * 4 * 4  # only the live part of the input buffer is copied


def test_dynamic_shapes_are_set_only_when_they_change(gpu, engine):
    def shapes_set():
        return [e[2] for e in gpu.log if e[0] == "set_shape"]

    before = len(shapes_set())
    engine.infer({"input": _x(1)})
    engine.infer({"input": _x(1)})
    engine.infer({"input": _x(3)})
    assert shapes_set()[before:] == [(1, 3, 4, 4), (3, 3, 4, 4)]
    assert engine.infer({"input": _x(3)})["pooled"].shape == (3, 3)


def test_shape_outside_the_profile_is_refused_and_engine_stays_usable(engine):
    with pytest.raises(
        InputMismatchError, match=r"outside the engine's optimisation profile.*--shape"
    ):
        engine.infer({"input": _x(5)})
    out = engine.infer({"input": _x(2)})
    np.testing.assert_allclose(out["scaled"], _expected(_x(2))[0])


def test_outputs_are_copies_not_views_of_the_pool(engine):
    first = engine.infer({"input": _x(2, seed=1)})
    kept = first["scaled"].copy()
    engine.infer({"input": _x(2, seed=2)})
    np.testing.assert_array_equal(first["scaled"], kept)
    assert first["scaled"].flags.owndata


def test_non_contiguous_input_is_copied_correctly(engine):
    x = np.asfortranarray(_x(2))
    assert not x.flags.c_contiguous
    np.testing.assert_allclose(engine.infer({"input": x})["scaled"], _expected(x)[0])


def test_wrong_dtype_is_refused(engine):
    with pytest.raises(InputMismatchError, match="dtype float16"):
        engine.infer({"input": _x(1).astype(np.float16)})


def test_push_pop_balanced_and_usable_from_the_worker_thread(gpu, engine):
    out = engine.executor.submit(engine.infer, {"input": _x(2)}).result(timeout=5)
    np.testing.assert_allclose(out["pooled"], _expected(_x(2))[1], rtol=1e-5)
    assert gpu.log.count("push") == gpu.log.count("pop")
    # this thread has no context left current
    assert gpu.cuda._stack() == []


def test_warmup_uses_the_profile_opt_shape(gpu, engine):
    engine.warmup(2)
    assert [e[2] for e in gpu.log if e[0] == "set_shape"][-1] == (2, 3, 4, 4)
    assert engine.metrics.count == 0


def test_close_releases_in_order_exactly_once(gpu, engine):
    engine.infer({"input": _x(1)})
    engine.close()
    engine.close()
    destroyed = [e[1] for e in gpu.log if e[0] == "destroy"]
    assert destroyed == ["context", "engine", "runtime"]
    assert gpu.cuda.memory == {} and gpu.cuda.live_host == set()
    assert gpu.cuda.contexts_retained == 0
    tail = gpu.log.names()[-1]
    assert tail == "detach"


def test_addresses_are_bound_once_for_the_tensor_api(gpu, engine):
    if GENERATIONS[gpu.trt.__version__] != "tensor":
        pytest.skip("bindings API passes addresses on every execute")
    for batch in (1, 2, 3):
        engine.infer({"input": _x(batch)})
    assert gpu.log.count("set_tensor_address") == 3


def test_tensor_api_reads_profiles_by_the_available_spelling(gpu, engine):
    names = gpu.log.names()
    if gpu.trt.__version__.startswith("10."):
        assert "get_tensor_profile_shape" in names and "get_profile_shape" not in names
    else:
        assert "get_profile_shape" in names


def test_execute_failure_is_an_inference_error(gpu, engine, monkeypatch):
    ctx = engine._context
    for name in ("execute_async_v2", "execute_async_v3"):
        if hasattr(ctx, name):
            monkeypatch.setattr(ctx, name, lambda *a: False, raising=False)
    with pytest.raises(InferenceError, match="TensorRT failed to execute"):
        engine.infer({"input": _x(1)})
    assert gpu.log.count("push") == gpu.log.count("pop")


def test_corrupt_plan_is_refused_with_advice_and_nothing_leaks(gpu, tmp_path):
    bad = tmp_path / "other-version.engine"
    bad.write_bytes(b"\x00serialized by TensorRT 7.1 on a TX2" * 10)
    with pytest.raises(PlanDeserializeError) as info:
        TensorRTEngine(bad)
    message = str(info.value)
    assert str(bad) in message and "edged build-engine" in message
    assert gpu.cuda.contexts_retained == 0 and gpu.cuda.memory == {}
    assert gpu.log.count("push") == gpu.log.count("pop")


def test_empty_plan_file_is_refused(gpu, tmp_path):
    empty = tmp_path / "empty.plan"
    empty.write_bytes(b"")
    with pytest.raises(PlanDeserializeError, match="empty"):
        TensorRTEngine(empty)


def test_allocation_failure_mid_load_frees_what_was_allocated_once(gpu, plan_file, monkeypatch):
    real = gpu.cuda.mem_alloc
    calls = []

    def failing(nbytes):
        calls.append(nbytes)
        if len(calls) == 2:
            raise FakeCudaError("out of memory")
        return real(nbytes)

    monkeypatch.setattr(gpu.cuda, "mem_alloc", failing)
    with pytest.raises(ModelLoadError, match="out of memory"):
        TensorRTEngine(plan_file)
    assert gpu.cuda.memory == {} and gpu.cuda.live_host == set()
    assert gpu.cuda.contexts_retained == 0
    assert [e[1] for e in gpu.log if e[0] == "destroy"] == ["context", "engine", "runtime"]


def test_describe_reports_backend_details(gpu, engine):
    info = json.loads(json.dumps(engine.describe()))
    assert info["backend"] == "tensorrt"
    assert info["tensorrt"] == gpu.trt.__version__
    assert info["gpu"] == "Fake Orin"
    assert info["pooled_bytes"] == 768 * 2 + 48


def test_implicit_batch_engine_uses_execute_async_with_batch(fake_gpu, tmp_path):
    gpu = fake_gpu("8.2.1")
    path = tmp_path / "old_torch2trt.engine"
    path.write_bytes(
        make_plan(
            [{"name": "input_0", "shape": [-1, 3, 4, 4], "dtype": "float32"}],
            [{"name": "output_0", "op": "affine", "source": "input_0"}],
            implicit_batch=True,
            max_batch_size=4,
        )
    )
    with TensorRTEngine(path) as eng:
        assert eng.describe()["api"] == "bindings-implicit-batch"
        assert eng.inputs[0].shape == (None, 3, 4, 4)
        out = eng.infer({"input_0": _x(3)})
        np.testing.assert_allclose(out["output_0"], _expected(_x(3))[0])
        assert gpu.log[[e[0] for e in gpu.log].index("execute_async")][:2] == ("execute_async", 3)
        with pytest.raises(InputMismatchError, match="profile"):
            eng.infer({"input_0": _x(5)})


def test_static_engine_with_float16_io(fake_gpu, tmp_path):
    fake_gpu("10.3.0")
    path = tmp_path / "half.plan"
    shape = [1, 3, 4, 4]
    path.write_bytes(
        make_plan(
            [{"name": "x", "shape": shape, "dtype": "float16", "profile": [shape] * 3}],
            [{"name": "y", "op": "affine", "source": "x"}],
        )
    )
    with TensorRTEngine(path) as eng:
        assert eng.inputs[0].shape == (1, 3, 4, 4) and eng.inputs[0].dtype == np.float16
        x = _x(1).astype(np.float16)
        out = eng.infer({"x": x})
        assert out["y"].dtype == np.float16
        np.testing.assert_allclose(out["y"], x * 2 + 1, rtol=1e-3)
        with pytest.raises(InputMismatchError, match="float32.*expected float16"):
            eng.infer({"x": _x(1)})


def test_close_while_a_call_runs_waits_for_it(gpu, engine, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    real_sync = gpu.cuda.Stream.synchronize

    def slow_sync(self):
        entered.set()
        release.wait(5)
        return real_sync(self)

    monkeypatch.setattr(gpu.cuda.Stream, "synchronize", slow_sync)
    result = {}
    caller = threading.Thread(target=lambda: result.update(engine.infer({"input": _x(1)})))
    caller.start()
    assert entered.wait(5)
    closer = threading.Thread(target=engine.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()
    release.set()
    caller.join(5)
    closer.join(5)
    np.testing.assert_allclose(result["scaled"], _expected(_x(1))[0])
    assert gpu.cuda.memory == {}


def test_pooled_buffer_refuses_views_larger_than_its_capacity():
    from edged.engines.buffers import PooledBuffer

    buf = PooledBuffer("x", np.zeros(12, np.float32), device=None, max_shape=(4, 3))
    assert buf.view((2, 3)).shape == (2, 3)
    assert np.shares_memory(buf.view((2, 3)), buf.host)
    with pytest.raises(InputMismatchError, match="needs 15 elements but its buffer holds 12"):
        buf.view((5, 3))
