"""Inference engines: one interface, TensorRT on a Jetson, ONNX Runtime elsewhere.

Pipelines see ``Engine`` (``inputs``, ``outputs``, ``infer``, ``warmup``,
``close``, ``executor``, ``describe``) and never which backend runs it. Open
one with ``create_engine`` or, in the daemon, through ``ModelManager``.

Importing this package imports numpy and pydantic only; onnxruntime is
imported when an ONNX Runtime engine is opened, and tensorrt, pycuda and
torch only when a TensorRT engine (or a torch2trt file) is.
"""

from __future__ import annotations

from .base import Engine
from .errors import (
    BackendUnavailableError,
    EngineBuildError,
    EngineClosedError,
    EngineError,
    EngineNotReadyError,
    EngineUnavailableError,
    InferenceError,
    InputMismatchError,
    ModelLoadError,
    PlanDeserializeError,
)
from .factory import create_engine, select_backend
from .manager import ModelManager, ModelState
from .tensors import TensorSpec

__all__ = [
    "BackendUnavailableError",
    "Engine",
    "EngineBuildError",
    "EngineClosedError",
    "EngineError",
    "EngineNotReadyError",
    "EngineUnavailableError",
    "InferenceError",
    "InputMismatchError",
    "ModelLoadError",
    "ModelManager",
    "ModelState",
    "PlanDeserializeError",
    "TensorSpec",
    "create_engine",
    "select_backend",
]
