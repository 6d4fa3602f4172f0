"""The backend-independent parts of ``Engine``: validation, metrics, threads, close."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from edged.engines.base import Engine
from edged.engines.errors import EngineClosedError, InferenceError, InputMismatchError
from edged.engines.metrics import EngineMetrics
from edged.engines.tensors import TensorSpec


class GateEngine(Engine):
    """Doubles its input; ``_run`` can be held on a gate to test concurrency."""

    backend = "test"

    def __init__(self, path, **kw):
        super().__init__(path, **kw)
        self._set_io(
            [TensorSpec("x", (None, 2), np.float32)], [TensorSpec("y", (None, 2), np.float32)]
        )
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.running = False
        self.release_saw_running = None
        self.releases = 0
        self.fail_with = None

    def _run(self, inputs):
        self.running = True
        self.entered.set()
        try:
            self.gate.wait(10)
            if self.fail_with is not None:
                raise self.fail_with
            return {"y": inputs["x"] * 2}
        finally:
            self.running = False

    def _release(self):
        self.releases += 1
        self.release_saw_running = self.running


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "dummy.bin"
    path.write_bytes(b"weights")
    return path


def test_infer_validates_then_runs(model_file):
    eng = GateEngine(model_file)
    out = eng.infer({"x": np.ones((3, 2), np.float32)})
    np.testing.assert_array_equal(out["y"], np.full((3, 2), 2, np.float32))
    with pytest.raises(InputMismatchError):
        eng.infer({"x": np.ones((3, 3), np.float32)})
    assert (eng.metrics.count, eng.metrics.errors) == (1, 1)


def test_backend_exception_becomes_inference_error(model_file):
    eng = GateEngine(model_file)
    eng.fail_with = RuntimeError("device lost")
    with pytest.raises(InferenceError, match="failed on test: RuntimeError: device lost"):
        eng.infer({"x": np.ones((1, 2), np.float32)})


def test_close_is_idempotent_and_blocks_later_calls(model_file):
    eng = GateEngine(model_file)
    eng.close()
    eng.close()
    assert eng.releases == 1
    with pytest.raises(EngineClosedError):
        eng.infer({"x": np.ones((1, 2), np.float32)})
    with pytest.raises(EngineClosedError):
        _ = eng.executor


def test_close_waits_for_the_call_in_progress(model_file):
    eng = GateEngine(model_file)
    eng.gate.clear()
    caller = threading.Thread(target=eng.infer, args=({"x": np.ones((1, 2), np.float32)},))
    caller.start()
    assert eng.entered.wait(5)
    closer = threading.Thread(target=eng.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive(), "close() returned while a call was still running"
    eng.gate.set()
    caller.join(5)
    closer.join(5)
    assert eng.releases == 1 and eng.release_saw_running is False


def test_executor_is_one_named_thread(model_file):
    eng = GateEngine(model_file, name="pose")
    names = {
        eng.executor.submit(lambda: threading.current_thread().name).result() for _ in range(5)
    }
    assert names == {"engine-pose_0"}
    assert eng.executor is eng.executor
    eng.close()


def test_close_from_the_worker_thread_does_not_deadlock(model_file):
    eng = GateEngine(model_file)
    eng.executor.submit(eng.close).result(timeout=5)
    assert eng.closed and eng.releases == 1


def test_warmup_runs_n_calls_and_resets_metrics(model_file):
    eng = GateEngine(model_file)
    calls = []
    original = eng._run
    eng._run = lambda inputs: calls.append(inputs["x"].shape) or original(inputs)
    assert eng.warmup(3) is not None
    assert calls == [(1, 2)] * 3  # dynamic batch -> 1
    assert eng.metrics.count == 0
    eng.warmup(1, shapes={"x": (4, 2)})
    assert calls[-1] == (4, 2)
    assert eng.warmup(0) is None


def test_describe_is_json_serialisable(model_file):
    eng = GateEngine(model_file)
    eng.infer({"x": np.ones((1, 2), np.float32)})
    info = json.loads(json.dumps(eng.describe()))
    assert info["inputs"] == [{"name": "x", "shape": [None, 2], "dtype": "float32"}]
    assert info["metrics"]["count"] == 1


def test_metrics_percentiles_and_throughput():
    clock = [100.0]
    metrics = EngineMetrics(window=100, clock=lambda: clock[0])
    for i in range(100):  # latencies 1..100 ms, one call every 10 ms
        start = i * 0.01
        metrics.record(start, start + (i + 1) / 1000)
    clock[0] = 1.0
    snap = metrics.snapshot()
    lat = snap["latency_ms"]
    assert (lat["min"], lat["max"], lat["p50"], lat["p99"]) == (1.0, 100.0, 50.0, 99.0)
    assert lat["mean"] == pytest.approx(50.5)
    assert snap["throughput_per_s"] == pytest.approx(100.0)
    clock[0] = 10.0  # idle for nine seconds: the rate decays
    assert metrics.snapshot()["throughput_per_s"] == pytest.approx(10.0)


def test_metrics_window_is_bounded_but_totals_are_not():
    metrics = EngineMetrics(window=10)
    for i in range(1000):
        metrics.record(float(i), float(i) + 0.5)
    metrics.record(2000.0, 2005.0)
    snap = metrics.snapshot(now=2005.0)
    assert snap["count"] == 1001
    assert snap["latency_ms"]["max"] == 5000.0
    assert len(metrics._latencies) == 10
    assert snap["latency_ms"]["p50"] == 500.0  # the window holds the last 10 calls only


def test_empty_metrics_snapshot():
    assert EngineMetrics().snapshot() == {
        "count": 0,
        "errors": 0,
        "latency_ms": None,
        "throughput_per_s": 0.0,
    }
