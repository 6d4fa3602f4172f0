"""trt_pose-compatible multi-person pose: topology, exact parse, models, pipeline.

Importing this package imports numpy only; PyTorch (model export) and the
inference engines load when they are used.
"""

from edged.pipelines.pose.parse import (
    assignment,
    connect_parts,
    find_peaks,
    paf_score_graph,
    parse_objects,
    refine_peaks,
)
from edged.pipelines.pose.topology import Topology, TopologyError

__all__ = [
    "Topology",
    "TopologyError",
    "assignment",
    "connect_parts",
    "find_peaks",
    "paf_score_graph",
    "parse_objects",
    "refine_peaks",
]
