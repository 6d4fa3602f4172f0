"""The gauge keypoint network (plain ``torch.nn``; PyTorch imported lazily, training/export only).

A small encoder-decoder: stride-2 convolutions down to 1/16 (with dilated
convolutions for a receptive field that covers a whole dial, which the
direction of the scale and the far scale end need), then nearest-neighbour
upsampling with skip connections back to 1/4 of the input. Output at 1/4:

* ``cmap`` (6 channels): Gaussian heatmaps of the 5 keypoints (``center``,
  ``tip``, ``start``, ``end``, ``quarter``) and a line heatmap of the dial
  face's rim (its ellipse gives the perspective correction);
* ``paf`` (8 channels): trt_pose-style part affinity fields for the links
  centre->tip, centre->start, centre->end, centre->quarter (unit vectors along
  the link). They tie the keypoints of one gauge together when several are in
  view, and the centre->tip field, averaged along the needle, refines its
  angle beyond the heatmap's resolution.

The network takes BGR pixels as float32 0..255 (NCHW) and normalises inside,
so the runtime feeds OpenCV frames as they are.
"""

from __future__ import annotations

from typing import Any, Tuple

__all__ = ["CMAP_CHANNELS", "LINKS", "PAF_CHANNELS", "STRIDE", "build_model", "count_flops"]

STRIDE = 4
#: links as (from keypoint index, to keypoint index) in synth.KEYPOINTS order
LINKS: Tuple[Tuple[int, int], ...] = ((0, 1), (0, 2), (0, 3), (0, 4))
CMAP_CHANNELS = 6  # 5 keypoints + rim
PAF_CHANNELS = 2 * len(LINKS)


def build_model(width: int = 32) -> Any:
    """A fresh GaugeNet; ``width`` scales every layer (32 -> ~0.5 GFLOPs at 128x128)."""
    import torch
    from torch import nn

    def cbr(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    w = width

    class GaugeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.width = w
            self.stem = nn.Sequential(cbr(3, w // 2, 2), cbr(w // 2, w // 2))  # 1/2
            self.down2 = nn.Sequential(cbr(w // 2, w, 2), cbr(w, w))  # 1/4
            self.down3 = nn.Sequential(cbr(w, 2 * w, 2), cbr(2 * w, 2 * w))  # 1/8
            self.down4 = nn.Sequential(
                cbr(2 * w, 3 * w, 2), cbr(3 * w, 3 * w, dilation=2), cbr(3 * w, 3 * w, dilation=4)
            )  # 1/16
            self.up3 = cbr(3 * w + 2 * w, 2 * w)
            self.up2 = nn.Sequential(cbr(2 * w + w, 2 * w), cbr(2 * w, 2 * w))
            self.head = nn.Conv2d(2 * w, CMAP_CHANNELS + PAF_CHANNELS, 1)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")

        def forward(self, x: Any) -> Tuple[Any, Any]:
            x = (x - 127.5) * (1.0 / 64.0)
            s2 = self.stem(x)
            s4 = self.down2(s2)
            s8 = self.down3(s4)
            s16 = self.down4(s8)
            u8 = self.up3(torch.cat([self.up(s16), s8], 1))
            u4 = self.up2(torch.cat([self.up(u8), s4], 1))
            out = self.head(u4)
            return out[:, :CMAP_CHANNELS], out[:, CMAP_CHANNELS:]

    return GaugeNet()


def count_flops(model: Any, size: int = 128) -> float:
    """Multiply-adds x 2 of one forward pass at ``size`` x ``size`` (convolutions only)."""
    import torch
    from torch import nn

    total = [0.0]

    def hook(mod: Any, inp: Any, out: Any) -> None:
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        total[0] += 2.0 * k * out.numel() / out.shape[0]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return total[0]
