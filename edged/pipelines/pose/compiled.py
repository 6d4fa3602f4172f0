"""The compiled trt_pose parse: :func:`parse_objects_compiled`, a thin wrapper of ``_parse``.

``_parse`` is a C extension (``_parse.c``) built by ``setup.py`` when a compiler is at hand;
importing this module raises ImportError where it was not built, which is how
:func:`edged.pipelines.pose.parse.select_implementation` falls back to numpy. Its results are
the numpy parse's bit for bit (tests/pose/test_parse_compiled.py); it costs about what
trt_pose's own C++ does and releases the GIL while it works, so other threads (capture, the
event loop) keep running during a crowded frame.
"""

from __future__ import annotations

import numpy as np

from edged.pipelines.pose import _parse
from edged.pipelines.pose.parse import ParseResult, TopologyLike, prepare_inputs

__all__ = ["parse_objects_compiled"]


def parse_objects_compiled(
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
    """:func:`edged.pipelines.pose.parse.parse_objects` in C (same arguments and results).

    The outputs are allocated here, uninitialised: the extension overwrites every element.
    """
    cmap, paf, topo = prepare_inputs(
        cmap, paf, topology, cmap_window, line_integral_samples, max_num_parts, max_num_objects
    )
    n, num_parts = cmap.shape[:2]
    object_counts = np.empty(n, dtype=np.int32)
    objects = np.empty((n, max_num_objects, num_parts), dtype=np.int32)
    normalized = np.empty((n, num_parts, max_num_parts, 2), dtype=np.float32)
    _parse.parse(
        cmap,
        paf,
        topo,
        float(cmap_threshold),
        float(link_threshold),
        int(cmap_window),
        int(line_integral_samples),
        object_counts,
        objects,
        normalized,
    )
    return object_counts, objects, normalized
