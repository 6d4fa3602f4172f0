"""The display network: a crop of a seven-segment display in, per-column character scores out.

A small CRNN without the recurrent part: convolutions turn a grey crop, resized
to ``HEIGHT`` px and padded (or squeezed) to ``WIDTH`` px, into ``WIDTH / 4``
columns, and 1-D convolutions across the columns score each column as one of
``ALPHABET`` or the CTC blank (class 0). Plain convolutions, pooling and batch
norms only, which TensorRT supports. The network takes grey float32
0..255 (N, 1, HEIGHT, WIDTH) and normalises each crop's contrast inside (a dim
LED and a bright LCD look alike to it). PyTorch is imported lazily (training
and export only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edged.cvutil import import_cv2
from edged.pipelines.display.render import ALPHABET

__all__ = ["CLASSES", "HEIGHT", "STEPS", "WIDTH", "build_display_model", "model_input"]

HEIGHT = 32
WIDTH = 160
STEPS = WIDTH // 4  # output columns
CLASSES = len(ALPHABET) + 1  # blank first


def model_input(crop: np.ndarray) -> np.ndarray:
    """A crop (H,W BGR, grey or BGRA) as the network sees it: 1,HEIGHT,WIDTH float32 grey
    0..255, resized to ``HEIGHT`` px tall keeping its shape and padded on the right with its
    edge (a wider crop is squeezed to ``WIDTH``). Training and reading both go through here."""
    cv2 = import_cv2()
    if crop.ndim == 3 and crop.shape[2] == 1:
        crop = crop[:, :, 0]
    if crop.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if crop.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        crop = cv2.cvtColor(crop, code)
    h, w = crop.shape[:2]
    new_w = max(1, min(WIDTH, int(round(w * HEIGHT / max(1, h)))))
    interp = cv2.INTER_AREA if h > HEIGHT else cv2.INTER_LINEAR
    small = cv2.resize(crop, (new_w, HEIGHT), interpolation=interp)
    if new_w < WIDTH:
        small = cv2.copyMakeBorder(small, 0, 0, 0, WIDTH - new_w, cv2.BORDER_REPLICATE)
    return small[None].astype(np.float32)


def build_display_model(width: int = 32) -> Any:
    """A fresh DisplayNet (0.31 M parameters, 41 M multiply-adds per crop with ``width`` 32)."""
    from torch import nn

    def cbr(cin: int, cout: int, k: Any = 3, pad: Any = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, k, 1, padding=pad, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    w = width

    class DisplayNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.width = w
            self.features = nn.Sequential(
                cbr(1, w // 2),
                nn.MaxPool2d(2),  # 16 x 80
                cbr(w // 2, w),
                nn.MaxPool2d(2),  # 8 x 40
                cbr(w, 2 * w),
                cbr(2 * w, 2 * w),
                nn.MaxPool2d((2, 1)),  # 4 x 40
                cbr(2 * w, 3 * w),
                nn.MaxPool2d((2, 1)),  # 2 x 40
                cbr(3 * w, 4 * w, (2, 1), 0),  # 1 x 40
                cbr(4 * w, 4 * w, (1, 5), (0, 2)),
                cbr(4 * w, 4 * w, (1, 5), (0, 2)),
            )
            self.head = nn.Conv2d(4 * w, CLASSES, 1)

        def forward(self, x: Any) -> Any:
            mean = x.mean(dim=(2, 3), keepdim=True)
            std = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True).sqrt()
            x = (x - mean) / (std + 4.0)
            y = self.head(self.features(x))  # N, C, 1, T
            return y[:, :, 0, :].permute(0, 2, 1)  # N, T, C logits

    return DisplayNet()


def count_params(model: Any) -> int:
    return sum(int(p.numel()) for p in model.parameters())
