"""Config model for the HTTP sink: status page, JSON API, metrics and MJPEG previews."""

from __future__ import annotations

from typing import Optional

from pydantic import Field, SecretStr, model_validator

from edged.config.base import MIN_FPS, EdgedModel
from edged.config.secrets import check_one_secret_source, resolve_secret

__all__ = ["HttpSinkConfig"]


class HttpSinkConfig(EdgedModel):
    """Serve a status page, ``/api/status``, ``/metrics``, ``/healthz`` and live previews."""

    host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Address to listen on; 127.0.0.1 keeps the page local, 0.0.0.0 opens it "
        "to the network (then set a token)",
    )
    port: int = Field(8080, ge=1, le=65535, description="TCP port to listen on")
    token: Optional[SecretStr] = Field(
        None,
        description="Bearer token required on every endpoint but /healthz (prefer token_file)",
    )
    token_file: Optional[str] = Field(None, description="File holding the bearer token")
    token_env: Optional[str] = Field(None, description="Environment variable with the token")
    manage: Optional[bool] = Field(
        None,
        description="Allow changing sources and pipelines through /api/sources and "
        "/api/pipelines (saved to the config file). Default: on when a token is set, off "
        "without one; it cannot be on without a token",
    )
    stream_fps: float = Field(
        10.0,
        ge=MIN_FPS,
        le=60,
        description="Most frames per second sent on each MJPEG stream (at least 1/86400)",
    )
    jpeg_quality: int = Field(
        75, ge=10, le=100, description="JPEG quality of previews and snapshots (10-100)"
    )
    preview_max_width: int = Field(
        1280,
        ge=0,
        le=8192,
        description="Previews wider than this are scaled down after drawing (0 = never)",
    )
    write_timeout_s: float = Field(
        5.0,
        gt=0,
        le=300,
        description="A viewer that cannot take one frame in this time is disconnected",
    )
    max_upload_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        le=512 * 1024 * 1024,
        description="Largest image accepted by POST /api/infer (bigger: 413)",
    )
    max_upload_pixels: int = Field(
        40_000_000,
        ge=1,
        description="Largest decoded image (width x height) accepted by POST /api/infer",
    )
    max_connections: int = Field(
        128,
        ge=1,
        le=65536,
        description="Most HTTP connections open at once (each MJPEG viewer holds one); at the "
        "limit a new one closes the connection idle longest, or gets 503 when all are busy. "
        "Lowered at start to what the file descriptor limit leaves after a reserve of 256",
    )
    header_timeout_s: float = Field(
        10.0,
        ge=0.1,
        le=300,
        description="A connection must send a request's complete headers within this time "
        "(from opening, or from its first byte after a response), else it is closed",
    )
    keepalive_timeout_s: float = Field(
        15.0,
        ge=0.1,
        le=3600,
        description="An idle keep-alive connection is closed after this time",
    )
    stale_frame_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="/healthz reports a streaming source whose newest frame is older than this",
    )
    link_grace_s: float = Field(
        60.0,
        gt=0,
        le=86400,
        description="/healthz reports a sink's link (MQTT broker) that has been down this long",
    )

    @model_validator(mode="after")
    def _one_token(self) -> HttpSinkConfig:
        check_one_secret_source("token", self.token, self.token_file, self.token_env)
        return self

    @model_validator(mode="after")
    def _manage_needs_token(self) -> HttpSinkConfig:
        if self.manage and not self.has_token:
            raise ValueError(
                "manage: true needs a token (anyone who can reach the page could change the "
                "cameras); set token_file or token_env, or remove manage"
            )
        return self

    @property
    def has_token(self) -> bool:
        return any(v is not None for v in (self.token, self.token_file, self.token_env))

    def resolved_token(self) -> Optional[str]:
        """The token from whichever of the three fields is set (reads file/env now)."""
        return resolve_secret("token", self.token, self.token_file, self.token_env)
