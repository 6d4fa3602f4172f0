"""The ONNX Runtime backend: laptops, servers, CI, and any device without TensorRT.

Session options are chosen for a 2-4 core edge box that also captures video,
encodes JPEG previews and talks MQTT:

* sequential execution: vision models are chains of convolutions; running
  branches in parallel buys little and adds a second thread pool;
* graph optimisation ``ORT_ENABLE_ALL``: constant folding and fusions once at
  load time, for free at run time;
* no thread spinning by default: ONNX Runtime's workers otherwise busy-wait
  after each call, so a pipeline paced by a 15 fps camera keeps a core busy
  while it waits for the next frame (measured in bench/results/engines.md);
* thread counts configurable, 0 meaning ONNX Runtime's default (one per
  physical core).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .base import Engine
from .errors import ModelLoadError
from .tensors import Dim, TensorSpec

__all__ = ["OnnxRuntimeEngine", "resolve_providers"]

log = logging.getLogger(__name__)

# ONNX Runtime type strings -> numpy dtypes (the ones numpy can represent).
_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}


class OnnxRuntimeEngine(Engine):
    """An ONNX model on an ``onnxruntime.InferenceSession``."""

    backend = "onnxruntime"

    def __init__(
        self,
        model_path: Union[str, os.PathLike],
        *,
        name: Optional[str] = None,
        sha256: Optional[str] = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        allow_spinning: bool = False,
    ) -> None:
        super().__init__(model_path, name=name, sha256=sha256)
        import onnxruntime as ort

        self._threads = (intra_op_threads, inter_op_threads)
        self._allow_spinning = allow_spinning
        options = session_options(ort, intra_op_threads, inter_op_threads, allow_spinning)
        chosen = resolve_providers(providers, ort.get_available_providers())
        try:
            self._session = ort.InferenceSession(
                self.model_path, sess_options=options, providers=chosen
            )
        except Exception as exc:
            raise ModelLoadError(
                f"cannot load ONNX model {self.model_path}: {_first_line(exc)}. The file is "
                "truncated, not an ONNX model, or uses operators this onnxruntime "
                f'{ort.__version__} lacks; re-export or re-download it (python -c "import onnx; '
                f"onnx.checker.check_model('{self.model_path}')\" shows the problem)"
            ) from exc
        self._ort_version = ort.__version__
        inputs = [_spec(self.model_path, a) for a in self._session.get_inputs()]
        outputs = [_spec(self.model_path, a) for a in self._session.get_outputs()]
        self._output_names = [o.name for o in outputs]
        self._set_io(inputs, outputs)
        self.log.info(
            "loaded %s on onnxruntime %s (%s)",
            self.model_path,
            ort.__version__,
            ", ".join(self._session.get_providers()),
        )

    def _run(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        results = self._session.run(self._output_names, inputs)
        return dict(zip(self._output_names, results))

    def _release(self) -> None:
        # InferenceSession has no close(); dropping the last reference frees it.
        self._session = None

    def _describe_backend(self) -> Dict[str, Any]:
        session = self._session
        return {
            "onnxruntime": self._ort_version,
            "providers": session.get_providers() if session is not None else [],
            "intra_op_threads": self._threads[0],
            "inter_op_threads": self._threads[1],
            "allow_spinning": self._allow_spinning,
        }


def session_options(ort: Any, intra: int, inter: int, allow_spinning: bool) -> Any:
    """Build ``SessionOptions`` for a small multi-purpose device (see module doc)."""
    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = intra
    options.inter_op_num_threads = inter
    spin = "1" if allow_spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return options


def resolve_providers(requested: Sequence[str], available: Sequence[str]) -> List[str]:
    """Keep the requested providers that are installed, in order, CPU last.

    A provider asked for but missing (``CUDAExecutionProvider`` on a laptop)
    is a warning, not an error: the model still runs, on the CPU.
    """
    chosen = [p for p in requested if p in available]
    missing = [p for p in requested if p not in available]
    if missing:
        log.warning(
            "onnxruntime providers %s are not available here (available: %s); "
            "install onnxruntime-gpu for CUDA. Using %s",
            missing,
            list(available),
            [*chosen, "CPUExecutionProvider"] if "CPUExecutionProvider" not in chosen else chosen,
        )
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def _spec(model_path: str, arg: Any) -> TensorSpec:
    """Translate an ONNX Runtime ``NodeArg`` into a ``TensorSpec``."""
    dtype = _ORT_DTYPES.get(arg.type)
    if dtype is None:
        raise ModelLoadError(
            f"model {model_path}: tensor {arg.name!r} has type {arg.type}, which edged cannot "
            "pass as a numpy array; export the model with float/int tensors"
        )
    shape: List[Dim] = []
    for dim in arg.shape or ():
        shape.append(dim if isinstance(dim, (int, str)) and dim != "" else None)
    return TensorSpec(arg.name, tuple(_unknown_negative(d) for d in shape), dtype)


def _unknown_negative(dim: Dim) -> Dim:
    """Some exporters write -1 or 0 for an unknown dim; treat those as dynamic."""
    if isinstance(dim, int) and dim <= 0:
        return None
    return dim


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
