"""Pick a backend for a model and open it: the one place ``backend: auto`` is resolved.

Rules (``select_backend``):

* ``.engine``/``.plan``/``.trt`` and torch2trt ``*_trt.pth`` files are
  TensorRT engines: they need TensorRT, whatever was asked, and a missing
  TensorRT is a clear error rather than a fallback (there is nothing to fall
  back to);
* ``.onnx`` runs on both: ``auto`` picks TensorRT when ``tensorrt`` and
  ``pycuda`` import and pycuda sees a GPU, else ONNX Runtime. With TensorRT
  the ONNX model is built into a plan and cached (``plans.ensure_plan``);
* ``triton`` is only ever asked for, never picked: the model runs on the server
  in ``engine.triton``, and the local file need not exist.

The choice and its reason are logged once and kept on the engine
(``engine.selection_reason``), so ``describe()`` tells an operator why a
device runs on the CPU.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Optional, Tuple, Union

from edged.config.engine import EngineConfig

from .base import Engine
from .build import BuildOptions
from .digest import model_sha256
from .errors import BackendUnavailableError, ModelLoadError, PlanDeserializeError
from .onnxruntime import OnnxRuntimeEngine
from .plans import cache_for, ensure_plan, invalidate
from .probe import TensorRTStatus, probe_tensorrt
from .torch2trt import is_torch2trt_path, load_torch2trt

__all__ = [
    "create_engine",
    "model_kind",
    "open_onnxruntime",
    "open_tensorrt_file",
    "open_triton",
    "select_backend",
    "tensorrt_from_onnx",
]

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
Probe = Callable[[], TensorRTStatus]

_PLAN_SUFFIXES = (".engine", ".plan", ".trt")


def model_kind(model_path: PathLike) -> str:
    """``onnx``, ``plan`` or ``torch2trt``, from the file name."""
    path = os.fspath(model_path)
    lower = path.lower()
    if lower.endswith(".onnx"):
        return "onnx"
    if lower.endswith(_PLAN_SUFFIXES):
        return "plan"
    if is_torch2trt_path(lower):
        return "torch2trt"
    raise ModelLoadError(
        f"cannot tell what kind of model {path} is; edged loads .onnx (ONNX Runtime or TensorRT), "
        ".engine/.plan (TensorRT) and torch2trt *_trt.pth files"
    )


def select_backend(
    model_path: PathLike, requested: str = "auto", *, probe: Probe = probe_tensorrt
) -> Tuple[str, str]:
    """Return ``(backend, reason)`` for ``model_path``; raise when it cannot run here."""
    if requested == "triton":
        return "triton", "backend: triton requested in config"
    kind = model_kind(model_path)
    path = os.fspath(model_path)
    if requested not in ("auto", "tensorrt", "onnxruntime"):
        raise ValueError(
            f"backend must be auto, tensorrt, onnxruntime or triton, got {requested!r}"
        )
    if requested == "onnxruntime":
        if kind != "onnx":
            raise ModelLoadError(
                f"{path} is a TensorRT engine; ONNX Runtime cannot run it. Point the pipeline at "
                "the .onnx model, or set backend: tensorrt"
            )
        return "onnxruntime", "backend: onnxruntime requested in config"
    status = probe()
    if requested == "tensorrt" or kind != "onnx":
        if not status.available:
            what = (
                "backend: tensorrt is requested"
                if kind == "onnx"
                else f"{path} is a TensorRT engine"
            )
            raise BackendUnavailableError(f"{what}, but {status.reason}")
        why = "requested in config" if requested == "tensorrt" else f"{kind} file needs it"
        return "tensorrt", f"{why}; {status.reason}"
    if status.available:
        return "tensorrt", f"auto: {status.reason}"
    return "onnxruntime", f"auto: TensorRT not usable here ({status.reason})"


def create_engine(
    model_path: PathLike,
    backend: Optional[str] = None,
    options: Optional[EngineConfig] = None,
    *,
    name: Optional[str] = None,
    probe: Probe = probe_tensorrt,
) -> Engine:
    """Open ``model_path`` on the chosen backend, building a TensorRT plan if needed.

    ``backend`` None means ``options.backend``. Blocking: a TensorRT build can
    take minutes, so the daemon goes through ``ModelManager``, which builds in
    the background; this function suits the CLI and offline inference. The
    engine is not warmed up.
    """
    options = options or EngineConfig()
    chosen, reason = select_backend(model_path, backend or options.backend, probe=probe)
    log.info("model %s: backend %s (%s)", os.fspath(model_path), chosen, reason)
    if chosen == "triton":
        engine: Engine = open_triton(model_path, options, name=name)
        engine.selection_reason = reason
        return engine
    sha = model_sha256(model_path)
    if chosen == "onnxruntime":
        engine = open_onnxruntime(model_path, options, name=name, sha256=sha)
    elif model_kind(model_path) == "onnx":
        engine = tensorrt_from_onnx(model_path, options, name=name, sha256=sha)  # type: ignore[assignment]
    else:
        engine = open_tensorrt_file(model_path, name=name, sha256=sha)
    engine.selection_reason = reason
    return engine


def open_onnxruntime(
    model_path: PathLike,
    options: EngineConfig,
    *,
    name: Optional[str] = None,
    sha256: Optional[str] = None,
) -> OnnxRuntimeEngine:
    """An ONNX Runtime engine configured from ``options``."""
    return OnnxRuntimeEngine(
        model_path,
        name=name,
        sha256=sha256,
        providers=options.providers,
        intra_op_threads=options.intra_op_threads,
        inter_op_threads=options.inter_op_threads,
        allow_spinning=options.allow_spinning,
    )


def open_triton(
    model_path: PathLike,
    options: EngineConfig,
    *,
    name: Optional[str] = None,
    sha256: Optional[str] = None,
) -> Engine:
    """The model on the inference server in ``options.triton`` (KServe v2)."""
    from .triton import TritonEngine

    triton = options.triton
    if triton is None:
        raise ValueError("backend: triton needs a `triton:` section with at least url")
    if triton.fallback == "none":
        return TritonEngine(model_path, triton, name=name, sha256=sha256)
    from .fallback import FallbackEngine

    if not os.path.isfile(model_path):
        raise ModelLoadError(
            f"triton.fallback: {triton.fallback} runs {os.fspath(model_path)} here while the "
            "server is away, and there is no such file; copy the model to the device or set "
            "fallback: none"
        )
    local = open_onnxruntime(model_path, options, name=name, sha256=model_sha256(model_path))
    try:
        return FallbackEngine(
            model_path,
            lambda: TritonEngine(model_path, triton, name=name, sha256=local.sha256),
            local,
            name=name,
        )
    except BaseException:
        local.close()
        raise


def open_tensorrt_file(
    model_path: PathLike, *, name: Optional[str] = None, sha256: Optional[str] = None
) -> Engine:
    """A TensorRT engine from a plan file or a torch2trt file."""
    from .tensorrt import TensorRTEngine

    path = os.fspath(model_path)
    if model_kind(path) == "torch2trt":
        saved = load_torch2trt(path)
        return TensorRTEngine(
            path,
            name=name,
            sha256=sha256,
            plan=saved.plan,
            io_names=(saved.input_names, saved.output_names),
        )
    return TensorRTEngine(path, name=name, sha256=sha256)


def tensorrt_from_onnx(
    model_path: PathLike,
    options: EngineConfig,
    *,
    name: Optional[str] = None,
    sha256: Optional[str] = None,
    lookup_only: bool = False,
) -> Optional[Engine]:
    """A TensorRT engine for an ONNX model, from the plan cache or a fresh build.

    A cached plan TensorRT refuses (damaged, or left by another TensorRT) is
    removed with a warning and rebuilt once. With ``lookup_only`` nothing is
    built: None means "no usable cached plan".
    """
    from .tensorrt import TensorRTEngine

    build = BuildOptions.from_config(options)
    cache = cache_for(options.cache_dir)
    result = ensure_plan(model_path, build, cache=cache, sha256=sha256, lookup_only=lookup_only)
    if result is None:
        return None
    precision = "int8" if build.int8 else "fp16" if build.fp16 else "fp32"
    for attempt in (1, 2):
        try:
            return TensorRTEngine(
                model_path,
                name=name,
                sha256=sha256,
                plan=result.plan,
                precision=precision,
                plan_path=str(result.path),
            )
        except PlanDeserializeError as exc:
            if result.built or attempt == 2:
                raise
            invalidate(result, model_path, cache, f"refused by TensorRT ({exc})")
            if lookup_only:
                return None
            result = ensure_plan(model_path, build, cache=cache, sha256=sha256, rebuild=True)
    raise AssertionError("unreachable")  # pragma: no cover
