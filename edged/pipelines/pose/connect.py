"""Grouping: accepted connections -> objects (people), trt_pose's ``connect_parts``.

Peaks are nodes, accepted connections are edges, and every connected component becomes one
object; a peak with no connection is an object of one part. Objects are numbered in the order
trt_pose's scan meets them (part-major, then peak index), i.e. by their smallest
``(part, peak)`` node, and at most ``max_count`` are kept.

A component can hold two peaks of the same part (a false link across people: the human
skeleton has cycles, e.g. nose-eyes and neck-shoulders-hips). An object has one slot per part,
and trt_pose fills it during a breadth-first walk, so the peak its walk visits *last* wins.
Components without such a clash need no walk; the rest replay trt_pose's walk exactly.
"""

from __future__ import annotations

import functools
from collections import deque
from typing import Dict, List, Tuple

import numpy as np

__all__ = ["connect_parts", "frame_objects"]


def frame_objects(
    counts: np.ndarray,
    topology: np.ndarray,
    link: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    max_count: int,
) -> np.ndarray:
    """Objects of one frame, int32 ``[n_objects, C]`` (peak index per part or -1).

    ``counts`` ``[C]`` peaks per part, ``topology`` ``[K, 4]``, and the accepted connections
    as ``(link, a, b)`` arrays (see :func:`edged.pipelines.pose.assignment.frame_assignment`).
    """
    counts = np.asarray(counts, dtype=np.intp)
    topology = np.asarray(topology, dtype=np.intp)
    num_parts = counts.size
    first = counts.cumsum() - counts
    part = np.arange(num_parts).repeat(counts)  # node -> part (nodes = flat peak list)
    index = np.arange(part.size) - first[part]  # node -> peak index within its part
    if not link.size:  # every peak is an object of its own
        n_objects = min(part.size, max_count)
        objects = np.full((n_objects, num_parts), -1, dtype=np.int32)
        objects[np.arange(n_objects), part[:n_objects]] = index[:n_objects]
        return objects
    node_a = first[topology[link, 2]] + a
    node_b = first[topology[link, 3]] + b
    neighbours = _neighbour_table(part.size, topology, link, node_a, node_b)
    label = _components(neighbours)
    # objects in trt_pose's scan order = components ordered by their smallest node
    is_root = label == np.arange(label.size)
    obj = (is_root.cumsum() - 1)[label]
    n_objects = min(int(np.count_nonzero(is_root)), max_count)
    objects = np.full((n_objects, num_parts), -1, dtype=np.int32)
    kept = obj < n_objects
    if not kept.all():
        obj, part, index = obj[kept], part[kept], index[kept]
    objects[obj, part] = index
    if np.count_nonzero(objects >= 0) < obj.size:  # some object got two peaks of one part
        slot_use = np.bincount(obj * num_parts + part, minlength=n_objects * num_parts)
        clash = np.flatnonzero((slot_use > 1).reshape(n_objects, num_parts).any(axis=1))
        walk = _Walker(neighbours, first)
        roots = np.flatnonzero(is_root)
        for o in clash.tolist():
            objects[o] = walk.object_row(int(roots[o]), num_parts)
    return objects


def _neighbour_table(
    num_nodes: int,
    topology: np.ndarray,
    link: np.ndarray,
    node_a: np.ndarray,
    node_b: np.ndarray,
) -> np.ndarray:
    """``[nodes, 1 + D]`` table: column 0 the node itself, then its neighbour through each
    link at its part (``D`` = most links at one part), or itself where that link has no
    connection.

    Each node has at most one connection per link, so this fits; columns follow trt_pose's
    walk order (links in order, a-end before b-end), so the walk can read them directly.
    """
    slot_a, slot_b, degree = _link_slots(topology[:, 2:].tobytes(), topology.dtype.str)
    table = np.empty((num_nodes, degree + 1), dtype=np.intp)
    table[:] = np.arange(num_nodes)[:, None]
    table[node_a, slot_a[link]] = node_b
    table[node_b, slot_b[link]] = node_a
    return table


@functools.lru_cache(maxsize=16)
def _link_slots(parts: bytes, dtype: str) -> Tuple[np.ndarray, np.ndarray, int]:
    """Column of each link's a-end and b-end in the neighbour table, and the table's width,
    for the topology whose ``[K, 2]`` part columns are ``parts`` (cached: one per model)."""
    used: Dict[int, int] = {}
    slot_a, slot_b = [], []
    for part_a, part_b in np.frombuffer(parts, dtype=dtype).reshape(-1, 2).tolist():
        used[part_a] = used.get(part_a, 0) + 1
        slot_a.append(used[part_a])
        used[part_b] = used.get(part_b, 0) + 1
        slot_b.append(used[part_b])
    degree = max(used.values(), default=0)
    slots = np.array([slot_a, slot_b], dtype=np.intp).reshape(2, -1)
    slots.setflags(write=False)  # shared through the cache
    return slots[0], slots[1], degree


def _components(neighbours: np.ndarray) -> np.ndarray:
    """Label of each node = the smallest node of its connected component.

    Labels converge by "take the smallest label among the neighbours, then follow labels to
    their own labels" (pointer jumping) in a few vectorised rounds, as skeletons are shallow.
    """
    label = np.arange(neighbours.shape[0])
    if neighbours.shape[1] == 1:
        return label
    while True:
        new = label[neighbours].min(axis=1)
        new = new[new]
        if (new == label).all():
            return label
        label = new


class _Walker:
    """trt_pose's breadth-first walk over one frame's connection graph.

    Each node queues its neighbours in link order, and for each link the b-end before the
    a-end, exactly as ``connect_parts.cpp`` loops (the neighbour table's column order), so the
    last-visited peak of each part, which fills the object's slot, is the same.
    """

    def __init__(self, neighbours: np.ndarray, first: np.ndarray) -> None:
        num_nodes = neighbours.shape[0]
        part = np.repeat(np.arange(first.size), np.diff(np.append(first, num_nodes)))
        self._part = part.tolist()
        self._index = (np.arange(num_nodes) - first[part]).tolist()
        self._neighbours = neighbours[:, 1:].tolist()

    def object_row(self, root: int, num_parts: int) -> List[int]:
        """Part slots of the object whose walk starts at node ``root``."""
        row = [-1] * num_parts
        visited = set()
        queue = deque([root])
        while queue:
            node = queue.popleft()
            if node in visited:
                continue
            visited.add(node)
            row[self._part[node]] = self._index[node]
            queue.extend(self._neighbours[node])  # unused cells hold the node: skipped
        return row


def connect_parts(
    connections: np.ndarray,
    topology: np.ndarray,
    counts: np.ndarray,
    max_count: int = 100,
) -> Tuple[np.ndarray, np.ndarray]:
    """trt_pose's ``connect_parts``: ``(object_counts int32 [N], objects int32 [N, P, C])``.

    ``connections`` int ``[N, K, 2, M]`` from :func:`assignment`, ``counts`` int ``[N, C]``;
    ``objects[n, i, c]`` is the peak index of part ``c`` of object ``i``, or -1.
    """
    connections = np.asarray(connections)
    topology = np.asarray(topology, dtype=np.intp)
    counts = np.asarray(counts, dtype=np.intp)
    n, num_parts = counts.shape
    object_counts = np.zeros(n, dtype=np.int32)
    objects = np.full((n, max_count, num_parts), -1, dtype=np.int32)
    for f in range(n):
        link, a = np.nonzero(connections[f, :, 0, :] >= 0)
        b = connections[f, link, 0, a].astype(np.intp)
        rows = frame_objects(counts[f], topology, link, a, b, max_count)
        object_counts[f] = rows.shape[0]
        objects[f, : rows.shape[0]] = rows
    return object_counts, objects
