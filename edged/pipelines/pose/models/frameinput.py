"""A pose model that takes the resized camera frame as it is: uint8 BGR, height x width x 3.

trt_pose's preprocessing (HWC -> CHW, BGR -> RGB, /255, ImageNet mean/std) is
written here as graph operations, so an exported file does it on the GPU under
TensorRT and the CPU only resizes. The arithmetic is the CPU path's, in the same
order and precision (float32 ``x * (1 / (255 * std)) - mean / std``), so the model
sees the same numbers either way. The input is 4x smaller to copy to the device.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import nn

__all__ = ["BgrUint8Input"]


class BgrUint8Input(nn.Module):
    """uint8 [N, H, W, 3] BGR -> float32 [N, 3, H, W] normalised RGB -> ``model``."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.model = model
        mean_t = torch.tensor(list(mean), dtype=torch.float32)
        std_t = torch.tensor(list(std), dtype=torch.float32)
        # float32 constants, computed in float32 as PosePreprocessor computes them
        scale = 1.0 / (255.0 * std_t)
        offset = mean_t / std_t
        self.register_buffer("scale", scale.reshape(1, 3, 1, 1))
        self.register_buffer("offset", offset.reshape(1, 3, 1, 1))
        self.register_buffer("rgb_from_bgr", torch.tensor([2, 1, 0], dtype=torch.long))

    def forward(self, frame: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = frame.float().permute(0, 3, 1, 2)  # cast first: TensorRT's uint8 support is I/O only
        x = torch.index_select(x, 1, self.rgb_from_bgr)
        return self.model(x * self.scale - self.offset)
