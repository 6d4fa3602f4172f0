"""USB and other V4L2 cameras through OpenCV's V4L2 backend, in a child process."""

from __future__ import annotations

from typing import Any, Dict

from edged.config.sources import V4l2SourceConfig
from edged.sources.capture import CaptureSpec

__all__ = ["v4l2_spec"]


def v4l2_spec(config: V4l2SourceConfig) -> CaptureSpec:
    props: Dict[str, Any] = {}
    if config.fourcc:
        props["CAP_PROP_FOURCC"] = config.fourcc
    if config.width:
        props["CAP_PROP_FRAME_WIDTH"] = config.width
    if config.height:
        props["CAP_PROP_FRAME_HEIGHT"] = config.height
    if config.fps:
        props["CAP_PROP_FPS"] = config.fps
    props["CAP_PROP_BUFFERSIZE"] = 1  # newest frame, not a queue of stale ones
    label = config.uri if isinstance(config.uri, str) else f"/dev/video{config.uri}"
    return CaptureSpec(
        factory="edged.sources.opencv:OpenCVCapture",
        kwargs={"target": config.uri, "backend": "CAP_V4L2", "label": label, "props": props},
        isolated=True,
        label=label,
    )
