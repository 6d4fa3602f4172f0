"""DenseNet-121 trunk and ``densenet121_baseline_att``, laid out like torchvision's DenseNet.

As with the ResNet trunk, the attribute names (``features.denseblock1.denselayer1.norm1``,
``features.transition1.conv``, ``classifier`` …) are the checkpoint format, so
they follow torchvision exactly even where a fresh design would name things differently.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import List, Tuple

import torch
from torch import nn

from .head import CmapPafHeadAttention
from .registry import DEFAULT_CMAP_CHANNELS, DEFAULT_PAF_CHANNELS

__all__ = ["DenseNet121", "DenseNetBackbone", "densenet121_baseline_att"]

GROWTH_RATE = 32
BN_SIZE = 4  # bottleneck width = BN_SIZE * GROWTH_RATE
BLOCK_CONFIG: Tuple[int, ...] = (6, 12, 24, 16)
NUM_INIT_FEATURES = 64
#: channels out of norm5, what the head sees
DENSENET121_FEATURE_CHANNELS = 1024


class DenseLayer(nn.Module):
    """BN → ReLU → 1x1 bottleneck → BN → ReLU → 3x3, producing ``GROWTH_RATE`` new channels."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        width = BN_SIZE * GROWTH_RATE
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, GROWTH_RATE, kernel_size=3, padding=1, bias=False)

    def forward(self, features: List[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(features, 1)
        x = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.ModuleDict):
    """Each layer sees the concatenation of the block input and all earlier layers' outputs."""

    def __init__(self, num_layers: int, in_channels: int) -> None:
        super().__init__()
        for i in range(num_layers):
            self[f"denselayer{i + 1}"] = DenseLayer(in_channels + i * GROWTH_RATE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


def _transition(in_channels: int, out_channels: int) -> nn.Sequential:
    """Between blocks: halve the channels (1x1 conv) and the resolution (2x2 average pool)."""
    return nn.Sequential(
        OrderedDict(
            [
                ("norm", nn.BatchNorm2d(in_channels)),
                ("relu", nn.ReLU(inplace=True)),
                ("conv", nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)),
                ("pool", nn.AvgPool2d(kernel_size=2, stride=2)),
            ]
        )
    )


def _features() -> nn.Sequential:
    """conv0 … denseblock4 → norm5; like torchvision, no ReLU after norm5."""
    layers: List[Tuple[str, nn.Module]] = [
        ("conv0", nn.Conv2d(3, NUM_INIT_FEATURES, 7, stride=2, padding=3, bias=False)),
        ("norm0", nn.BatchNorm2d(NUM_INIT_FEATURES)),
        ("relu0", nn.ReLU(inplace=True)),
        ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
    ]
    channels = NUM_INIT_FEATURES
    for i, num_layers in enumerate(BLOCK_CONFIG, start=1):
        layers.append((f"denseblock{i}", DenseBlock(num_layers, channels)))
        channels += num_layers * GROWTH_RATE
        if i < len(BLOCK_CONFIG):
            layers.append((f"transition{i}", _transition(channels, channels // 2)))
            channels //= 2
    layers.append(("norm5", nn.BatchNorm2d(channels)))
    assert channels == DENSENET121_FEATURE_CHANNELS
    return nn.Sequential(OrderedDict(layers))


class DenseNet121(nn.Module):
    """The ImageNet DenseNet-121's ``features`` and (unused) ``classifier``."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.features = _features()
        self.classifier = nn.Linear(DENSENET121_FEATURE_CHANNELS, num_classes)


class DenseNetBackbone(nn.Module):
    """The trunk's ``features`` (stride 32), as trt_pose uses it: BN output, no final ReLU."""

    def __init__(self, densenet: DenseNet121) -> None:
        super().__init__()
        self.densenet = densenet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.densenet.features(x)


def densenet121_baseline_att(
    cmap_channels: int = DEFAULT_CMAP_CHANNELS,
    paf_channels: int = DEFAULT_PAF_CHANNELS,
    upsample_channels: int = 256,
    num_upsample: int = 3,
    num_flat: int = 0,
) -> nn.Sequential:
    """trt_pose's ``densenet121_baseline_att``: keys ``0.densenet.*`` (trunk), ``1.*`` (head).

    Returns an untrained model in eval mode; outputs are at 1/4 of the input
    resolution with the default three upsampling steps.
    """
    head = CmapPafHeadAttention(
        DENSENET121_FEATURE_CHANNELS,
        cmap_channels,
        paf_channels,
        upsample_channels,
        num_upsample,
        num_flat,
    )
    return nn.Sequential(DenseNetBackbone(DenseNet121()), head).eval()
