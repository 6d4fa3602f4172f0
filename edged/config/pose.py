"""Config model for the trt_pose-compatible pose pipeline."""

from __future__ import annotations

from typing import Optional

from pydantic import Field, field_validator
from typing_extensions import Literal

from edged.config.engine import EngineConfig
from edged.config.pipeline_base import PipelineBase

__all__ = ["PosePipelineConfig"]


class PosePipelineConfig(PipelineBase):
    """Multi-person pose with a trt_pose model (CMAP + PAF heads) and trt_pose's parse."""

    kind: Literal["pose"] = Field(description="trt_pose multi-person pose")
    model: str = Field(
        min_length=1,
        description="ONNX file (input 'input', outputs 'cmap' and 'paf'), TensorRT plan "
        "(.engine/.plan) or torch2trt file (*_trt.pth)",
    )
    engine: EngineConfig = Field(
        default_factory=EngineConfig, description="Backend and engine-build options"
    )
    topology: Optional[str] = Field(
        None,
        description="trt_pose task JSON (keypoints, skeleton) for custom models; "
        "default: trt_pose's 18-keypoint human pose",
    )
    cmap_threshold: float = Field(0.1, gt=0, lt=1, description="Peak threshold on the CMAP")
    link_threshold: float = Field(0.1, gt=0, lt=1, description="PAF line-integral threshold")
    cmap_window: int = Field(5, ge=1, le=15, description="Peak window (odd), map pixels")
    line_integral_samples: int = Field(7, ge=2, le=100, description="Samples per PAF integral")
    max_num_parts: int = Field(100, ge=1, le=1000, description="Peaks kept per keypoint type")
    max_num_objects: int = Field(100, ge=1, le=1000, description="People kept per frame")
    min_keypoints: int = Field(
        1, ge=1, description="Drop people with fewer keypoints (jetson-inference uses 2)"
    )

    @field_validator("cmap_window")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"the window must be odd (e.g. {value + 1})")
        return value
