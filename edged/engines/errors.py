"""Engine errors: one small hierarchy, each message says what to do next.

The daemon catches ``EngineError`` around model loading and inference, so a
bad model file or a wrong tensor never takes the process down; the subclasses
let the model manager tell a permanent problem (``ModelLoadError``: the file
will not load however often we retry) from a per-call one
(``InputMismatchError``: the pipeline sent the wrong tensor).
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "EngineBuildError",
    "EngineClosedError",
    "EngineError",
    "EngineNotReadyError",
    "EngineUnavailableError",
    "InferenceError",
    "InputMismatchError",
    "ModelLoadError",
    "PlanDeserializeError",
]


class EngineError(Exception):
    """Base of every error raised by ``edged.engines``."""


class ModelLoadError(EngineError):
    """A model file is missing, truncated, of the wrong kind, or will not load."""


class PlanDeserializeError(ModelLoadError):
    """TensorRT refused a plan (other TensorRT version, other GPU, or corrupt).

    Kept apart from ``ModelLoadError`` because the plan cache reacts to it by
    rebuilding the plan from its ONNX model instead of failing.
    """


class BackendUnavailableError(ModelLoadError):
    """The backend needed for a model (TensorRT, pycuda, torch) is not installed."""


class EngineBuildError(EngineError):
    """Building a TensorRT plan from an ONNX model failed."""


class InputMismatchError(EngineError, ValueError):
    """An ``infer`` call passed tensors whose names, shapes or dtypes do not fit."""


class InferenceError(EngineError):
    """The backend failed while running a call that passed validation."""


class EngineUnavailableError(InferenceError):
    """A remote engine (an inference server) cannot be reached or did not answer in time.

    Not the frame's fault and not the model's: the pipeline waits and retries with
    backoff, as for a camera that went away, instead of counting it as a crash.
    """


class EngineClosedError(EngineError):
    """``infer`` was called on an engine after ``close()``."""


class EngineNotReadyError(EngineError):
    """The model is still loading or building, or it failed; nothing serves it yet."""
