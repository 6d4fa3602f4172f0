"""Adapters over TensorRT's two I/O API generations, chosen by capability.

* Bindings API (TensorRT 7.x-8.x; the only one in JetPack 4.6's TRT 8.2):
  tensors are numbered bindings, ``set_binding_shape`` + ``execute_async_v2``,
  or ``execute_async(batch, ...)`` for engines built with an implicit batch
  dimension (old torch2trt files, as used by trt_pose's live demo).
* Tensor API (TensorRT >= 8.5, the only one in 10.x/11.x): tensors are named,
  ``set_input_shape`` + ``set_tensor_address`` + ``execute_async_v3``.

``io_for`` picks with ``hasattr``, never by parsing a version string: 8.5 and
8.6 have both APIs, and JetPack ships builds whose version strings vary.
Both adapters expose the same small interface, so the engine is written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import ModelLoadError

__all__ = ["BindingIO", "IOTensor", "TensorIO", "io_for"]

Shape = Tuple[int, ...]


@dataclass
class IOTensor:
    """One engine input or output as the adapters see it."""

    name: str
    is_input: bool
    shape: Shape  # engine shape; -1 marks a dynamic dimension
    dtype: np.dtype
    index: int  # binding index (bindings API) or tensor position
    profile: Optional[Tuple[Shape, Shape, Shape]] = None  # inputs: (min, opt, max)

    @property
    def max_shape(self) -> Shape:
        return self.profile[2] if self.profile else self.shape


def io_for(trt: Any, engine: Any, context: Any) -> Union[TensorIO, BindingIO]:
    """The adapter for this engine's API generation."""
    if getattr(engine, "has_implicit_batch_dimension", False):
        return BindingIO(trt, engine, context)  # v3 cannot run implicit-batch engines
    if hasattr(engine, "num_io_tensors") and hasattr(context, "execute_async_v3"):
        return TensorIO(trt, engine, context)
    if hasattr(engine, "num_bindings"):
        return BindingIO(trt, engine, context)
    raise ModelLoadError(
        "this tensorrt module has neither the tensor API (num_io_tensors) nor the bindings "
        "API (num_bindings); install a TensorRT release from 8.0 on"
    )


def _nptype(trt: Any, name: str, trt_dtype: Any) -> np.dtype:
    try:
        return np.dtype(trt.nptype(trt_dtype))
    except (TypeError, KeyError) as exc:
        raise ModelLoadError(
            f"tensor {name!r} has TensorRT type {trt_dtype}, which numpy cannot hold; "
            "rebuild the engine with float32/float16/int32 I/O"
        ) from exc


def _shape(dims: Any) -> Shape:
    return tuple(int(d) for d in dims)


class TensorIO:
    """Named-tensor API: TensorRT >= 8.5."""

    kind = "tensor"

    def __init__(self, trt: Any, engine: Any, context: Any) -> None:
        self._trt, self._engine, self._context = trt, engine, context

    def tensors(self) -> List[IOTensor]:
        engine, trt = self._engine, self._trt
        found = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            shape = _shape(engine.get_tensor_shape(name))
            tensor = IOTensor(
                name, is_input, shape, _nptype(trt, name, engine.get_tensor_dtype(name)), i
            )
            if is_input:
                tensor.profile = self._profile(name, shape)
            found.append(tensor)
        return found

    def _profile(self, name: str, shape: Shape) -> Tuple[Shape, Shape, Shape]:
        if -1 not in shape:
            return (shape, shape, shape)
        engine = self._engine
        if hasattr(engine, "get_tensor_profile_shape"):
            lo, opt, hi = engine.get_tensor_profile_shape(name, 0)
        else:  # 8.5/8.6 spelling, which accepts a tensor name
            lo, opt, hi = engine.get_profile_shape(0, name)
        return (_shape(lo), _shape(opt), _shape(hi))

    def set_input_shape(self, tensor: IOTensor, shape: Sequence[int]) -> bool:
        return bool(self._context.set_input_shape(tensor.name, tuple(shape)))

    def output_shape(self, tensor: IOTensor, batch: int) -> Shape:
        return _shape(self._context.get_tensor_shape(tensor.name))

    def bind(self, tensor: IOTensor, address: int) -> None:
        # Pooled buffers never move, so addresses are set once, at load.
        if not self._context.set_tensor_address(tensor.name, address):
            raise ModelLoadError(f"TensorRT refused the buffer address for tensor {tensor.name!r}")

    def execute(self, stream_handle: int, batch: int) -> bool:
        return bool(self._context.execute_async_v3(stream_handle))


class BindingIO:
    """Numbered-binding API: TensorRT 7.x/8.x (JetPack 4.6 has only this)."""

    kind = "bindings"

    def __init__(self, trt: Any, engine: Any, context: Any) -> None:
        self._trt, self._engine, self._context = trt, engine, context
        self.implicit_batch = bool(getattr(engine, "has_implicit_batch_dimension", False))
        if self.implicit_batch:
            self.kind = "bindings-implicit-batch"
        profiles = max(1, int(getattr(engine, "num_optimization_profiles", 1)))
        # With several profiles, bindings repeat per profile; edged uses profile 0.
        self._per_profile = engine.num_bindings // profiles
        self._addresses = [0] * engine.num_bindings

    def tensors(self) -> List[IOTensor]:
        engine, trt = self._engine, self._trt
        found = []
        for i in range(self._per_profile):
            name = engine.get_binding_name(i)
            is_input = bool(engine.binding_is_input(i))
            shape = _shape(engine.get_binding_shape(i))
            dtype = _nptype(trt, name, engine.get_binding_dtype(i))
            if self.implicit_batch:
                shape = (-1, *shape)
            tensor = IOTensor(name, is_input, shape, dtype, i)
            if is_input:
                tensor.profile = self._profile(i, shape)
            found.append(tensor)
        return found

    def _profile(self, index: int, shape: Shape) -> Tuple[Shape, Shape, Shape]:
        if self.implicit_batch:
            top = int(self._engine.max_batch_size)
            rest = shape[1:]
            return ((1, *rest), (top, *rest), (top, *rest))
        if -1 not in shape:
            return (shape, shape, shape)
        lo, opt, hi = self._engine.get_profile_shape(0, index)
        return (_shape(lo), _shape(opt), _shape(hi))

    def set_input_shape(self, tensor: IOTensor, shape: Sequence[int]) -> bool:
        if self.implicit_batch:
            return True  # the batch size goes to execute_async instead
        return bool(self._context.set_binding_shape(tensor.index, tuple(shape)))

    def output_shape(self, tensor: IOTensor, batch: int) -> Shape:
        if self.implicit_batch:
            return (batch, *tensor.shape[1:])
        return _shape(self._context.get_binding_shape(tensor.index))

    def bind(self, tensor: IOTensor, address: int) -> None:
        self._addresses[tensor.index] = address

    def execute(self, stream_handle: int, batch: int) -> bool:
        if self.implicit_batch:
            return bool(self._context.execute_async(batch, self._addresses, stream_handle))
        return bool(self._context.execute_async_v2(self._addresses, stream_handle))
