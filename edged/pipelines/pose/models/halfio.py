"""A float16 model behind float32 inputs and outputs.

Exporting this wrapper yields an ONNX file with half-size float16 weights whose
interface is unchanged (float32 ``input``, ``cmap``, ``paf``): the casts become
two ``Cast`` nodes at the graph's edges, so callers never see float16 arrays.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

__all__ = ["Float32IO"]


class Float32IO(nn.Module):
    """Casts the input to float16, runs ``model`` in float16, casts both outputs back."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.half()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        cmap, paf = self.model(x.half())
        return cmap.float(), paf.float()
