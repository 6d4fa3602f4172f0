"""INT8 calibration from a directory of sample batches (TensorRT 8.x-10.x).

The directory holds ``*.npy`` files (one batch each, for a single-input
model) or ``*.npz`` files (one array per input name), read in name order.
Each batch goes through a device buffer allocated once for the largest batch.
TensorRT's calibration cache is written next to the ONNX model so a rebuild
with the same data skips calibration.

The calibrator class subclasses ``trt.IInt8EntropyCalibrator2``, which only
exists once tensorrt is imported, so it is defined inside a function.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import numpy as np

from .cache import atomic_write
from .errors import EngineBuildError
from .probe import import_pycuda

__all__ = ["calibration_context", "load_batches"]

log = logging.getLogger(__name__)


def load_batches(directory: str, input_names: Sequence[str]) -> List[Dict[str, np.ndarray]]:
    """Read every calibration batch; refuse files that do not match the inputs."""
    root = Path(directory)
    if not root.is_dir():
        raise EngineBuildError(f"calibration directory {directory} does not exist")
    files = sorted(p for p in root.iterdir() if p.suffix in (".npy", ".npz"))
    if not files:
        raise EngineBuildError(
            f"calibration directory {directory} has no .npy/.npz batches; save a few hundred "
            "preprocessed frames there with numpy.save"
        )
    batches = []
    for path in files:
        if path.suffix == ".npy":
            if len(input_names) != 1:
                raise EngineBuildError(
                    f"{path}: .npy batches only work for single-input models; this one has "
                    f"inputs {list(input_names)}, use .npz files keyed by input name"
                )
            batches.append({input_names[0]: np.load(path)})
        else:
            with np.load(path) as npz:
                missing = [n for n in input_names if n not in npz]
                if missing:
                    raise EngineBuildError(f"{path} lacks arrays for inputs {missing}")
                batches.append({n: npz[n] for n in input_names})
    return batches


@contextlib.contextmanager
def calibration_context(
    trt: Any, directory: str, inputs: Sequence[Tuple[str, Tuple[int, ...]]], cache_file: str
) -> Iterator[Any]:
    """Yield a calibrator, with a CUDA context current and device buffers alive."""
    cuda = import_pycuda()
    names = [n for n, _ in inputs]
    batches = load_batches(directory, names)
    cuda.init()
    ctx = cuda.Device(0).retain_primary_context()
    ctx.push()
    buffers: Dict[str, Any] = {}
    try:
        for name in names:
            buffers[name] = cuda.mem_alloc(max(b[name].nbytes for b in batches))
        yield _make_calibrator(trt, cuda, batches, buffers, cache_file)
    finally:
        for buf in buffers.values():
            with contextlib.suppress(Exception):
                buf.free()
        ctx.pop()
        ctx.detach()


def _make_calibrator(
    trt: Any,
    cuda: Any,
    batches: List[Dict[str, np.ndarray]],
    buffers: Dict[str, Any],
    cache_file: str,
) -> Any:
    class Calibrator(trt.IInt8EntropyCalibrator2):
        """Feeds the batches to TensorRT one by one."""

        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._next = 0

        def get_batch_size(self) -> int:
            first = next(iter(batches[0].values()))
            return int(first.shape[0]) if first.ndim else 1

        def get_batch(self, names: Sequence[str], *args: Any) -> Any:
            if self._next >= len(batches):
                return None
            batch = batches[self._next]
            self._next += 1
            for name in names:
                cuda.memcpy_htod(buffers[name], np.ascontiguousarray(batch[name]))
            return [int(buffers[name]) for name in names]

        def read_calibration_cache(self) -> Any:
            if os.path.isfile(cache_file):
                log.info("using INT8 calibration cache %s", cache_file)
                with open(cache_file, "rb") as fh:
                    return fh.read()
            return None

        def write_calibration_cache(self, cache: Any) -> None:
            atomic_write(cache_file, bytes(cache))

    return Calibrator()
