"""PAF line integrals: how strongly each candidate pair of peaks is joined by its link's field.

For every link ``k`` (parts ``a -> b``) and every pair of a-peak and b-peak, trt_pose samples the
PAF at ``samples`` points evenly spaced on the segment between the two refined peaks (in map
pixels, truncated to integer cells, skipping cells outside the map) and averages the dot product
of the PAF vector with the segment's unit vector (``paf_score_graph.cpp``).

Here all pairs of all links are scored in one batch of float32 array operations, in the C++
operation order so the scores match trt_pose's bit for bit (this matters: the assignment tests
exact ties and the threshold is strict). Notably the C++ adds its ``1e-5`` epsilon in double
precision to the float ``sqrtf`` and rounds back to float, and sums the samples sequentially.
"""

from __future__ import annotations

from typing import NamedTuple, Tuple

import numpy as np

from edged.pipelines.pose.exact import sequential_sum
from edged.pipelines.pose.peaks import flat_index

__all__ = ["LinkScores", "frame_scores", "paf_score_graph"]

_F32 = np.float32
_EPS = 1e-5  # a double in the C++ source: the sum is rounded to float only once


class LinkScores(NamedTuple):
    """One frame's scores, all links packed: link ``k`` is ``scores[start[k]:start[k + 1]]``.

    Each link's block is its ``[count_a[k], count_b[k]]`` score matrix in row-major order;
    ``pair_link``/``pair_a``/``pair_b`` name the link and the two peaks (indices within their
    parts) of every score.
    """

    scores: np.ndarray  # float32 [T]
    start: np.ndarray  # intp [K + 1]
    count_a: np.ndarray  # intp [K]
    count_b: np.ndarray  # intp [K]
    pair_link: np.ndarray  # intp [T]
    pair_a: np.ndarray  # intp [T]
    pair_b: np.ndarray  # intp [T]

    @classmethod
    def from_graph(cls, graph: np.ndarray, topology: np.ndarray, counts: np.ndarray) -> LinkScores:
        """Pack one frame's padded ``[K, M, M]`` score graph (trt_pose's layout)."""
        topology = np.asarray(topology, dtype=np.intp)
        counts = np.asarray(counts, dtype=np.intp)
        count_a, count_b = counts[topology[:, 2]], counts[topology[:, 3]]
        start, link, a, b = _pairs(count_a, count_b)
        return cls(graph[link, a, b], start, count_a, count_b, link, a, b)


def frame_scores(
    paf: np.ndarray,
    topology: np.ndarray,
    counts: np.ndarray,
    refined: np.ndarray,
    samples: int,
) -> LinkScores:
    """Score all candidate pairs of all links of one frame.

    ``paf`` float32 ``[2K', H, W]``, ``topology`` int ``[K, 4]``, ``counts`` ``[C]`` and
    ``refined`` float32 ``[P, 2]``: the flat peak list (part-major) from :mod:`peaks`.
    """
    paf = np.asarray(paf, dtype=_F32)
    topology = np.asarray(topology, dtype=np.intp)
    counts = np.asarray(counts, dtype=np.intp)
    first = counts.cumsum() - counts
    part_a, part_b = topology[:, 2], topology[:, 3]
    count_a, count_b = counts[part_a], counts[part_b]
    start, link, a, b = _pairs(count_a, count_b)
    scores = np.empty(link.size, dtype=_F32)
    if link.size:
        segments = _Segments(paf, topology, refined, samples)
        peak_a, peak_b = first[part_a][link] + a, first[part_b][link] + b
        for lo in range(0, link.size, _CHUNK):
            hi = lo + _CHUNK
            scores[lo:hi] = segments.score(link[lo:hi], peak_a[lo:hi], peak_b[lo:hi])
    return LinkScores(scores, start, count_a, count_b, link, a, b)


_CHUNK = 2048
"""Pairs scored per batch: keeps each ``[samples, pairs]`` temporary well under the ~128 KiB
above which fresh arrays are ``mmap``-ed and page-fault on every call (crowds have 10k pairs)."""


def _pairs(
    count_a: np.ndarray, count_b: np.ndarray
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Block starts ``[K + 1]`` and ``(link, a, b)`` of every candidate pair, links in
    order, each link's block row-major."""
    sizes = count_a * count_b
    start = np.zeros(sizes.size + 1, dtype=np.intp)
    sizes.cumsum(out=start[1:])
    link = np.arange(sizes.size).repeat(sizes)
    local = np.arange(link.size) - start[link]
    nb = np.maximum(count_b, 1)[link]
    return start, link, local // nb, local % nb


class _Segments:
    """Line integrals for one frame: the PAF, the peaks in map pixels, the sample offsets."""

    def __init__(
        self, paf: np.ndarray, topology: np.ndarray, refined: np.ndarray, samples: int
    ) -> None:
        _, h, w = paf.shape
        self.h, self.w = h, w
        self.flat = paf.ravel()
        self.offset_y = topology[:, 0] * (h * w)
        self.offset_x = topology[:, 1] * (h * w)
        self.y = refined[:, 0] * _F32(h)  # the C++'s ``peak * H``, in float32
        self.x = refined[:, 1] * _F32(w)
        self.samples = samples
        with np.errstate(divide="ignore", invalid="ignore"):
            self.progress = (np.arange(samples, dtype=_F32) / _F32(samples - 1))[:, None]
        # Samples truncate to cells inside the map when all peaks lie in [0, size - 1] (the
        # compiled parse's test, per peak): points between two such peaks stay above -1 and
        # below size even after rounding. Not so for peaks just under size: on maps of 8192
        # cells and more a sample between one and a distant peak can round up to size, a cell
        # of the next channel. Maps over 2**20 cells a side take the checked path, as in C.
        self.all_inside = bool(
            samples > 1
            and h <= 1 << 20
            and w <= 1 << 20
            and self.y.min() >= 0
            and self.x.min() >= 0
            and self.y.max() <= h - 1
            and self.x.max() <= w - 1
        )

    def score(self, link: np.ndarray, peak_a: np.ndarray, peak_b: np.ndarray) -> np.ndarray:
        """Mean PAF projection along ``peak_a -> peak_b`` for each pair (float32 ``[T]``).

        Samples form ``[samples, T]`` arrays; the sum over the leading axis is sequential in
        float32, like the C++ loop.
        """
        ay, ax = self.y[peak_a], self.x[peak_a]
        dy, dx = self.y[peak_b] - ay, self.x[peak_b] - ax
        norm = (np.sqrt(dy * dy + dx * dx).astype(np.float64) + _EPS).astype(_F32)
        uy, ux = dy / norm, dx / norm
        py = ay + self.progress * dy
        px = ax + self.progress * dx
        if self.all_inside:
            cell = py.astype(np.intp)  # the C++'s (int) cast: toward zero
            cell *= self.w
            cell += px.astype(np.intp)
            dot = self.flat[cell + self.offset_y[link]] * uy
            dot += self.flat[cell + self.offset_x[link]] * ux
        else:
            dot = self._clipped_dot(link, py, px, uy, ux)
        return sequential_sum(dot) / _F32(self.samples)

    def _clipped_dot(
        self,
        link: np.ndarray,
        py: np.ndarray,
        px: np.ndarray,
        uy: np.ndarray,
        ux: np.ndarray,
    ) -> np.ndarray:
        """Sample dot products where some samples may leave the map: those count 0, as the
        C++ skips them. Positions are first clamped to ``[-1, size]`` (``fmax``/``fmin`` also
        turn NaN into -1, i.e. outside, where a C cast would be undefined)."""
        iy = np.fmin(np.fmax(py, _F32(-1)), _F32(self.h)).astype(np.intp)
        ix = np.fmin(np.fmax(px, _F32(-1)), _F32(self.w)).astype(np.intp)
        inside = (iy >= 0) & (iy < self.h) & (ix >= 0) & (ix < self.w)
        cell = np.where(inside, iy * self.w + ix, 0)
        dot = self.flat[cell + self.offset_y[link]] * uy
        dot += self.flat[cell + self.offset_x[link]] * ux
        dot[~inside] = 0
        return dot


def paf_score_graph(
    paf: np.ndarray,
    topology: np.ndarray,
    counts: np.ndarray,
    peaks: np.ndarray,
    line_integral_samples: int = 7,
) -> np.ndarray:
    """trt_pose's ``paf_score_graph``: float32 ``[N, K, M, M]``, ``[n, k, a, b]`` for a-peak
    ``a`` and b-peak ``b`` of link ``k``, 0 for unused slots.

    ``paf`` ``[N, 2K, H, W]``, ``counts`` int ``[N, C]``, ``peaks`` the refined (normalised)
    ``[N, C, M, 2]`` peaks.
    """
    paf = np.asarray(paf, dtype=_F32)
    counts = np.asarray(counts)
    peaks = np.asarray(peaks, dtype=_F32)
    n, m = peaks.shape[0], peaks.shape[2]
    topology = np.asarray(topology, dtype=np.intp)
    graph = np.zeros((n, topology.shape[0], m, m), dtype=_F32)
    for f in range(n):
        part, slot = flat_index(counts[f])
        ls = frame_scores(paf[f], topology, counts[f], peaks[f, part, slot], line_integral_samples)
        graph[f, ls.pair_link, ls.pair_a, ls.pair_b] = ls.scores
    return graph
