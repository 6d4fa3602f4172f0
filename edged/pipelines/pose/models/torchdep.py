"""Lazy import of PyTorch, the optional ``[export]`` dependency.

The daemon runs exported ONNX/TensorRT models and never needs torch, so torch is
imported only when a function that builds a model or reads a checkpoint is called.
A missing torch then ends in one clear message instead of a bare ``ImportError``.
"""

from __future__ import annotations

from types import ModuleType

__all__ = ["TorchNotInstalledError", "require_torch"]

INSTALL_HINT = (
    "pip install 'edged[export]' (or: pip install torch; on a Jetson, use the "
    "PyTorch wheel NVIDIA publishes for your JetPack release)"
)


class TorchNotInstalledError(ImportError):
    """PyTorch is needed for this command but is not installed."""


def require_torch(purpose: str = "this command") -> ModuleType:
    """Import and return ``torch``, or explain how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise TorchNotInstalledError(
            f"PyTorch is needed for {purpose} but is not installed: {INSTALL_HINT}"
        ) from exc
    return torch
