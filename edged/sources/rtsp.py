"""RTSP streams (IP cameras, NVRs), read by OpenCV's FFmpeg backend in a child process."""

from __future__ import annotations

from typing import Optional
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from edged.config.sources import RtspSourceConfig
from edged.redact import redact
from edged.sources.capture import CaptureSpec

__all__ = ["rtsp_spec", "with_credentials"]


def with_credentials(uri: str, username: Optional[str], password: Optional[str]) -> str:
    """The URI with user/password put in (percent-encoded), replacing any it had."""
    if username is None and password is None:
        return uri
    parts = urlsplit(uri)
    user = username if username is not None else unquote(parts.username or "")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = quote(user, safe="")
    if password is not None:
        netloc += ":" + quote(password, safe="")
    netloc += "@" + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def rtsp_spec(config: RtspSourceConfig) -> CaptureSpec:
    uri = with_credentials(config.uri, config.username, config.resolved_password())
    label = redact(config.uri)
    return CaptureSpec(
        factory="edged.sources.opencv:OpenCVCapture",
        kwargs={
            "target": uri,
            "backend": "CAP_FFMPEG",
            "label": label,
            "open_timeout_s": config.open_timeout_s,
            "read_timeout_s": config.stall_timeout_s,
        },
        isolated=True,
        label=label,
        env={"OPENCV_FFMPEG_CAPTURE_OPTIONS": f"rtsp_transport;{config.transport}"},
    )
