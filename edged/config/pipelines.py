"""The union of pipeline config kinds; each kind's model lives in its own module.

The ``motion`` pipeline needs no model and lets a fresh install run end to end;
``pose`` runs trt_pose models, ``gauge`` reads analog gauges and seven-segment displays.
"""

from __future__ import annotations

from typing import Union

from pydantic import Field
from typing_extensions import Annotated

from edged.config.gauge import GaugePipelineConfig
from edged.config.motion import MotionPipelineConfig
from edged.config.pipeline_base import BatchConfig, PipelineBase
from edged.config.pose import PosePipelineConfig

__all__ = [
    "BatchConfig",
    "GaugePipelineConfig",
    "MotionPipelineConfig",
    "PipelineBase",
    "PipelineConfig",
    "PosePipelineConfig",
]

PipelineConfig = Annotated[
    Union[MotionPipelineConfig, PosePipelineConfig, GaugePipelineConfig],
    Field(discriminator="kind"),
]
