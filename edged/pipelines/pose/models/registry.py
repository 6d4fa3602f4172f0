"""The trt_pose architectures edged can rebuild, described without importing torch.

The CLI needs the names, default input sizes and checkpoint layouts to parse
arguments and to explain key mismatches, on machines where torch is absent.
The builders themselves live in the torch-importing modules named here.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, NamedTuple

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_CMAP_CHANNELS",
    "DEFAULT_PAF_CHANNELS",
    "ArchSpec",
    "arch_spec",
    "build_model",
]

#: trt_pose's human_pose task: 18 keypoints (COCO 17 + neck) and 21 links (x, y each).
DEFAULT_CMAP_CHANNELS = 18
DEFAULT_PAF_CHANNELS = 42


class ArchSpec(NamedTuple):
    """One trt_pose architecture: how to build it and how its checkpoints look."""

    name: str
    #: square input side the official checkpoint was trained at
    input_size: int
    #: every state_dict key of the trunk starts with this
    backbone_prefix: str
    #: "module:function" of the builder, imported only when a model is built
    builder: str


ARCHITECTURES: Dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec(
            "resnet18_baseline_att",
            224,
            "0.resnet.",
            "edged.pipelines.pose.models.resnet:resnet18_baseline_att",
        ),
        ArchSpec(
            "densenet121_baseline_att",
            256,
            "0.densenet.",
            "edged.pipelines.pose.models.densenet:densenet121_baseline_att",
        ),
    )
}


def arch_spec(name: str) -> ArchSpec:
    """Look up an architecture; an unknown name lists the known ones."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ValueError(f"unknown pose architecture {name!r} (known: {known})") from None


def build_model(name: str, **kwargs: Any) -> Any:
    """Build an untrained model of architecture ``name`` (imports torch).

    Keyword arguments go to the builder: ``cmap_channels``, ``paf_channels``,
    ``upsample_channels``, ``num_upsample``, ``num_flat``.
    """
    from .torchdep import require_torch

    require_torch(f"building {name}")
    module_name, func_name = arch_spec(name).builder.split(":")
    builder = getattr(importlib.import_module(module_name), func_name)
    return builder(**kwargs)
