"""trt_pose-compatible pose models, rebuilt in plain ``torch.nn`` (no torchvision).

Importing this package does not import torch; :func:`build_model` does. The
modules ``resnet``, ``densenet``, ``head`` and ``halfio`` import torch at import time.
"""

from __future__ import annotations

from .registry import (
    ARCHITECTURES,
    DEFAULT_CMAP_CHANNELS,
    DEFAULT_PAF_CHANNELS,
    ArchSpec,
    arch_spec,
    build_model,
)
from .torchdep import TorchNotInstalledError, require_torch

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_CMAP_CHANNELS",
    "DEFAULT_PAF_CHANNELS",
    "ArchSpec",
    "TorchNotInstalledError",
    "arch_spec",
    "build_model",
    "require_torch",
]
