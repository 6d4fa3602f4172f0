"""``FallbackEngine``: a model on an inference server, run locally while the server is away.

``backend: triton`` with ``triton.fallback: onnxruntime``. A site that sends its
tensors to a GPU server keeps reading its gauges and people when that server
(or the network to it) goes down: calls then run on ONNX Runtime on the device,
slower but with the same model file, and go back to the server once it answers.
Without a fallback the pipeline waits (state ``waiting``) until the server is back.

The server is tried again with capped backoff (0.5 s doubling to 30 s): a server
that was away when the daemon started is connected to on a thread of its own (a
server that hangs stalls no frame), and one that stopped answering gets one call per
try, so it costs one ``timeout_s`` per try, not one per frame. Both engines serve one
model: their input names and dtypes must agree, else the server is refused with both
lists (a model updated on one side only): at load time as an error, later with a
warning while the device goes on serving.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

import numpy as np

from edged.backoff import Backoff

from .base import Engine
from .errors import (
    EngineClosedError,
    EngineError,
    EngineUnavailableError,
    InferenceError,
    InputMismatchError,
    ModelLoadError,
)
from .tensors import TensorSpec

__all__ = ["FallbackEngine"]

RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 30.0


class FallbackEngine(Engine):
    """Calls go to ``connect()``'s remote engine while it answers, else to ``local``."""

    backend = "triton+fallback"

    def __init__(
        self,
        model_path: Union[str, os.PathLike],
        connect: Callable[[], Engine],
        local: Engine,
        *,
        name: Optional[str] = None,
        backoff: Optional[Backoff] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(model_path, name=name or local.name, sha256=local.sha256)
        self._connect = connect
        self.local = local
        self.remote: Optional[Engine] = None
        self._backoff = backoff or Backoff(RETRY_INITIAL_S, RETRY_MAX_S, stable_s=60.0)
        self._clock = clock
        self._retry_at = 0.0
        self._lock = threading.Lock()
        self.serving = "local"
        self.last_error: Optional[str] = None
        self.local_calls = 0
        self.switches = 0
        self._connecting: Optional[threading.Thread] = None
        self._set_io(local.inputs, local.outputs)
        try:
            remote = connect()
        except ModelLoadError as exc:  # the server is away or not serving the model yet
            self._server_down(str(exc))
        else:
            self._adopt(remote)  # a server with another model is refused here, at load
            self.serving = "remote"

    @property
    def max_batch(self) -> Optional[int]:
        limits = [e.max_batch for e in (self.remote, self.local) if e is not None]
        bounded = [m for m in limits if m is not None]
        return min(bounded) if bounded else None

    def infer(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """On the server when it answers; on the local engine when it does not."""
        if self._closed:
            raise EngineClosedError(f"engine {self.name!r} is closed")
        start = time.perf_counter()
        try:
            outputs = self._infer(inputs)
        except Exception:
            self.metrics.record_error()
            raise
        self.metrics.record(start, time.perf_counter())
        return outputs

    def _infer(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        remote = self.remote
        if remote is None and self._due():
            self._connect_in_background()
        if remote is not None and (self.serving == "remote" or self._due()):
            try:
                outputs = remote.infer(inputs)
            except EngineUnavailableError as exc:
                self._server_down(str(exc))
            except (InferenceError, InputMismatchError) as exc:
                # the server refuses what the local model takes: it may serve another model
                # now (restarted with an update); connect again, which checks it once more
                self._drop_remote()
                self._server_down(f"the server refused the call ({exc}); connecting again")
            else:
                self._server_up()
                return outputs
        self.local_calls += 1
        return self.local.infer(inputs)

    def _run(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:  # pragma: no cover
        return self.infer(inputs)

    def _due(self) -> bool:
        return self._clock() >= self._retry_at

    def _connect_in_background(self) -> None:
        """Connect on a thread of its own: a server that hangs must not stall the frames."""
        with self._lock:
            if self._connecting is not None and self._connecting.is_alive():
                return
            self._retry_at = float("inf")  # until this try ends
            self._connecting = threading.Thread(
                target=self._connect_now, name=f"connect-{self.name}", daemon=True
            )
            self._connecting.start()

    def _connect_now(self) -> None:
        try:
            self._adopt(self._connect())
        except Exception as exc:  # whatever the reason, the local engine goes on serving
            reason = str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
            self._server_down(reason)
        else:
            with self._lock:
                self._retry_at = 0.0  # the next call goes to the server

    def _adopt(self, remote: Engine) -> None:
        """Take ``remote`` as the server's engine, if it serves the same model as the local."""
        mismatch = _io_mismatch(remote.inputs, self.local.inputs)
        with self._lock:
            if mismatch or self._closed:
                remote.close()
            else:
                self.remote = remote
        if mismatch:
            raise ModelLoadError(
                f"model {self.name!r}: the server's model and the local fallback differ "
                f"({mismatch}); give both the same model"
            )

    def _drop_remote(self) -> None:
        with self._lock:
            remote, self.remote = self.remote, None
        if remote is not None:
            remote.close()

    def _server_down(self, reason: str) -> None:
        with self._lock:
            self._retry_at = self._clock() + self._backoff.next_delay()
            first = self.serving == "remote" or reason != self.last_error
            self.last_error = reason
            if self.serving == "remote":
                self.switches += 1
            self.serving = "local"
        if first:
            self.log.warning(
                "%s; running on the local %s until it answers", reason, self.local.backend
            )

    def _server_up(self) -> None:
        if self.serving == "remote":
            return
        with self._lock:
            self.serving = "remote"
            self.switches += 1
            self._backoff.succeeded()
        self.log.info("the server answers again: calls go to it")

    def warmup(self, n: int = 1, shapes: Optional[Mapping[str, Any]] = None) -> Optional[float]:
        """Warm the local engine always (it must be ready the moment the server goes)."""
        mean = self.local.warmup(n, shapes)
        if self.remote is not None:
            try:
                mean = self.remote.warmup(n, shapes)
                self._server_up()
            except EngineUnavailableError as exc:
                self._server_down(str(exc))
        return mean

    def describe(self) -> Dict[str, Any]:
        info = super().describe()
        remote = self.remote
        info.update(
            serving=self.serving,
            server=remote.describe() if remote is not None else None,
            local=self.local.describe(),
            local_calls=self.local_calls,
            switches=self.switches,
            last_error=self.last_error,
            metrics=(
                remote if self.serving == "remote" and remote else self.local
            ).metrics.snapshot(),
        )
        return info

    def _release(self) -> None:
        self._drop_remote()  # under the lock _adopt checks _closed with: no remote slips past
        if self.local is not None:
            self.local.close()


def _io_mismatch(remote: Tuple[TensorSpec, ...], local: Tuple[TensorSpec, ...]) -> str:
    """What differs between two input lists by name and dtype ('' when they agree)."""
    theirs = {s.name: s.dtype.name for s in remote}
    ours = {s.name: s.dtype.name for s in local}
    if theirs == ours:
        return ""
    return f"server inputs {theirs}, local inputs {ours}"
