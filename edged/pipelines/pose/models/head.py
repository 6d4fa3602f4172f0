"""trt_pose's attention head: upsample the trunk's features, then predict cmap and paf.

The module and attribute names (``cmap_up``, ``paf_att``, ``cmap_conv`` …) and
the layer order inside each upsampling stack are part of the checkpoint format:
they decide the state_dict keys (``1.cmap_up.0.weight`` …), so they must not change.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

__all__ = ["CmapPafHeadAttention", "upsample_stack"]


def upsample_stack(
    in_channels: int, out_channels: int, num_upsample: int, num_flat: int = 0
) -> nn.Sequential:
    """``num_upsample`` x [ConvTranspose(k4, s2, p1) → BN → ReLU], each doubling H and W.

    ``num_flat`` extra [Conv 3x3 → BN → ReLU] follow every upsampling step, at
    the same place trt_pose puts them, so checkpoints trained with them load too.
    """
    layers: List[nn.Module] = []
    channels = in_channels
    for _ in range(num_upsample):
        layers += [
            nn.ConvTranspose2d(channels, out_channels, kernel_size=4, stride=2, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        ]
        for _ in range(num_flat):
            layers += [
                nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            ]
        channels = out_channels
    return nn.Sequential(*layers)


class CmapPafHeadAttention(nn.Module):
    """Two parallel branches, each gated by a learned 3x3 attention map.

    The confidence-map branch gates with a sigmoid (0..1: where to look); the
    part-affinity branch with a tanh (-1..1), because PAFs are signed vectors.
    """

    def __init__(
        self,
        in_channels: int,
        cmap_channels: int,
        paf_channels: int,
        upsample_channels: int = 256,
        num_upsample: int = 3,
        num_flat: int = 0,
    ) -> None:
        super().__init__()
        if num_upsample < 1:
            raise ValueError(
                "num_upsample must be >= 1: the attention convs expect upsample_channels inputs"
            )
        self.cmap_up = upsample_stack(in_channels, upsample_channels, num_upsample, num_flat)
        self.paf_up = upsample_stack(in_channels, upsample_channels, num_upsample, num_flat)
        self.cmap_att = nn.Conv2d(upsample_channels, upsample_channels, kernel_size=3, padding=1)
        self.paf_att = nn.Conv2d(upsample_channels, upsample_channels, kernel_size=3, padding=1)
        self.cmap_conv = nn.Conv2d(upsample_channels, cmap_channels, kernel_size=1)
        self.paf_conv = nn.Conv2d(upsample_channels, paf_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        xc = self.cmap_up(x)
        xc = xc * torch.sigmoid(self.cmap_att(xc))
        xp = self.paf_up(x)
        xp = xp * torch.tanh(self.paf_att(xp))
        return self.cmap_conv(xc), self.paf_conv(xp)
