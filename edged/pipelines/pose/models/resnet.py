"""ResNet-18 trunk and ``resnet18_baseline_att``, laid out like torchvision's ResNet.

trt_pose wraps ``torchvision.models.resnet18`` whole, so its checkpoints carry
torchvision's attribute names, including the unused ``fc`` classifier. This
module rebuilds that layout in plain ``torch.nn`` (torchvision is not available
beside every torch build on a Jetson) so the official files load with strict=True.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .head import CmapPafHeadAttention
from .registry import DEFAULT_CMAP_CHANNELS, DEFAULT_PAF_CHANNELS

__all__ = ["BasicBlock", "ResNet18", "ResNetBackbone", "resnet18_baseline_att"]

#: channels out of layer4, what the head sees
RESNET18_FEATURE_CHANNELS = 512


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions plus a shortcut; stride and projection on the first block."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: Optional[nn.Sequential] = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def _stage(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        BasicBlock(in_channels, out_channels, stride), BasicBlock(out_channels, out_channels)
    )


class ResNet18(nn.Module):
    """The ImageNet ResNet-18, attribute for attribute; ``forward`` is not used here.

    ``avgpool`` and ``fc`` exist only so the checkpoint's ``fc.*`` keys have a home.
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = _stage(64, 64, 1)
        self.layer2 = _stage(64, 128, 2)
        self.layer3 = _stage(128, 256, 2)
        self.layer4 = _stage(256, RESNET18_FEATURE_CHANNELS, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(RESNET18_FEATURE_CHANNELS, num_classes)


class ResNetBackbone(nn.Module):
    """The trunk up to layer4 (stride 32), skipping the classifier."""

    def __init__(self, resnet: ResNet18) -> None:
        super().__init__()
        self.resnet = resnet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.resnet
        x = r.maxpool(r.relu(r.bn1(r.conv1(x))))
        return r.layer4(r.layer3(r.layer2(r.layer1(x))))


def resnet18_baseline_att(
    cmap_channels: int = DEFAULT_CMAP_CHANNELS,
    paf_channels: int = DEFAULT_PAF_CHANNELS,
    upsample_channels: int = 256,
    num_upsample: int = 3,
    num_flat: int = 0,
) -> nn.Sequential:
    """trt_pose's ``resnet18_baseline_att``: keys ``0.resnet.*`` (trunk), ``1.*`` (head).

    Returns an untrained model in eval mode; the forward pass maps a normalised
    [N, 3, H, W] image to (cmap [N, cmap_channels, H/4, W/4], paf [N, paf_channels, H/4, W/4])
    with the default three upsampling steps.
    """
    head = CmapPafHeadAttention(
        RESNET18_FEATURE_CHANNELS,
        cmap_channels,
        paf_channels,
        upsample_channels,
        num_upsample,
        num_flat,
    )
    return nn.Sequential(ResNetBackbone(ResNet18()), head).eval()
