"""The engine interface every backend implements; pipelines see only this.

An engine owns one loaded model: ``inputs``/``outputs`` describe its tensors,
``infer`` runs one call, ``warmup`` primes it, ``close`` releases it.
Everything backend-specific lives in ``_run``/``_release``/``_describe_backend``
of a subclass; the base class does the parts that must be identical on every
backend: input validation, metrics, the worker thread, and an idempotent,
race-free ``close``.

Threading contract. A CUDA context and a TensorRT execution context belong to
one thread at a time, so each engine owns a single-thread executor
(``engine.executor``, thread ``engine-<name>_0``) and the daemon runs
``await loop.run_in_executor(engine.executor, engine.infer, batch)``. ``infer``
additionally holds a per-engine lock while the backend runs, so a call from
another thread, or a ``close()`` racing a call, waits instead of touching
freed GPU memory.
"""

from __future__ import annotations

import abc
import concurrent.futures
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .digest import model_sha256
from .errors import EngineClosedError, EngineError, InferenceError
from .metrics import EngineMetrics
from .tensors import TensorSpec, zeros_for
from .validation import InputValidator

__all__ = ["Engine", "TensorSpec"]

log = logging.getLogger(__name__)


class Engine(abc.ABC):
    """Base class of the ONNX Runtime and TensorRT engines."""

    backend: ClassVar[str] = "abstract"

    def __init__(
        self,
        model_path: Union[str, os.PathLike],
        *,
        name: Optional[str] = None,
        sha256: Optional[str] = None,
        metrics_window: int = 1024,
    ) -> None:
        self.model_path = os.fspath(model_path)
        self.name = name or Path(self.model_path).name.split(".")[0]
        self.log = logging.getLogger("edged.engines").getChild(self.name)
        self.sha256 = sha256 or model_sha256(self.model_path)
        self.metrics = EngineMetrics(metrics_window)
        #: Why the factory chose this backend; shown by ``describe()``.
        self.selection_reason: Optional[str] = None
        self._inputs: Tuple[TensorSpec, ...] = ()
        self._outputs: Tuple[TensorSpec, ...] = ()
        self._validator = InputValidator(self.name, ())
        self._run_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._worker_ident: Optional[int] = None
        self._closed = False

    # --- description -------------------------------------------------------------

    @property
    def inputs(self) -> Tuple[TensorSpec, ...]:
        """Input tensors, in the model's order."""
        return self._inputs

    @property
    def outputs(self) -> Tuple[TensorSpec, ...]:
        """Output tensors, in the model's order; ``infer`` returns them by name."""
        return self._outputs

    @property
    def max_batch(self) -> Optional[int]:
        """Most items one call may stack on the first axis of the first input; None: no limit.

        A fixed first axis is its own limit (1 for most exports). A dynamic one has none
        on ONNX Runtime; TensorRT overrides this with its optimisation profile's maximum.
        Pipelines that batch frames read it before each call: the serving backend can change.
        """
        shape = self.inputs[0].shape if self.inputs else ()
        first = shape[0] if shape else None
        return first if isinstance(first, int) else None

    @property
    def closed(self) -> bool:
        """True once ``close()`` has been called."""
        return self._closed

    def _set_io(self, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> None:
        """Called by subclasses once the model is loaded; compiles the input checks."""
        self._inputs = tuple(inputs)
        self._outputs = tuple(outputs)
        self._validator = InputValidator(self.name, self._inputs)

    def describe(self) -> Dict[str, Any]:
        """A JSON-able summary for the status API."""
        info: Dict[str, Any] = {
            "name": self.name,
            "backend": self.backend,
            "model": self.model_path,
            "sha256": self.sha256[:12],
            "reason": self.selection_reason,
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "metrics": self.metrics.snapshot(),
            "closed": self._closed,
        }
        info.update(self._describe_backend())
        return info

    def _describe_backend(self) -> Dict[str, Any]:
        """Backend-specific fields for ``describe()`` (providers, precision, ...)."""
        return {}

    # --- running -----------------------------------------------------------------

    @property
    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        """The engine's single worker thread, created on first use."""
        with self._state_lock:
            if self._closed:
                raise EngineClosedError(f"engine {self.name!r} is closed")
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1,
                    thread_name_prefix=f"engine-{self.name}",
                    initializer=self._on_worker_start,
                )
            return self._executor

    def _on_worker_start(self) -> None:
        # runs on the engine's worker thread
        self._worker_ident = threading.get_ident()

    def infer(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run one call; return ``{output name: array}``.

        Raises ``InputMismatchError`` for a wrong name/shape/dtype (before the
        backend sees it), ``InferenceError`` when the backend fails, and
        ``EngineClosedError`` after ``close()``.
        """
        try:
            self._validator.check(inputs)
            with self._run_lock:
                if self._closed:
                    raise EngineClosedError(f"engine {self.name!r} is closed")
                start = time.perf_counter()
                outputs = self._run(inputs)
                self.metrics.record(start, time.perf_counter())
            return outputs
        except EngineError:
            self.metrics.record_error()
            raise
        except Exception as exc:
            self.metrics.record_error()
            raise InferenceError(
                f"model {self.name!r} failed on {self.backend}: {type(exc).__name__}: {exc}"
            ) from exc

    @abc.abstractmethod
    def _run(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Backend call on validated inputs, under the run lock."""

    def example_shapes(
        self, overrides: Optional[Mapping[str, Sequence[int]]] = None
    ) -> Dict[str, Tuple[int, ...]]:
        """Concrete input shapes for warmup: ``overrides`` first, else dynamic dims = 1."""
        overrides = overrides or {}
        return {s.name: s.concrete_shape(1, overrides.get(s.name)) for s in self._inputs}

    def warmup(
        self, n: int = 1, shapes: Optional[Mapping[str, Sequence[int]]] = None
    ) -> Optional[float]:
        """Run ``n`` calls on zeros so the first real frame is not slow.

        The first calls allocate workspaces and pick kernels; their latency
        would distort the metrics, so metrics are reset afterwards. Returns the
        mean warmup latency in seconds, or None when ``n`` is 0.
        """
        if n <= 0:
            return None
        feed = zeros_for(self._inputs, self.example_shapes(shapes))
        start = time.perf_counter()
        for _ in range(n):
            self.infer(feed)
        mean_s = (time.perf_counter() - start) / n
        self.metrics.reset()
        self.log.debug("warmed up with %d call(s), %.2f ms each", n, mean_s * 1e3)
        return mean_s

    # --- closing -----------------------------------------------------------------

    def close(self) -> None:
        """Release the model and its worker thread. Safe to call more than once.

        Waits for a call in progress to finish first (unless called from the
        engine's own worker thread, where waiting would deadlock).
        """
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=threading.get_ident() != self._worker_ident)
        with self._run_lock:
            try:
                self._release()
            except Exception:
                self.log.exception("error while releasing engine %r", self.name)
        self.log.debug("closed")

    @abc.abstractmethod
    def _release(self) -> None:
        """Free backend resources; called exactly once, under the run lock."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<{} {!r} {}{}>".format(
            type(self).__name__,
            self.name,
            self.model_path,
            " closed" if self._closed else "",
        )
