"""Training targets from labels: keypoint/rim heatmaps and part affinity fields (numpy)."""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from edged.cvutil import import_cv2
from edged.pipelines.gauge.model import CMAP_CHANNELS, LINKS, PAF_CHANNELS, STRIDE
from edged.pipelines.gauge.synth import KEYPOINTS, GaugeLabel

__all__ = ["make_targets"]

SIGMA = 1.0  # keypoint Gaussian, output pixels
PAF_HALF_WIDTH = 1.0  # output pixels either side of a link


def make_targets(
    labels: Sequence[GaugeLabel], size: int, stride: int = STRIDE
) -> Tuple[np.ndarray, np.ndarray]:
    """``(cmap, paf)`` float32 arrays of shape (6, H, W) and (8, H, W), H = W = size // stride."""
    cv2 = import_cv2()
    hw = size // stride
    cmap = np.zeros((CMAP_CHANNELS, hw, hw), np.float32)
    paf = np.zeros((PAF_CHANNELS, hw, hw), np.float32)
    count = np.zeros((len(LINKS), hw, hw), np.float32)
    # pixel centres in input coordinates map to (i + 0.5) * stride
    grid = (np.arange(hw, dtype=np.float32) + 0.5) * stride
    gx = grid[None, :] / stride
    gy = grid[:, None] / stride
    for label in labels:
        pts: List[Tuple[float, float, int]] = []
        for k, name in enumerate(KEYPOINTS):
            x, y, v = label.keypoints[name]
            u, w = x / stride, y / stride
            pts.append((u, w, v))
            if not v:
                continue
            g = np.exp(-((gx - u) ** 2 + (gy - w) ** 2) / (2 * SIGMA * SIGMA))
            np.maximum(cmap[k], g, out=cmap[k])
        if label.rim:  # panel meters have none
            ring = np.zeros((hw, hw), np.float32)
            poly = np.array([[x / stride - 0.5, y / stride - 0.5] for x, y in label.rim])
            cv2.polylines(
                ring, [np.round(poly * 16).astype(np.int32)], True, 1.0, 1, cv2.LINE_AA, 4
            )
            np.maximum(cmap[5], ring, out=cmap[5])
        cu, cw, cv = pts[0]
        if not cv:
            continue
        for li, (_a, b) in enumerate(LINKS):
            bu, bw, bv = pts[b]
            if not bv:
                continue
            dx, dy = bu - cu, bw - cw
            length = float(np.hypot(dx, dy))
            if length < 1e-3:
                continue
            ux, uy = dx / length, dy / length
            rx, ry = gx - cu, gy - cw
            along = rx * ux + ry * uy
            across = np.abs(rx * uy - ry * ux)
            m = (
                (along >= -PAF_HALF_WIDTH)
                & (along <= length + PAF_HALF_WIDTH)
                & (across <= PAF_HALF_WIDTH)
            )
            paf[2 * li][m] += ux
            paf[2 * li + 1][m] += uy
            count[li][m] += 1
    for li in range(len(LINKS)):
        c = np.maximum(count[li], 1)
        paf[2 * li] /= c
        paf[2 * li + 1] /= c
    if cmap[5].max() > 0:
        ring = cv2.GaussianBlur(cmap[5], (0, 0), 0.6)
        cmap[5] = ring / float(ring.max())
    return cmap, paf
