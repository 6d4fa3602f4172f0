"""Input checking on every ``infer`` call, cheap enough for the hot path.

A wrong tensor must become a clear ``InputMismatchError`` in Python, never a
segfault in TensorRT (which trusts the sizes it is given) or a silent cast in
ONNX Runtime. The checks are compiled once per engine into tuples of
``(name, dtype, rank, fixed dims)`` so a call costs a dict lookup, a dtype
comparison and a few int comparisons per input (about a microsecond).
The slow part, building a helpful message, only runs when a check fails.
"""

from __future__ import annotations

from typing import Mapping, Sequence, Tuple

import numpy as np

from .errors import InputMismatchError
from .tensors import TensorSpec, format_shape

__all__ = ["InputValidator"]


class InputValidator:
    """Checks a feed dict against an engine's input specs."""

    def __init__(self, model: str, specs: Sequence[TensorSpec]) -> None:
        self._model = model
        self._specs = {s.name: s for s in specs}
        self._checks: Tuple[Tuple[str, np.dtype, int, Tuple[Tuple[int, int], ...]], ...] = tuple(
            (
                s.name,
                s.dtype,
                len(s.shape),
                tuple((i, d) for i, d in enumerate(s.shape) if isinstance(d, int)),
            )
            for s in specs
        )

    def check(self, inputs: Mapping[str, object]) -> None:
        """Raise ``InputMismatchError`` unless ``inputs`` fits the specs exactly."""
        if len(inputs) != len(self._checks):
            self._fail_names(inputs)
        for name, dtype, rank, fixed in self._checks:
            try:
                array = inputs[name]
            except (KeyError, TypeError, IndexError):
                self._fail_names(inputs)
            if not isinstance(array, np.ndarray):
                self._fail_type(name, array)
            if array.dtype != dtype:
                self._fail_dtype(name, array)
            shape = array.shape
            if len(shape) != rank:
                self._fail_shape(name, shape)
            for index, size in fixed:
                if shape[index] != size:
                    self._fail_shape(name, shape)

    def _fail_names(self, inputs: Mapping[str, object]) -> None:
        if not isinstance(inputs, Mapping):
            raise InputMismatchError(
                f"model {self._model!r} takes a dict of input name -> numpy array, got "
                f"{type(inputs).__name__}"
            )
        expected = list(self._specs)
        got = list(inputs)
        missing = [n for n in expected if n not in inputs]
        unexpected = [n for n in got if n not in self._specs]
        raise InputMismatchError(
            f"model {self._model!r} expects inputs {expected}, got {got} "
            f"(missing: {missing or 'none'}; unexpected: {unexpected or 'none'}); "
            "name the feed dict keys after engine.inputs"
        )

    def _fail_type(self, name: str, value: object) -> None:
        raise InputMismatchError(
            f"model {self._model!r} input {name!r} must be a numpy.ndarray, got "
            f"{type(value).__name__}; convert it in preprocess (np.asarray(x, dtype=...))"
        )

    def _fail_dtype(self, name: str, array: np.ndarray) -> None:
        spec = self._specs[name]
        raise InputMismatchError(
            f"model {self._model!r} input {name!r} has dtype {array.dtype.name} "
            f"({array.dtype.str}), expected {spec.dtype.name} ({spec.dtype.str}); edged never "
            f"casts silently, convert it in preprocess (x.astype(np.{spec.dtype.name}))"
        )

    def _fail_shape(self, name: str, shape: Tuple[int, ...]) -> None:
        spec = self._specs[name]
        raise InputMismatchError(
            f"model {self._model!r} input {name!r} has shape {shape}, expected "
            f"{format_shape(spec.shape)} (dims shown as a name or ? may vary); "
            "resize or reshape it in preprocess"
        )
