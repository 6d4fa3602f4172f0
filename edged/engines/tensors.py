"""``TensorSpec``: what an engine expects or returns, independent of backend.

Dynamic dimensions are ``None`` (unknown) or a string (a symbolic name such as
``"batch"`` from an ONNX export); fixed ones are ints. ONNX Runtime and
TensorRT describe the same model in these terms, so a pipeline written
against one backend runs on the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["Dim", "TensorSpec", "format_shape"]

Dim = Union[int, str, None]


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and numpy dtype of one engine input or output."""

    name: str
    shape: Tuple[Dim, ...]
    dtype: np.dtype

    def __post_init__(self) -> None:
        # Normalise so comparisons on the hot path are dtype-to-dtype.
        object.__setattr__(self, "dtype", np.dtype(self.dtype))
        object.__setattr__(self, "shape", tuple(self.shape))

    @property
    def is_dynamic(self) -> bool:
        """True when at least one dimension is only known at call time."""
        return any(not isinstance(d, int) for d in self.shape)

    def concrete_shape(self, fill: int = 1, override: Optional[Sequence[int]] = None):
        """A shape usable for a call: ``override`` if given, else dynamic dims set to ``fill``."""
        if override is not None:
            return tuple(int(d) for d in override)
        return tuple(d if isinstance(d, int) else fill for d in self.shape)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-able form for ``describe()``."""
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype.name}


def format_shape(shape: Sequence[Dim]) -> str:
    """Render a spec shape for error messages: dynamic dims as their name or ``?``."""
    parts = [str(d) if d is not None else "?" for d in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def zeros_for(specs: Sequence[TensorSpec], shapes: Mapping[str, Sequence[int]]):
    """Zero-filled inputs for warmup, one per spec, shaped by ``shapes``."""
    return {s.name: np.zeros(tuple(shapes[s.name]), dtype=s.dtype) for s in specs}
