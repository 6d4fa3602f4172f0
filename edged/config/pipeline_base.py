"""Fields every pipeline config has; each kind's model lives in its own module."""

from __future__ import annotations

from typing import List, Optional, Tuple, Union

from pydantic import Field, ValidationInfo, field_validator

from edged.config.base import EdgedModel
from edged.config.sources import ID_DESCRIPTION, ID_PATTERN

__all__ = ["BatchConfig", "PipelineBase"]


class BatchConfig(EdgedModel):
    """Cross-camera batching: the newest frame of each source, run as one engine call.

    A GPU runs four frames in one call in much less than four times one call, so
    several cameras on one device get more frames through. The price is latency: a
    frame may wait up to ``wait_ms`` for the others to arrive.
    """

    max: int = Field(4, ge=1, le=64, description="Most frames in one engine call (one per source)")
    wait_ms: float = Field(
        10.0,
        ge=0,
        le=10000,
        description="Longest wait for more frames after the first one arrived, milliseconds",
    )


class PipelineBase(EdgedModel):
    """Fields every pipeline has."""

    id: str = Field(pattern=ID_PATTERN, description=ID_DESCRIPTION)
    source: Union[str, List[str]] = Field(
        description="Id of the source this pipeline reads, or a list of ids"
    )
    batch: Optional[BatchConfig] = Field(
        None,
        description="Run the newest frames of several sources as one engine call "
        "(needs a model with a dynamic batch axis); none = one call per frame",
    )

    @field_validator("source")
    @classmethod
    def _non_empty(cls, value: Union[str, List[str]]) -> Union[str, List[str]]:
        if isinstance(value, list) and not value:
            raise ValueError("name at least one source id")
        return value

    @field_validator("batch")
    @classmethod
    def _several_sources(
        cls, value: Optional[BatchConfig], info: ValidationInfo
    ) -> Optional[BatchConfig]:
        """One source has at most one new frame at a time: there would be nothing to batch."""
        source = info.data.get("source")  # absent when `source` itself was invalid
        if value is None or source is None:
            return value
        ids = [source] if isinstance(source, str) else source
        if len(set(ids)) < 2:
            raise ValueError(
                f"batch gathers frames from several sources, and this pipeline reads only "
                f"{ids[0]!r}; list the other cameras in `source` (source: [{ids[0]}, ...]) "
                "or remove `batch`"
            )
        return value

    @property
    def source_ids(self) -> Tuple[str, ...]:
        """The source ids as a tuple, whichever form the config used."""
        return (self.source,) if isinstance(self.source, str) else tuple(self.source)
