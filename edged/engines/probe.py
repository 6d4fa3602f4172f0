"""Find out what this machine can run: TensorRT, pycuda, a GPU, which L4T.

``tensorrt`` and ``pycuda`` are optional (JetPack ships them; a laptop has
neither), so they are imported here, lazily, and a failure becomes a
``BackendUnavailableError`` that says what to install. Nothing in this
module runs at import time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from .errors import BackendUnavailableError

__all__ = [
    "GpuInfo",
    "TensorRTStatus",
    "gpu_info",
    "import_pycuda",
    "import_tensorrt",
    "l4t_release",
    "probe_tensorrt",
]

NV_TEGRA_RELEASE = "/etc/nv_tegra_release"

_INSTALL_TRT = (
    "install TensorRT's Python bindings: on a Jetson they come with JetPack "
    "(sudo apt install python3-libnvinfer), elsewhere pip install tensorrt"
)
_INSTALL_PYCUDA = (
    "install pycuda (pip install pycuda; on a Jetson export PATH=/usr/local/cuda/bin:$PATH first)"
)


@dataclass(frozen=True)
class GpuInfo:
    """The CUDA device a plan is built for; part of the plan cache key."""

    name: str
    compute_capability: Tuple[int, int]

    @property
    def sm(self) -> str:
        major, minor = self.compute_capability
        return f"{major}.{minor}"


@dataclass(frozen=True)
class TensorRTStatus:
    """Whether the TensorRT backend can run here, and why (not)."""

    available: bool
    reason: str
    version: Optional[str] = None
    gpu: Optional[GpuInfo] = None


def import_tensorrt() -> Any:
    """Import ``tensorrt`` or raise ``BackendUnavailableError`` with install advice."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendUnavailableError(
            f"tensorrt is not importable ({exc}); {_INSTALL_TRT}"
        ) from None
    return tensorrt


def import_pycuda() -> Any:
    """Import ``pycuda.driver`` or raise ``BackendUnavailableError`` with install advice."""
    try:
        import pycuda.driver as cuda
    except ImportError as exc:
        raise BackendUnavailableError(
            f"pycuda is not importable ({exc}); {_INSTALL_PYCUDA}"
        ) from None
    return cuda


def gpu_info(cuda: Any, index: int = 0) -> GpuInfo:
    """Name and compute capability of CUDA device ``index`` (initialises the driver)."""
    cuda.init()
    device = cuda.Device(index)
    major, minor = device.compute_capability()
    return GpuInfo(str(device.name()), (int(major), int(minor)))


def probe_tensorrt(index: int = 0) -> TensorRTStatus:
    """Check tensorrt + pycuda import and a GPU is present; never raises."""
    try:
        trt = import_tensorrt()
        cuda = import_pycuda()
    except BackendUnavailableError as exc:
        return TensorRTStatus(False, str(exc))
    version = str(getattr(trt, "__version__", "unknown"))
    try:
        cuda.init()
        count = cuda.Device.count()
    except Exception as exc:
        return TensorRTStatus(False, f"CUDA driver not usable ({exc})", version)
    if count <= index:
        return TensorRTStatus(False, f"no CUDA GPU found (pycuda sees {count} device(s))", version)
    try:
        gpu = gpu_info(cuda, index)
    except Exception as exc:
        return TensorRTStatus(False, f"cannot query CUDA device {index} ({exc})", version)
    return TensorRTStatus(
        True, f"TensorRT {version} and GPU {gpu.name} (sm {gpu.sm}) found", version, gpu
    )


_L4T = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([0-9.]+)")


def l4t_release(path: str = NV_TEGRA_RELEASE) -> Optional[str]:
    """The Jetson L4T release (e.g. ``R35.4.1``) from ``/etc/nv_tegra_release``, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline()
    except OSError:
        return None
    match = _L4T.search(first)
    if not match:
        return first.strip() or None
    return "R{}.{}".format(*match.groups())
