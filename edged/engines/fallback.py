"""``FallbackEngine``: a model on an inference server, run locally while the server is away.

``backend: triton`` with ``triton.fallback: onnxruntime``. A site that sends its
tensors to a GPU server keeps reading its gauges and people when that server
(or the network to it) goes down: calls then run on ONNX Runtime on the device,
slower but with the same model file, and go back to the server once it answers.
Without a fallback the pipeline waits (state ``waiting``) until the server is back.

The server is tried again with capped backoff (0.5 s doubling to 30 s), one call at
a time: while it is down, nearly every call goes straight to the local engine, and
a server that hangs costs one ``timeout_s`` per try, not one per frame. Both
engines serve one model: at connect time their input names and dtypes must agree,
else the server is refused with both lists (a model updated on one side only).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

import numpy as np

from edged.backoff import Backoff

from .base import Engine
from .errors import EngineClosedError, EngineUnavailableError, ModelLoadError
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
        self._set_io(local.inputs, local.outputs)
        if self._try_connect() is not None:
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
        remote = self.remote
        if remote is None and self._due():
            remote = self._try_connect()
        if remote is not None and (self.serving == "remote" or self._due()):
            try:
                outputs = remote.infer(inputs)
            except EngineUnavailableError as exc:
                self._server_down(str(exc))
            else:
                self._server_up()
                return outputs
        self.local_calls += 1
        return self.local.infer(inputs)

    def _run(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:  # pragma: no cover
        return self.infer(inputs)

    def _due(self) -> bool:
        return self._clock() >= self._retry_at

    def _try_connect(self) -> Optional[Engine]:
        """Open the remote engine; None (and a later retry) when the server is not there."""
        try:
            remote = self._connect()
        except ModelLoadError as exc:  # BackendUnavailableError included: unreachable now
            self._server_down(str(exc))
            return None
        mismatch = _io_mismatch(remote.inputs, self.local.inputs)
        if mismatch:
            remote.close()
            raise ModelLoadError(
                f"model {self.name!r}: the server's model and the local fallback differ "
                f"({mismatch}); give both the same model"
            )
        self.remote = remote
        return remote

    def _server_down(self, reason: str) -> None:
        with self._lock:
            self._retry_at = self._clock() + self._backoff.next_delay()
            first = self.serving == "remote" or self.last_error is None
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
        for engine in (self.remote, self.local):
            if engine is not None:
                engine.close()


def _io_mismatch(remote: Tuple[TensorSpec, ...], local: Tuple[TensorSpec, ...]) -> str:
    """What differs between two input lists by name and dtype ('' when they agree)."""
    theirs = {s.name: s.dtype.name for s in remote}
    ours = {s.name: s.dtype.name for s in local}
    if theirs == ours:
        return ""
    return f"server inputs {theirs}, local inputs {ours}"
