"""``triton.fallback: onnxruntime``: the model runs on the device while the server is away.

Against a real KServe v2 server (Seldon MLServer, started and killed here): a daemon
that starts before its server serves locally, moves to the server once it answers,
and back to the device when the server dies, without one failed call. The backoff
and refusal rules are checked with two small in-test engines (no server needed).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Dict, Mapping

import numpy as np
import pytest

from edged.backoff import Backoff
from edged.config.engine import EngineConfig
from edged.config.triton import TritonConfig
from edged.engines import EngineUnavailableError, InferenceError, ModelLoadError, create_engine
from edged.engines.base import Engine
from edged.engines.fallback import FallbackEngine
from edged.engines.onnxruntime import OnnxRuntimeEngine
from edged.engines.tensors import TensorSpec
from edged.engines.triton import TritonEngine
from edged.pipelines.gauge.pipeline import resolve_model

from .kserve import KServeServer, free_port, mlserver_or_skip

GAUGE_MODEL = Path(resolve_model("weights/gauge_kp_w32.onnx")).resolve()
FRAME = {"image": np.random.default_rng(3).random((1, 3, 128, 128), dtype=np.float32)}


def fallback_options(url: str) -> EngineConfig:
    triton = TritonConfig(url=url, timeout_s=2, fallback="onnxruntime")
    return EngineConfig(backend="triton", triton=triton)


def test_a_server_that_comes_late_and_dies_costs_no_call(tmp_path):
    executable = mlserver_or_skip()
    if not GAUGE_MODEL.is_file():
        pytest.skip(f"no gauge model at {GAUGE_MODEL}")
    server = KServeServer(executable, tmp_path / "kserve", {"gauge_kp_w32": (GAUGE_MODEL, {})})
    triton = TritonConfig(url=server.grpc_url, timeout_s=2, fallback="onnxruntime")
    local = OnnxRuntimeEngine(GAUGE_MODEL, name="gauge")
    fast = Backoff(0.2, 1.0, jitter=0.0)
    engine = FallbackEngine(
        GAUGE_MODEL, lambda: TritonEngine(GAUGE_MODEL, triton), local, backoff=fast
    )
    with OnnxRuntimeEngine(GAUGE_MODEL) as reference, engine:
        want = reference.infer(FRAME)
        assert engine.serving == "local" and engine.remote is None
        assert "cannot reach the server" in engine.last_error
        _assert_same(engine.infer(FRAME), want)

        server.start()
        try:
            _call_until(engine, lambda: engine.serving == "remote", timeout_s=30)
            assert engine.remote.calls >= 1
            _assert_same(engine.infer(FRAME), want)  # the server gives the same outputs
        finally:
            server.kill()
        local_before = engine.local_calls
        for _ in range(3):  # the server is gone: each call still returns, on the device
            _assert_same(engine.infer(FRAME), want)
        assert engine.serving == "local" and engine.local_calls == local_before + 3
        info = engine.describe()
    assert info["serving"] == "local" and info["switches"] == 2
    assert info["local"]["backend"] == "onnxruntime"
    assert "did not answer" in info["last_error"] or "cannot" in info["last_error"]


def test_the_factory_opens_the_fallback_and_a_missing_file_is_a_clear_error(tmp_path):
    url = f"127.0.0.1:{free_port()}"  # nothing listens: the load still succeeds
    with create_engine(str(GAUGE_MODEL), options=fallback_options(url), name="gauge") as engine:
        assert isinstance(engine, FallbackEngine) and engine.serving == "local"
        assert engine.infer(FRAME)["cmap"].shape[0] == 1
    with pytest.raises(ModelLoadError, match=r"no such file; copy the model .* fallback: none"):
        create_engine(str(tmp_path / "gauge.onnx"), options=fallback_options(url))


def test_fallback_is_a_triton_option_with_a_known_value():
    assert TritonConfig(url="h:8001").fallback == "none"
    with pytest.raises(ValueError, match="fallback"):
        TritonConfig(url="h:8001", fallback="tensorrt")


# --- the rules, with two small in-test engines ---------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Answers(Engine):
    """An engine that returns its ``tag``, or raises while ``down``."""

    backend = "test"

    def __init__(self, tag: float, name: str = "x", input_name: str = "image") -> None:
        super().__init__("x.onnx", name=name, sha256="0" * 64)
        self.tag = tag
        self.down = False
        self.calls = 0
        self._set_io(
            [TensorSpec(input_name, (1, 2), np.float32)], [TensorSpec("y", (1,), np.float32)]
        )

    def _run(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        self.calls += 1
        if self.down:
            raise EngineUnavailableError("server did not answer")
        return {"y": np.array([self.tag], np.float32)}

    def _release(self) -> None:
        pass


X = {"image": np.zeros((1, 2), np.float32)}


def make(remote: Answers, clock: Clock) -> FallbackEngine:
    backoff = Backoff(1.0, 8.0, jitter=0.0, clock=clock)
    return FallbackEngine("x.onnx", lambda: remote, Answers(0.0), backoff=backoff, clock=clock)


def test_a_dead_server_is_tried_once_per_backoff_step_not_once_per_frame():
    clock, remote = Clock(), Answers(1.0)
    engine = make(remote, clock)
    assert engine.infer(X)["y"][0] == 1.0 and engine.serving == "remote"
    remote.down = True
    tries = []
    for step in range(40):  # 10 s of frames at 4 fps
        clock.now = step * 0.25
        before = remote.calls
        assert engine.infer(X)["y"][0] == 0.0  # every frame is answered, locally
        if remote.calls > before:
            tries.append(clock.now)
    # tried at once, then after 1, 2 and 4 s of backoff: 4 tries in 40 frames
    assert tries == [0.0, 1.0, 3.0, 7.0]
    remote.down = False
    clock.now = 15.0
    assert engine.infer(X)["y"][0] == 1.0 and engine.serving == "remote"
    assert engine.switches == 2


def test_a_server_that_starts_refusing_calls_is_dropped_and_checked_again():
    """Restarted with another model, the server refuses what the local model takes: the
    device serves, and the server is connected to (and checked) again after the backoff."""
    clock, connects = Clock(), []
    first, second = Answers(1.0), Answers(2.0)

    def connect() -> Engine:
        connects.append(clock.now)
        return first if len(connects) == 1 else second

    backoff = Backoff(1.0, 8.0, jitter=0.0, clock=clock)
    engine = FallbackEngine("x.onnx", connect, Answers(0.0), backoff=backoff, clock=clock)
    assert engine.infer(X)["y"][0] == 1.0

    def refuse(inputs):
        raise InferenceError("server refused: unexpected input 'image'")

    first._run = refuse  # the server now serves another model
    assert engine.infer(X)["y"][0] == 0.0  # answered on the device
    assert first.closed and engine.remote is None and "refused" in engine.last_error
    clock.now = 1.5  # past the first backoff step: connected again, in the background
    assert engine.infer(X)["y"][0] == 0.0
    _join(engine)
    assert engine.infer(X)["y"][0] == 2.0 and connects == [0.0, 1.5]


def test_a_server_with_another_model_is_refused_naming_both():
    clock = Clock()
    other = Answers(1.0, input_name="input")
    with pytest.raises(ModelLoadError, match=r"server inputs \{'input'.*local inputs \{'image'"):
        make(other, clock)
    assert other.closed


def test_a_server_that_comes_back_with_another_model_is_refused_and_the_device_serves_on():
    clock, calls = Clock(), []

    def connect() -> Engine:
        calls.append(clock.now)
        if len(calls) == 1:
            raise ModelLoadError("cannot reach the server")
        if len(calls) == 2:
            raise OSError("certificate file vanished")  # not an engine error: still no crash
        return Answers(1.0, input_name="input")

    backoff = Backoff(1.0, 8.0, jitter=0.0, clock=clock)
    engine = FallbackEngine("x.onnx", connect, Answers(0.0), backoff=backoff, clock=clock)
    for step in range(40):
        clock.now = step * 0.25
        assert engine.infer(X)["y"][0] == 0.0
        _join(engine)
    assert calls == [0.0, 1.0, 3.0, 7.0]  # on the backoff's steps, never once per frame
    assert "server's model and the local fallback differ" in engine.last_error
    assert engine.remote is None and engine.metrics.snapshot()["count"] == 40


def test_a_hanging_server_stalls_no_frame():
    clock, release = Clock(), threading.Event()

    def connect() -> Engine:
        if not hasattr(connect, "started"):
            connect.started = True  # type: ignore[attr-defined]
            raise ModelLoadError("cannot reach the server")
        release.wait(10)  # a server that accepts the connection and never answers
        return Answers(1.0)

    engine = FallbackEngine("x.onnx", connect, Answers(0.0), clock=clock)
    clock.now = 5.0
    started = time.monotonic()
    for _ in range(20):
        assert engine.infer(X)["y"][0] == 0.0
    assert time.monotonic() - started < 1.0
    release.set()
    _join(engine)
    assert engine.infer(X)["y"][0] == 1.0 and engine.serving == "remote"


def _join(engine: FallbackEngine) -> None:
    thread = engine._connecting
    if thread is not None:
        thread.join(10)


def _assert_same(got: Dict[str, np.ndarray], want: Dict[str, np.ndarray]) -> None:
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-5)


def _call_until(engine: FallbackEngine, done, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"not done within {timeout_s} s: {engine.describe()}"
        engine.infer(FRAME)
        time.sleep(0.1)
