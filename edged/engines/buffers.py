"""The buffer pool: pinned host + device memory per I/O tensor, allocated once.

Allocating page-locked memory and device memory costs milliseconds and
fragments the Jetson's shared RAM, so each tensor gets one pair of buffers,
sized for the largest shape its optimisation profile allows, at load time.
Every call then works in views of the front of those buffers: a batch of 2
on an engine built for 8 uses the first quarter.

Pinned (page-locked) host memory is what makes ``memcpy_htod_async`` truly
asynchronous; from pageable memory the driver would stage the copy and block.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, Mapping, Sequence, Tuple

import numpy as np

from .errors import InputMismatchError

__all__ = ["BufferPool", "PooledBuffer"]

log = logging.getLogger(__name__)


class PooledBuffer:
    """One tensor's pinned host buffer and device buffer, both of ``capacity`` elements."""

    __slots__ = ("capacity", "device", "dtype", "host", "max_shape", "name")

    def __init__(
        self, name: str, host: np.ndarray, device: Any, max_shape: Tuple[int, ...]
    ) -> None:
        self.name = name
        self.host = host
        self.device = device
        self.dtype = host.dtype
        self.capacity = int(host.size)
        self.max_shape = max_shape

    @property
    def nbytes(self) -> int:
        return self.capacity * self.dtype.itemsize

    def view(self, shape: Sequence[int]) -> np.ndarray:
        """A C-contiguous view of the first ``prod(shape)`` elements, shaped ``shape``.

        Refuses shapes that do not fit, so no call can ever write past the
        end of a pinned or device buffer.
        """
        count = 1
        for dim in shape:
            count *= dim
        if count > self.capacity:
            raise InputMismatchError(
                f"tensor {self.name!r} with shape {tuple(shape)} needs {count} elements but its "
                f"buffer holds {self.capacity} (sized for {self.max_shape}); send a smaller batch "
                "or rebuild the engine with a larger profile"
            )
        return self.host[:count].reshape(shape)


class BufferPool:
    """All of one engine's ``PooledBuffer``s; ``free()`` releases them exactly once."""

    def __init__(self, cuda: Any, tensors: Mapping[str, Tuple[Tuple[int, ...], np.dtype]]) -> None:
        self._cuda = cuda
        self._buffers: Dict[str, PooledBuffer] = {}
        try:
            for name, (shape, dtype) in tensors.items():
                self._buffers[name] = self._allocate(name, tuple(shape), np.dtype(dtype))
        except BaseException:
            self.free()
            raise

    def _allocate(self, name: str, shape: Tuple[int, ...], dtype: np.dtype) -> PooledBuffer:
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        host = self._cuda.pagelocked_empty((max(count, 1),), dtype)
        try:
            device = self._cuda.mem_alloc(max(count, 1) * dtype.itemsize)
        except BaseException:
            _free_host(host)
            raise
        log.debug("pooled %r: %s %s, %d bytes", name, shape, dtype, host.nbytes)
        return PooledBuffer(name, host, device, shape)

    def __getitem__(self, name: str) -> PooledBuffer:
        return self._buffers[name]

    def __iter__(self) -> Iterator[PooledBuffer]:
        return iter(self._buffers.values())

    def __len__(self) -> int:
        return len(self._buffers)

    @property
    def nbytes(self) -> int:
        """Bytes of device memory held (the same again is pinned on the host)."""
        return sum(b.nbytes for b in self._buffers.values())

    def free(self) -> None:
        """Free every buffer; later calls do nothing. Needs the CUDA context current."""
        buffers, self._buffers = self._buffers, {}
        for buf in buffers.values():
            try:
                buf.device.free()
            except Exception:
                log.exception("freeing device buffer of %r failed", buf.name)
            _free_host(buf.host)


def _free_host(host: np.ndarray) -> None:
    """Free pycuda pinned memory now instead of whenever the GC gets to it."""
    allocation = host.base
    free = getattr(allocation, "free", None)
    if free is not None:
        try:
            free()
        except Exception:
            log.exception("freeing a pinned host buffer failed")
