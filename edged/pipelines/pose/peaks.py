"""Confidence-map peaks: find local maxima, then refine them to sub-pixel positions.

Both stages reproduce trt_pose's C++ (``find_peaks.cpp``, ``refine_peaks.cpp``) bit for bit,
because the PAF scores and hence the grouping downstream depend on the exact refined positions:

- a pixel is a peak when it is at least ``threshold`` and no pixel in the ``window`` square
  around it (clipped at the map border) is larger, so a plateau yields several peaks;
- peaks are taken per channel in raster order, at most ``max_count`` of them;
- refinement is the cmap-weighted mean position over the window, where out-of-map window cells
  read their weight from the reflected cell but keep their own (unreflected) position, and all
  sums run sequentially in float32 in the C++ loop order.

Frame-level helpers work on a *flat peak list* (all channels, channel-major then raster order),
which is what the later stages consume; the public functions wrap them in trt_pose's padded
``[N, C, M, 2]`` layout.
"""

from __future__ import annotations

import threading
from typing import Tuple

import numpy as np

from edged.pipelines.pose.exact import sequential_sum

__all__ = ["find_peaks", "refine_peaks"]

_F32 = np.float32
_LOWEST = np.finfo(np.float32).min


class _Scratch:
    """Reusable buffers for :func:`frame_peaks` on maps of one shape and window.

    The padded copy of the maps and the window-maximum intermediates are each a few hundred
    KiB. Fresh arrays that size come from ``mmap`` and page-fault on first touch on every call,
    which made peak finding several times slower than the arithmetic itself; keeping one set
    per thread (parsing runs in executor threads) and reusing it avoids that, and the
    ``-inf`` padding only has to be written once.
    """

    def __init__(self, shape: Tuple[int, int, int], radius: int) -> None:
        c, h, w = shape
        self.key = (shape, radius)
        self.row_stride = w + radius
        self.channel_stride = (h + 2 * radius) * self.row_stride
        size = c * self.channel_stride + radius
        self.padded = np.full(size, -np.inf, dtype=_F32)
        self.interior = self.padded[: c * self.channel_stride].reshape(c, h + 2 * radius, -1)[
            :, radius : radius + h, radius:
        ]
        self.work = (np.empty(size, dtype=_F32), np.empty(size, dtype=_F32))


_local = threading.local()


def _scratch(shape: Tuple[int, int, int], radius: int) -> _Scratch:
    """This thread's :class:`_Scratch` for ``shape`` (rebuilt when the shape changes)."""
    scratch = getattr(_local, "scratch", None)
    if scratch is None or scratch.key != (shape, radius):
        scratch = _local.scratch = _Scratch(shape, radius)
    return scratch


def _forward_max(
    flat: np.ndarray, length: int, stride: int, work: Tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """``out[p] = max(flat[p], flat[p + stride], ..., flat[p + (length - 1) * stride])``.

    Doubles the covered span each step (windows of 2, 4, 8, ... cells, then one overlapping
    step for the rest), so a window of 5 costs 3 contiguous ``np.maximum`` calls, not 4, and
    11 costs 4, not 10. Results alternate between the two ``work`` buffers, starting with the
    one that does not hold ``flat``; the returned view is shorter than ``flat`` by
    ``(length - 1) * stride``.
    """
    shifts = []
    span = 1
    while 2 * span <= length:
        shifts.append(span * stride)
        span *= 2
    if span < length:
        shifts.append((length - span) * stride)
    first = 1 if flat.base is work[0] else 0
    out = flat
    for step, shift in enumerate(shifts):
        size = out.size - shift
        out = np.maximum(out[:-shift], out[shift:], out=work[(first + step) % 2][:size])
    return out


def frame_peaks(
    cmap: np.ndarray, threshold: float, window: int, max_count: int
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Peaks of one frame's ``[C, H, W]`` confidence maps as a flat list.

    Returns ``(counts int32 [C], part [P], row [P], col [P])`` (intp), ordered by part then
    raster position, keeping the first ``max_count`` per part as trt_pose's scan does.

    The window maximum is separable; to run it as a few long contiguous ``np.maximum`` calls
    (strided 2-D slices cost a loop per row), the maps are copied into a flat buffer with rows
    ``W + r`` wide and ``r`` rows above and below each channel, padding being ``-inf``
    (``r = window // 2``; plus ``r`` cells at the very end for the last row's right
    neighbours), so that a shift never mixes two rows or two channels.
    """
    cmap = np.asarray(cmap, dtype=_F32)
    c, h, w = cmap.shape
    r = window // 2
    scratch = _scratch((c, h, w), r)
    scratch.interior[...] = cmap
    flat = scratch.padded
    # a threshold of -inf would make the padding peaks: the lowest float is equivalent here
    cand = (flat >= max(_F32(threshold), _LOWEST)).nonzero()[0]
    if r and cand.size:
        wp = scratch.row_stride
        # window starting r cells to the left, then r rows up (the work buffers alternate)
        across = _forward_max(flat, 2 * r + 1, 1, scratch.work)
        square = _forward_max(across, 2 * r + 1, wp, scratch.work)
        cand = cand[flat[cand] == square[cand - r * wp - r]]
    part, rest = np.divmod(cand, scratch.channel_stride)
    row, col = np.divmod(rest, scratch.row_stride)
    row -= r
    col -= r
    counts = np.bincount(part, minlength=c)
    if cand.size and counts.max() > max_count:
        keep = _slots(counts, part) < max_count
        part, row, col = part[keep], row[keep], col[keep]
        counts = np.minimum(counts, max_count)
    return counts.astype(np.int32), part, row, col


def _reflect(idx: np.ndarray, size: int) -> np.ndarray:
    """trt_pose's border reflection (``-i`` below 0, ``2 * size - i - 2`` past the end).

    The final clip only matters for windows wider than the map, where the C++ would read
    outside the channel; here they read the edge instead.
    """
    idx = np.abs(idx)
    idx = np.where(idx >= size, 2 * size - 2 - idx, idx)
    return np.clip(idx, 0, size - 1)


def frame_refine(
    cmap: np.ndarray, part: np.ndarray, row: np.ndarray, col: np.ndarray, window: int
) -> np.ndarray:
    """Refined ``(y, x)`` positions in [0, 1] of a flat peak list, float32 ``[P, 2]``.

    Gathers every peak's window at once as ``[window, window, P]`` weights (row offset outer,
    column offset inner: the C++ loop order) with one ``take``, then sums the weights and the
    weighted positions sequentially in float32, as the C++ does.
    """
    cmap = np.asarray(cmap, dtype=_F32)
    _, h, w = cmap.shape
    r = window // 2
    size = 2 * r + 1
    n = part.size
    if not n:
        return np.zeros((0, 2), dtype=_F32)
    offsets = np.arange(-r, r + 1)
    rows = row + offsets[:, None]  # [size, P], unreflected: these are the positions
    cols = col + offsets[:, None]
    if row.min() >= r and col.min() >= r and row.max() < h - r and col.max() < w - r:
        cell = ((part * h + row) * w + col) + (offsets[:, None] * w + offsets)[:, :, None]
    else:  # some windows cross the border: weights come from reflected cells
        cell = (part * h + _reflect(rows, h))[:, None, :] * w + _reflect(cols, w)[None, :, :]
    terms = np.empty((size, size, 3, n), dtype=_F32)  # weight, weight * y, weight * x
    weights = terms[:, :, 0, :]
    weights[...] = cmap.ravel().take(cell)
    np.multiply(weights, rows.astype(_F32)[:, None, :], out=terms[:, :, 1, :])
    np.multiply(weights, cols.astype(_F32)[None, :, :], out=terms[:, :, 2, :])
    weight_sum, y_sum, x_sum = sequential_sum(terms.reshape(size * size, 3 * n)).reshape(3, n)
    out = np.empty((n, 2), dtype=_F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(y_sum, weight_sum, out=out[:, 0])
        np.divide(x_sum, weight_sum, out=out[:, 1])
    out += _F32(0.5)
    out /= np.array([h, w], dtype=_F32)
    return out


def find_peaks(
    cmap: np.ndarray, threshold: float = 0.1, window: int = 5, max_count: int = 100
) -> Tuple[np.ndarray, np.ndarray]:
    """trt_pose's ``find_peaks``: ``(counts int32 [N, C], peaks int32 [N, C, M, 2])``.

    ``cmap`` is float ``[N, C, H, W]``; peaks are integer ``(row, col)``, unused slots 0.
    """
    cmap = np.asarray(cmap, dtype=_F32)
    n, c = cmap.shape[:2]
    counts = np.zeros((n, c), dtype=np.int32)
    peaks = np.zeros((n, c, max_count, 2), dtype=np.int32)
    for b in range(n):
        counts[b], part, row, col = frame_peaks(cmap[b], threshold, window, max_count)
        slot = _slots(counts[b], part)
        peaks[b, part, slot, 0] = row
        peaks[b, part, slot, 1] = col
    return counts, peaks


def refine_peaks(
    counts: np.ndarray, peaks: np.ndarray, cmap: np.ndarray, window: int = 5
) -> np.ndarray:
    """trt_pose's ``refine_peaks``: normalised ``(y, x)`` float32 ``[N, C, M, 2]``, unused 0."""
    cmap = np.asarray(cmap, dtype=_F32)
    counts = np.asarray(counts)
    peaks = np.asarray(peaks)
    refined = np.zeros(peaks.shape, dtype=_F32)
    for b in range(cmap.shape[0]):
        part, slot = flat_index(counts[b])
        refined[b, part, slot] = frame_refine(
            cmap[b], part, peaks[b, part, slot, 0], peaks[b, part, slot, 1], window
        )
    return refined


def flat_index(counts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(part, slot)`` of every used slot of a padded ``[C, M, ...]`` peak array, flat order."""
    counts = np.asarray(counts, dtype=np.intp)
    part = np.arange(counts.size).repeat(counts)
    return part, _slots(counts, part)


def _slots(counts: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Slot of each flat-list peak within its part (0, 1, ... per part)."""
    starts = counts.cumsum() - counts
    return np.arange(part.size) - starts[part]
