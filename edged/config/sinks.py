"""Config models for result sinks (MQTT and HTTP join in their own issues)."""

from __future__ import annotations

from typing import Optional

from pydantic import Field
from typing_extensions import Literal

from edged.config.base import EdgedModel
from edged.config.http import HttpSinkConfig
from edged.config.mqtt import MqttSinkConfig

__all__ = ["HttpSinkConfig", "JsonlSinkConfig", "MqttSinkConfig", "SinksConfig"]


class JsonlSinkConfig(EdgedModel):
    """One JSON object per result, appended to a file that rotates by size."""

    path: str = Field(min_length=1, description="File to append to; its directory is created")
    max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Rotate when the file would grow past this"
    )
    backups: int = Field(5, ge=0, le=1000, description="Rotated files kept (path.1 … path.N)")
    fsync: Literal["never", "interval", "always"] = Field(
        "interval",
        description="When to fsync: never, every fsync_interval_s, or after every result",
    )
    fsync_interval_s: float = Field(1.0, gt=0, description="Seconds between fsyncs (interval)")
    queue_size: int = Field(1000, ge=1, description="Results buffered before the oldest is dropped")


class SinksConfig(EdgedModel):
    """Where results go."""

    jsonl: Optional[JsonlSinkConfig] = Field(None, description="Append results to a JSONL file")
    mqtt: Optional[MqttSinkConfig] = Field(
        None, description="Publish results to an MQTT broker, spooled so none is lost"
    )
    http: Optional[HttpSinkConfig] = Field(
        None, description="Status page, JSON API, Prometheus metrics and MJPEG previews"
    )
