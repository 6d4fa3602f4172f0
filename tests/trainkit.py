"""What the trainer tests share: a tiny run's options and comparing checkpoints' weights."""

from __future__ import annotations

from typing import Any, Dict

#: a network and batch small enough to train a few steps in a second, a checkpoint each step
TINY = ["--width", "4", "--batch", "4", "--ckpt-every", "1", "--log-every", "1"]


def weights(path: Any) -> Dict[str, Any]:
    """The model's state dict in a trainer checkpoint."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def same(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    """Whether two state dicts hold bit-identical tensors."""
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
