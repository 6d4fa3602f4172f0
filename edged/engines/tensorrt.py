"""The TensorRT backend: a deserialised plan run on a CUDA stream.

Per engine: one CUDA primary context (retained, pushed around every call so
the engine works from whichever thread runs it, normally ``engine.executor``),
one execution context, one CUDA stream, and a ``BufferPool`` allocated once.
A call is: copy inputs into the pinned buffers -> async H2D -> execute -> async
D2H -> synchronise the stream, all on the engine's one stream so the
operations are ordered without events.

Outputs are returned as **copies** of the pooled host buffers. A view would
save a memcpy (about 0.1 ms for trt_pose's 1x60x56x56 float maps on a Nano)
but the next call overwrites the pool while the daemon may still be
post-processing the previous result on the event loop: with views that
becomes silently wrong keypoints, with copies it cannot happen.

Release order is the reverse of creation: execution context -> engine ->
runtime, then buffers and stream, then the CUDA context is popped and
released. Every reference is cleared as it is released, so ``close()`` after a
failed load, or twice, never frees anything twice.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .base import Engine
from .buffers import BufferPool
from .errors import (
    EngineError,
    InferenceError,
    InputMismatchError,
    ModelLoadError,
    PlanDeserializeError,
)
from .probe import import_pycuda, import_tensorrt
from .tensors import TensorSpec
from .trtapi import IOTensor, io_for

__all__ = ["TensorRTEngine", "read_plan"]

Shape = Tuple[int, ...]

log = logging.getLogger(__name__)


class TensorRTEngine(Engine):
    """A TensorRT plan (``.engine``/``.plan``, or bytes from a torch2trt file)."""

    backend = "tensorrt"

    def __init__(
        self,
        model_path: Union[str, os.PathLike],
        *,
        name: Optional[str] = None,
        sha256: Optional[str] = None,
        plan: Optional[bytes] = None,
        device: int = 0,
        precision: Optional[str] = None,
        io_names: Optional[Tuple[Sequence[str], Sequence[str]]] = None,
        plan_path: Optional[str] = None,
    ) -> None:
        super().__init__(model_path, name=name, sha256=sha256)
        self.plan_path = plan_path
        self._trt = import_tensorrt()
        self._cuda = import_pycuda()
        self._precision = precision or "as built"
        self._cuda_ctx: Any = None
        self._logger: Any = None
        self._runtime: Any = None
        self._engine: Any = None
        self._context: Any = None
        self._io: Any = None
        self._stream: Any = None
        self._pool: Optional[BufferPool] = None
        self._gpu_name = "unknown"
        try:
            self._load(plan if plan is not None else read_plan(self.model_path), device, io_names)
        except BaseException as exc:
            self._closed = True
            self._release()
            if isinstance(exc, Exception) and not isinstance(exc, EngineError):
                raise ModelLoadError(
                    f"cannot load TensorRT engine {self.model_path}: {type(exc).__name__}: {exc}"
                ) from exc
            raise
        self.log.info(
            "loaded %s on TensorRT %s (%s API, %s, %.1f MiB pooled)",
            self.model_path,
            self._trt.__version__,
            self._io.kind,
            self._gpu_name,
            self._pool.nbytes / 2**20,
        )

    # --- loading -----------------------------------------------------------------

    def _load(
        self, plan: bytes, device: int, io_names: Optional[Tuple[Sequence[str], Sequence[str]]]
    ) -> None:
        trt, cuda = self._trt, self._cuda
        cuda.init()
        gpu = cuda.Device(device)
        self._gpu_name = str(gpu.name())
        self._cuda_ctx = gpu.retain_primary_context()
        self._cuda_ctx.push()
        try:
            # The runtime keeps using its logger; hold it as long as the runtime.
            self._logger = trt.Logger(trt.Logger.WARNING)
            self._runtime = trt.Runtime(self._logger)
            self._engine = self._runtime.deserialize_cuda_engine(plan)
            if self._engine is None:
                raise PlanDeserializeError(
                    f"TensorRT {trt.__version__} could not deserialise {self.model_path}: a plan "
                    "only loads on the TensorRT version and GPU it was built with, and this one "
                    "is from another version or GPU, or corrupt. Rebuild it on this device: "
                    "edged build-engine MODEL.onnx (or point the pipeline at the .onnx model "
                    "and let edged build and cache it)"
                )
            self._context = self._engine.create_execution_context()
            if self._context is None:
                raise ModelLoadError(
                    "TensorRT could not create an execution context for "
                    f"{self.model_path} (out of GPU memory?); close other models or rebuild "
                    "with a smaller workspace"
                )
            self._io = io_for(trt, self._engine, self._context)
            self._setup_tensors(self._io.tensors(), io_names)
            self._stream = cuda.Stream()
        finally:
            self._cuda_ctx.pop()

    def _setup_tensors(
        self, tensors: List[IOTensor], io_names: Optional[Tuple[Sequence[str], Sequence[str]]]
    ) -> None:
        """Size the pool for the largest profile shapes and bind the buffers once."""
        ins = [t for t in tensors if t.is_input]
        outs = [t for t in tensors if not t.is_input]
        if io_names is not None:
            ins, outs = (
                _order(ins, io_names[0], self.model_path),
                _order(outs, io_names[1], self.model_path),
            )
        for t in ins:
            if not self._io.set_input_shape(t, t.max_shape):
                raise ModelLoadError(
                    f"TensorRT refused the profile's max shape {t.max_shape} for input {t.name!r}"
                )
        top_batch = ins[0].max_shape[0] if ins and ins[0].max_shape else 1
        sizes: Dict[str, Tuple[Shape, np.dtype]] = {t.name: (t.max_shape, t.dtype) for t in ins}
        for t in outs:
            shape = self._io.output_shape(t, top_batch)
            if any(d < 0 for d in shape):
                raise ModelLoadError(
                    f"output {t.name!r} of {self.model_path} has a data-dependent shape "
                    f"{shape}; edged needs output shapes that follow from the input shapes"
                )
            sizes[t.name] = (shape, t.dtype)
        self._pool = BufferPool(self._cuda, sizes)
        for t in ins + outs:
            self._io.bind(t, int(self._pool[t.name].device))
        self._in_tensors, self._out_tensors = ins, outs
        self._shapes: Dict[str, Shape] = {t.name: t.max_shape for t in ins}
        self._out_shapes: Optional[Dict[str, Shape]] = {t.name: sizes[t.name][0] for t in outs}
        self._set_io(
            [TensorSpec(t.name, _dims(t.shape), t.dtype) for t in ins],
            [TensorSpec(t.name, _dims(t.shape), t.dtype) for t in outs],
        )

    def example_shapes(
        self, overrides: Optional[Mapping[str, Sequence[int]]] = None
    ) -> Dict[str, Tuple[int, ...]]:
        """Warm up on the profile's ``opt`` shapes: the ones TensorRT tuned for."""
        shapes = {t.name: t.profile[1] for t in self._in_tensors}
        shapes.update({k: tuple(v) for k, v in (overrides or {}).items()})
        return shapes

    # --- running -----------------------------------------------------------------

    def _run(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        cuda, stream, pool = self._cuda, self._stream, self._pool
        self._cuda_ctx.push()
        try:
            batch = self._apply_shapes(inputs)
            for t in self._in_tensors:
                array = inputs[t.name]
                buf = pool[t.name]
                host = buf.view(array.shape)
                np.copyto(host, array, casting="no")
                cuda.memcpy_htod_async(buf.device, host, stream)
            if not self._io.execute(stream.handle, batch):
                raise InferenceError(
                    f"TensorRT failed to execute {self.name!r} (see the TensorRT log above)"
                )
            results = {}
            for t in self._out_tensors:
                buf = pool[t.name]
                host = buf.view(self._out_shapes[t.name])
                cuda.memcpy_dtoh_async(host, buf.device, stream)
                results[t.name] = host
            stream.synchronize()
        finally:
            self._cuda_ctx.pop()
        return {name: host.copy() for name, host in results.items()}

    def _apply_shapes(self, inputs: Mapping[str, np.ndarray]) -> int:
        """Tell TensorRT about input shapes that changed since the last call.

        Output shapes are re-read only after a change, so a stream of
        same-sized frames costs one tuple comparison per input here.
        """
        for t in self._in_tensors:
            shape = inputs[t.name].shape
            if shape != self._shapes[t.name]:
                self._check_profile(t, shape)
                if not self._io.set_input_shape(t, shape):
                    raise InputMismatchError(
                        f"TensorRT refused shape {shape} for input {t.name!r} of {self.name!r}"
                    )
                self._shapes[t.name] = shape
                self._out_shapes = None
        batch = inputs[self._in_tensors[0].name].shape[0] if self._in_tensors else 1
        if self._out_shapes is None:
            self._out_shapes = {t.name: self._io.output_shape(t, batch) for t in self._out_tensors}
        return batch

    def _check_profile(self, tensor: IOTensor, shape: Shape) -> None:
        lo, _, hi = tensor.profile
        if all(a <= s <= b for a, s, b in zip(lo, shape, hi)):
            return
        raise InputMismatchError(
            f"input {tensor.name!r} of {self.name!r} has shape {shape}, outside the engine's "
            f"optimisation profile (min {lo}, max {hi}); send shapes in range or rebuild "
            f"with edged build-engine --shape {tensor.name}:MIN,OPT,MAX"
        )

    # --- closing -----------------------------------------------------------------

    def _release(self) -> None:
        ctx, self._cuda_ctx = self._cuda_ctx, None
        pushed = False
        if ctx is not None:
            try:
                ctx.push()
                pushed = True
            except Exception:
                self.log.exception("cannot make the CUDA context current to release %r", self.name)
        try:
            if self._stream is not None and pushed:
                try:
                    self._stream.synchronize()
                except Exception:
                    self.log.exception("stream synchronise before release failed")
            # Execution context first, then engine, then runtime; the adapter holds
            # references to the first two, so it goes before them.
            self._io = None
            self._context = None
            self._engine = None
            self._runtime = None
            self._logger = None
            if self._pool is not None:
                pool, self._pool = self._pool, None
                pool.free()
            self._stream = None
        finally:
            if ctx is not None:
                if pushed:
                    _quietly(ctx.pop)
                _quietly(ctx.detach)

    @property
    def max_batch(self) -> Optional[int]:
        """The profile's largest batch: a plan built for batch 1 takes one frame a call."""
        tensors = getattr(self, "_in_tensors", None)
        if not tensors or not tensors[0].max_shape:
            return super().max_batch
        return int(tensors[0].max_shape[0])

    def _describe_backend(self) -> Dict[str, Any]:
        return {
            "tensorrt": str(getattr(self._trt, "__version__", "unknown")),
            "api": self._io.kind if self._io is not None else None,
            "gpu": self._gpu_name,
            "precision": self._precision,
            "plan": self.plan_path,
            "pooled_bytes": self._pool.nbytes if self._pool is not None else 0,
        }


def read_plan(path: str) -> bytes:
    """Read a serialised plan file, with an actionable error when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ModelLoadError(f"cannot read TensorRT plan {path}: {exc}") from exc
    if not data:
        raise PlanDeserializeError(
            f"TensorRT plan {path} is empty; rebuild it with edged build-engine MODEL.onnx"
        )
    return data


def _dims(shape: Shape) -> tuple:
    return tuple(None if d < 0 else d for d in shape)


def _order(tensors: List[IOTensor], names: Sequence[str], path: str) -> List[IOTensor]:
    """Order tensors as a torch2trt file lists them (its positional order)."""
    by_name = {t.name: t for t in tensors}
    if sorted(names) != sorted(by_name):
        raise ModelLoadError(
            f"{path} lists tensors {list(names)} but its engine has {sorted(by_name)}; "
            "the file is inconsistent, re-export it"
        )
    return [by_name[n] for n in names]


def _quietly(fn) -> None:
    try:
        fn()
    except Exception:  # releasing must go on; the context may already be gone
        log.debug("ignored error in %r", fn, exc_info=True)
