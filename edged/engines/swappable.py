"""``SwappableEngine``: a stable engine handle whose backend can change under it.

The model manager hands pipelines one of these per model. While a TensorRT
plan builds in the background (minutes on a Jetson) the handle serves the
same ONNX model on ONNX Runtime, or nothing (``EngineNotReadyError``); when
the plan is ready the manager swaps it in. Pipelines keep the same object and
the same ``executor`` thread throughout and never learn which backend ran a
call: outputs are the same up to floating-point rounding.

Calls go to the current backend engine directly from the handle's worker
thread; the TensorRT engine pushes its CUDA context around each call, so it
does not need its own thread. The engine swapped out is closed behind any
call already running on it (its run lock), never under it.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np

from .base import Engine
from .errors import EngineClosedError, EngineNotReadyError
from .tensors import TensorSpec

__all__ = ["SwappableEngine"]


class SwappableEngine(Engine):
    """Delegates to whichever backend engine currently serves the model."""

    backend = "none"

    def __init__(self, model_path: Union[str, os.PathLike], *, name: str, sha256: str) -> None:
        super().__init__(model_path, name=name, sha256=sha256)
        self._target: Optional[Engine] = None
        self._swap_lock = threading.Lock()
        self.not_ready_reason = f"model {name!r} is still loading"

    @property
    def target(self) -> Optional[Engine]:
        """The backend engine serving calls now, or None."""
        return self._target

    @property
    def inputs(self) -> Tuple[TensorSpec, ...]:
        target = self._target
        return target.inputs if target is not None else ()

    @property
    def outputs(self) -> Tuple[TensorSpec, ...]:
        target = self._target
        return target.outputs if target is not None else ()

    @property
    def max_batch(self) -> Optional[int]:
        target = self._target
        return target.max_batch if target is not None else None

    def serve(self, engine: Optional[Engine]) -> Optional[Engine]:
        """Route calls to ``engine`` from now on; return the engine it replaced (not closed)."""
        with self._swap_lock:
            if self._closed:
                raise EngineClosedError(f"engine {self.name!r} is closed")
            previous, self._target = self._target, engine
        if engine is not None:
            self.log.info("now serving on %s", engine.backend)
            if previous is not None and previous.inputs != engine.inputs:
                self.log.warning(
                    "inputs changed with the switch from %s to %s: %s -> %s",
                    previous.backend,
                    engine.backend,
                    previous.inputs,
                    engine.inputs,
                )
        return previous

    def infer(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run the call on the current backend; ``EngineNotReadyError`` when there is none.

        Metrics are the serving engine's own (``describe()["metrics"]``), so
        the handle adds no bookkeeping of its own to the hot path.
        """
        while True:
            if self._closed:
                raise EngineClosedError(f"engine {self.name!r} is closed")
            target = self._target
            if target is None:
                raise EngineNotReadyError(self.not_ready_reason)
            try:
                return target.infer(inputs)
            except EngineClosedError:
                if self._target is target:  # closed without a replacement
                    raise
                # swapped out between our read and the call: retry on the new one

    def _run(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:  # pragma: no cover
        return self.infer(inputs)

    def warmup(self, n: int = 1, shapes: Optional[Mapping[str, Any]] = None) -> Optional[float]:
        """Warm the current backend engine (the manager warms each before serving it)."""
        target = self._target
        if target is None:
            raise EngineNotReadyError(self.not_ready_reason)
        return target.warmup(n, shapes)

    def describe(self) -> Dict[str, Any]:
        info = super().describe()
        target = self._target
        info["backend"] = target.backend if target is not None else None
        info["metrics"] = target.metrics.snapshot() if target is not None else None
        info["serving"] = target.describe() if target is not None else None
        info["reason"] = target.selection_reason if target is not None else self.not_ready_reason
        return info

    def _release(self) -> None:
        with self._swap_lock:
            target, self._target = self._target, None
        if target is not None:
            target.close()
