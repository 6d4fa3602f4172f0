"""Config model for logging."""

from __future__ import annotations

from typing import Dict

from pydantic import Field
from typing_extensions import Literal

from edged.config.base import EdgedModel

__all__ = ["LogLevel", "LoggingConfig"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class LoggingConfig(EdgedModel):
    """Log level overall and per module (e.g. ``edged.sources: DEBUG``)."""

    level: LogLevel = Field("INFO", description="Level for everything not listed in `levels`")
    levels: Dict[str, LogLevel] = Field(
        default_factory=dict, description="Per-logger levels, e.g. {'edged.sources.cam0': 'DEBUG'}"
    )
