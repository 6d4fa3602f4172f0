"""Per-link matching: which a-peak goes with which b-peak.

trt_pose solves, for each link separately, a full assignment problem on the candidate pairs'
PAF scores (maximising the total score with its own Munkres solver, so that ties go the same
way: see :mod:`.munkres`), then keeps only the matched pairs whose score is strictly above
``link_threshold``. The result is ``connections[k, 0, a] = b`` and ``connections[k, 1, b] = a``,
-1 elsewhere.

All links of a frame are solved together: their cost matrices are stacked into one padded
``[L, A, B]`` array, reduced and greedily starred in a few batched operations, and only the
links the greedy starring leaves incomplete (a few per crowded frame) go through the full
Munkres loop one by one.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from edged.pipelines.pose.munkres import reduce_costs, solve
from edged.pipelines.pose.score_graph import LinkScores

__all__ = ["assignment", "frame_assignment"]

_F32 = np.float32


def frame_assignment(
    link_scores: LinkScores, threshold: float
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accepted connections of one frame as ``(link, a, b)`` intp arrays, sorted by link, a.

    ``a`` and ``b`` index the link's a-part and b-part peaks (0, 1, ... within each part).
    """
    ls = link_scores
    sizes = ls.count_a * ls.count_b
    live = sizes.nonzero()[0]
    if not live.size:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, empty
    nrows, ncols = ls.count_a[live], ls.count_b[live]
    cost = np.full((live.size, int(nrows.max()), int(ncols.max())), np.inf, dtype=_F32)
    problem = (sizes > 0).cumsum() - 1  # link -> its row in `cost`
    cost[problem[ls.pair_link], ls.pair_a, ls.pair_b] = -_solvable(ls.scores)
    reduce_costs(cost, nrows, ncols)
    stars = solve(cost, nrows, ncols)
    p, a = np.nonzero(stars >= 0)
    link, b = live[p], stars[p, a]
    score = ls.scores[ls.start[link] + a * ls.count_b[link] + b]
    with np.errstate(invalid="ignore"):
        keep = (score > _F32(threshold)) & np.isfinite(score)
    return link[keep], a[keep], b[keep]


def _solvable(scores: np.ndarray) -> np.ndarray:
    """Scores with non-finite entries (a broken model output) read as 0 by the solver.

    trt_pose's solver can loop forever on NaN costs (and turns infinities into NaN); here such
    pairs are solved as neutral and then never connected.
    """
    finite = np.isfinite(scores)
    if finite.all():
        return scores
    return np.where(finite, scores, _F32(0))


def assignment(
    score_graph: np.ndarray,
    topology: np.ndarray,
    counts: np.ndarray,
    link_threshold: float = 0.1,
) -> np.ndarray:
    """trt_pose's ``assignment``: connections int32 ``[N, K, 2, M]`` from a ``[N, K, M, M]``
    score graph, ``[K, 4]`` topology and ``[N, C]`` peak counts."""
    score_graph = np.asarray(score_graph, dtype=_F32)
    topology = np.asarray(topology, dtype=np.intp)
    counts = np.asarray(counts, dtype=np.intp)
    n, num_links, m = score_graph.shape[:3]
    connections = np.full((n, num_links, 2, m), -1, dtype=np.int32)
    for f in range(n):
        ls = LinkScores.from_graph(score_graph[f], topology, counts[f])
        link, a, b = frame_assignment(ls, link_threshold)
        connections[f, link, 0, a] = b
        connections[f, link, 1, b] = a
    return connections
