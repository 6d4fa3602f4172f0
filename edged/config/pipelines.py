"""Config models for pipelines, one per ``kind``, as one discriminated union.

Model pipelines (``pose``, ``gauge``) join this union in their own issues; the
``motion`` pipeline needs no model and lets a fresh install run end to end.
"""

from __future__ import annotations

from typing import List, Tuple, Union

from pydantic import Field, field_validator
from typing_extensions import Annotated, Literal

from edged.config.base import EdgedModel
from edged.config.sources import ID_DESCRIPTION, ID_PATTERN

__all__ = ["MotionPipelineConfig", "PipelineBase", "PipelineConfig"]


class PipelineBase(EdgedModel):
    """Fields every pipeline has."""

    id: str = Field(pattern=ID_PATTERN, description=ID_DESCRIPTION)
    source: Union[str, List[str]] = Field(
        description="Id of the source this pipeline reads, or a list of ids"
    )

    @field_validator("source")
    @classmethod
    def _non_empty(cls, value: Union[str, List[str]]) -> Union[str, List[str]]:
        if isinstance(value, list) and not value:
            raise ValueError("name at least one source id")
        return value

    @property
    def source_ids(self) -> Tuple[str, ...]:
        """The source ids as a tuple, whichever form the config used."""
        return (self.source,) if isinstance(self.source, str) else tuple(self.source)


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


PipelineConfig = Annotated[Union[MotionPipelineConfig], Field(discriminator="kind")]
