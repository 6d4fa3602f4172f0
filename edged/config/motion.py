"""Config model for the motion pipeline (frame differencing, no model)."""

from __future__ import annotations

from pydantic import Field
from typing_extensions import Literal

from edged.config.pipeline_base import PipelineBase

__all__ = ["MotionPipelineConfig"]


class MotionPipelineConfig(PipelineBase):
    """Frame differencing: how much of the picture changed since the last frame."""

    kind: Literal["motion"] = Field(description="Motion measure by frame differencing (no model)")
    width: int = Field(160, ge=16, le=1920, description="Frames are shrunk to this width first")
    pixel_threshold: int = Field(
        25, ge=1, le=255, description="Grey-level change that counts a pixel as moved"
    )
    min_fraction: float = Field(
        0.01, ge=0, le=1, description="Share of moved pixels above which `motion` is true"
    )
