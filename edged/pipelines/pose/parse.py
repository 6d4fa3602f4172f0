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

Where trt_pose's C++ is undefined, this parse is deterministic instead: non-finite scores never
connect (the C++ solver may loop forever on them), and a window wider than the map reads its
edge cells (the C++ reads outside the channel). NaN or infinite cmap/paf values are refused
with ValueError by :func:`parse_objects` (the stage functions, used by tests, still accept
them: NaN is never a peak).

Two implementations of :func:`parse_objects` give the same results bit for bit: a compiled
one (:mod:`.compiled`, the C extension ``_parse``, several times faster) and
:func:`parse_objects_numpy`, the reference and fallback. :func:`parse_objects` uses the compiled
one when it was built and ``EDGED_POSE_PARSE`` is not ``numpy``; see :func:`implementation`.
"""

from __future__ import annotations

import logging
import operator
import os
import threading
from typing import Any, Callable, Dict, Optional, Tuple, Union

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
    "IMPLEMENTATION_ENV",
    "assignment",
    "connect_parts",
    "find_peaks",
    "implementation",
    "paf_score_graph",
    "parse_objects",
    "parse_objects_numpy",
    "prepare_inputs",
    "refine_peaks",
    "select_implementation",
    "selected_implementation",
    "topology_array",
]

log = logging.getLogger(__name__)

TopologyLike = Union[Topology, np.ndarray]
ParseResult = Tuple[np.ndarray, np.ndarray, np.ndarray]

IMPLEMENTATION_ENV = "EDGED_POSE_PARSE"
"""``numpy`` forces the numpy parse, ``compiled`` requires the extension, ``auto`` (or unset)
takes the compiled one when it is built."""

MAX_WINDOW = 1001
MAX_SAMPLES = 10000
MAX_COUNT = 10000  # peaks per part, objects: the config allows 1000; M * M pairs fit an int


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
) -> ParseResult:
    """Group peaks into objects, as trt_pose's ``ParseObjects`` does.

    ``cmap`` float ``[N, C, H, W]`` and ``paf`` float ``[N, 2K, H, W]`` (channel ``2k`` the row
    component of link ``k``). Returns ``(object_counts int32 [N], objects int32
    [N, max_num_objects, C], normalized_peaks float32 [N, C, max_num_parts, 2])``:
    ``objects[n, i, c]`` indexes ``normalized_peaks[n, c]`` (``(y, x)`` in [0, 1]) or is -1.
    Raises ValueError for mismatched shapes, parameters out of range, or NaN/inf inputs.

    Runs the implementation :func:`implementation` names (compiled or numpy; same results).
    """
    return selected_implementation()[1](
        cmap,
        paf,
        topology,
        cmap_threshold,
        link_threshold,
        cmap_window,
        line_integral_samples,
        max_num_parts,
        max_num_objects,
    )


def prepare_inputs(
    cmap: np.ndarray,
    paf: np.ndarray,
    topology: TopologyLike,
    cmap_window: int,
    line_integral_samples: int,
    max_num_parts: int,
    max_num_objects: int,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The checks both implementations share, so they refuse the same calls with the same
    messages: C-contiguous float32 ``cmap``/``paf`` and int32 topology, shapes and parameters
    in range (finiteness is checked by each implementation, where it is cheapest)."""
    cmap = np.ascontiguousarray(cmap, dtype=np.float32)
    paf = np.ascontiguousarray(paf, dtype=np.float32)
    topo = np.ascontiguousarray(topology_array(topology), dtype=np.int32)
    _check_shapes(cmap, paf)
    _check_topology(topo, cmap.shape[1], paf.shape[1])
    _check_range("cmap_window", cmap_window, 1, MAX_WINDOW)
    _check_range("line_integral_samples", line_integral_samples, 1, MAX_SAMPLES)
    _check_range("max_num_parts", max_num_parts, 1, MAX_COUNT)
    _check_range("max_num_objects", max_num_objects, 1, MAX_COUNT)
    return cmap, paf, topo


def _check_range(name: str, value: Any, low: int, high: int) -> None:
    """An integer parameter within ``[low, high]`` (beyond them the parse is meaningless or
    would allocate without bound)."""
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError("%s must be an integer, got %r" % (name, value)) from None
    if not low <= number <= high:
        raise ValueError("%s must be between %d and %d, got %d" % (name, low, high, number))


def parse_objects_numpy(
    cmap: np.ndarray,
    paf: np.ndarray,
    topology: TopologyLike,
    cmap_threshold: float = 0.1,
    link_threshold: float = 0.1,
    cmap_window: int = 5,
    line_integral_samples: int = 7,
    max_num_parts: int = 100,
    max_num_objects: int = 100,
) -> ParseResult:
    """:func:`parse_objects` in numpy: the reference, and the fallback without the extension."""
    cmap, paf, topo = prepare_inputs(
        cmap, paf, topology, cmap_window, line_integral_samples, max_num_parts, max_num_objects
    )
    _check_finite(cmap, paf)
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


def _check_shapes(cmap: np.ndarray, paf: np.ndarray) -> None:
    """Fail early, naming the mismatch, instead of indexing out of range deep in a stage."""
    if cmap.ndim != 4 or paf.ndim != 4:
        raise ValueError(
            "cmap and paf must be [N, C, H, W]; got %s and %s" % (cmap.shape, paf.shape)
        )
    if cmap.shape[2] < 1 or cmap.shape[3] < 1:
        raise ValueError("cmap %s has an empty map" % (cmap.shape,))
    if cmap.shape[0] != paf.shape[0] or cmap.shape[2:] != paf.shape[2:]:
        raise ValueError("cmap %s and paf %s differ in batch or map size" % (cmap.shape, paf.shape))


_checked_topologies: Dict[Tuple[bytes, int, int], bool] = {}


def _check_topology(topology: np.ndarray, num_parts: int, num_pafs: int) -> None:
    """Every link names existing channels. A pipeline passes the same few topologies every
    frame, so those that passed are remembered (numpy reductions cost microseconds per call,
    a tenth of a compiled parse)."""
    key = (topology.tobytes(), num_parts, num_pafs)
    if key in _checked_topologies:
        return
    if topology.size:
        if topology[:, 2:].min() < 0 or topology[:, 2:].max() >= num_parts:
            raise ValueError("topology names parts outside the %d cmap channels" % num_parts)
        if topology[:, :2].min() < 0 or topology[:, :2].max() >= num_pafs:
            raise ValueError("topology names PAF channels outside the %d paf channels" % num_pafs)
    if len(_checked_topologies) < 64:
        _checked_topologies[key] = True


def _check_finite(cmap: np.ndarray, paf: np.ndarray) -> None:
    """Refuse NaN/inf (a broken model output): the result would be meaningless, and both
    implementations must fail the same way. min/max propagate NaN and expose infinities, in
    two fast reductions per array."""
    for name, array in (("cmap", cmap), ("paf", paf)):
        if array.size and not (np.isfinite(array.min()) and np.isfinite(array.max())):
            raise ValueError("%s holds NaN or infinite values (a broken model output?)" % name)


ParseFunction = Callable[..., ParseResult]
_selection: Optional[Tuple[str, ParseFunction]] = None
_selection_lock = threading.Lock()


def select_implementation(choice: Optional[str] = None) -> Tuple[str, ParseFunction]:
    """``(name, parse function)`` for ``choice`` (``auto``, ``compiled`` or ``numpy``; default
    ``$EDGED_POSE_PARSE``, else ``auto``). ``auto`` falls back to numpy when the extension was
    not built; ``compiled`` raises ImportError then, so a forced choice is never ignored."""
    if choice is None:
        choice = os.environ.get(IMPLEMENTATION_ENV, "")
    choice = choice.strip().lower() or "auto"
    if choice not in ("auto", "compiled", "numpy"):
        raise ValueError("%s=%r: expected auto, compiled or numpy" % (IMPLEMENTATION_ENV, choice))
    if choice == "numpy":
        return "numpy", parse_objects_numpy
    try:
        from edged.pipelines.pose.compiled import parse_objects_compiled
    except ImportError as exc:
        if choice == "compiled":
            raise ImportError(
                "%s=compiled but the compiled parse is not built (%s); reinstall edged "
                "with a C compiler and Python's headers, or set %s to auto or numpy"
                % (IMPLEMENTATION_ENV, exc, IMPLEMENTATION_ENV)
            ) from exc
        return "numpy", parse_objects_numpy
    return "compiled", parse_objects_compiled


def selected_implementation() -> Tuple[str, ParseFunction]:
    """``(name, parse function)`` chosen on first use for the whole process, logged once (a
    daemon parses every frame). Raises as :func:`select_implementation` does for a bad
    ``$EDGED_POSE_PARSE``, on every call until a choice succeeds: the pose pipeline calls this
    when it opens, so a bad value fails it at start, not every frame."""
    global _selection
    if _selection is None:
        with _selection_lock:
            if _selection is None:
                name, function = select_implementation()
                log.info("pose parse: %s implementation", name)
                _selection = (name, function)
    return _selection


def implementation() -> str:
    """Which implementation :func:`parse_objects` runs: ``compiled`` or ``numpy``."""
    return selected_implementation()[0]
