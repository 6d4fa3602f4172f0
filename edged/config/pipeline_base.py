"""Fields every pipeline config has; each kind's model lives in its own module."""

from __future__ import annotations

from typing import List, Tuple, Union

from pydantic import Field, field_validator

from edged.config.base import EdgedModel
from edged.config.sources import ID_DESCRIPTION, ID_PATTERN

__all__ = ["PipelineBase"]


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
