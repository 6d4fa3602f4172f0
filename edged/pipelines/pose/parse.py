"""trt_pose-compatible post-processing: confidence maps + PAFs -> grouped keypoints (objects).

:func:`parse_objects` is a drop-in for ``trt_pose.parse_objects.ParseObjects.__call__`` in plain
numpy: same parameters, same output shapes and dtypes, same numbers (checked bit for bit against
trt_pose's compiled C++ on the reference vectors). Its stages, each reproducing the C++ stage of
the same name, are

1. :func:`find_peaks` (:mod:`.peaks`): local maxima of each confidence map;
2. :func:`refine_peaks` (:mod:`.peaks`): sub-pixel, normalised peak positions;
3. :func:`paf_score_graph` (:mod:`.score_graph`): PAF line integral of every candidate pair;
4. :func:`assignment` (:mod:`.assignment`, :mod:`.munkres`): per-link optimal matching;
5. :func:`connect_parts` (:mod:`.connect`): connected components -> objects.

The public stage functions take and return trt_pose's padded batch tensors, for tests and reuse.
:func:`parse_objects` itself chains the per-frame ``frame_*`` helpers on compact arrays (a flat
peak list, packed per-link score blocks) and only pads the final outputs, which is most of why
it is fast.

Where trt_pose's C++ is undefined, this parse is deterministic instead: NaN confidence values are
never peaks, non-finite scores never connect (the C++ solver may loop forever on them), and a
window wider than the map reads its edge cells (the C++ reads outside the channel).
"""

from __future__ import annotations

from typing import Tuple, Union

import numpy as np

from edged.pipelines.pose.assignment import assignment, frame_assignment
from edged.pipelines.pose.connect import connect_parts, frame_objects
from edged.pipelines.pose.peaks import (
    find_peaks,
    flat_index,
    frame_peaks,
    frame_refine,
    refine_peaks,
)
from edged.pipelines.pose.score_graph import frame_scores, paf_score_graph
from edged.pipelines.pose.topology import Topology

__all__ = [
    "assignment",
    "connect_parts",
    "find_peaks",
    "paf_score_graph",
    "parse_objects",
    "refine_peaks",
    "topology_array",
]

TopologyLike = Union[Topology, np.ndarray]


def topology_array(topology: TopologyLike) -> np.ndarray:
    """trt_pose's int32 ``[K, 4]`` topology from a :class:`Topology` or an array-like."""
    if isinstance(topology, Topology):
        return topology.to_array()
    array = np.asarray(topology)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError("topology: expected an int array of shape [K, 4], got %s" % (array.shape,))
    return array.astype(np.int32, copy=False)


def parse_objects(
    cmap: np.ndarray,
    paf: np.ndarray,
    topology: TopologyLike,
    cmap_threshold: float = 0.1,
    link_threshold: float = 0.1,
    cmap_window: int = 5,
    line_integral_samples: int = 7,
    max_num_parts: int = 100,
    max_num_objects: int = 100,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group peaks into objects, as trt_pose's ``ParseObjects`` does.

    ``cmap`` float ``[N, C, H, W]`` and ``paf`` float ``[N, 2K, H, W]`` (channel ``2k`` the row
    component of link ``k``). Returns ``(object_counts int32 [N], objects int32
    [N, max_num_objects, C], normalized_peaks float32 [N, C, max_num_parts, 2])``:
    ``objects[n, i, c]`` indexes ``normalized_peaks[n, c]`` (``(y, x)`` in [0, 1]) or is -1.
    """
    cmap = np.asarray(cmap, dtype=np.float32)
    paf = np.asarray(paf, dtype=np.float32)
    topo = topology_array(topology)
    _check_shapes(cmap, paf, topo)
    n, num_parts = cmap.shape[:2]
    object_counts = np.zeros(n, dtype=np.int32)
    objects = np.full((n, max_num_objects, num_parts), -1, dtype=np.int32)
    normalized = np.zeros((n, num_parts, max_num_parts, 2), dtype=np.float32)
    for f in range(n):
        counts, part, row, col = frame_peaks(cmap[f], cmap_threshold, cmap_window, max_num_parts)
        refined = frame_refine(cmap[f], part, row, col, cmap_window)
        scores = frame_scores(paf[f], topo, counts, refined, line_integral_samples)
        link, a, b = frame_assignment(scores, link_threshold)
        rows = frame_objects(counts, topo, link, a, b, max_num_objects)
        object_counts[f] = rows.shape[0]
        objects[f, : rows.shape[0]] = rows
        normalized[f, part, flat_index(counts)[1]] = refined
    return object_counts, objects, normalized


def _check_shapes(cmap: np.ndarray, paf: np.ndarray, topology: np.ndarray) -> None:
    """Fail early, naming the mismatch, instead of indexing out of range deep in a stage."""
    if cmap.ndim != 4 or paf.ndim != 4:
        raise ValueError(
            "cmap and paf must be [N, C, H, W]; got %s and %s" % (cmap.shape, paf.shape)
        )
    if cmap.shape[0] != paf.shape[0] or cmap.shape[2:] != paf.shape[2:]:
        raise ValueError("cmap %s and paf %s differ in batch or map size" % (cmap.shape, paf.shape))
    if topology.size:
        if topology[:, 2:].min() < 0 or topology[:, 2:].max() >= cmap.shape[1]:
            raise ValueError("topology names parts outside the %d cmap channels" % cmap.shape[1])
        if topology[:, :2].min() < 0 or topology[:, :2].max() >= paf.shape[1]:
            raise ValueError(
                "topology names PAF channels outside the %d paf channels" % paf.shape[1]
            )
