"""Frame sources: one module per kind, built from their config by ``capture_spec``."""

from __future__ import annotations

from typing import Any, Callable, Dict

from edged.sources.capture import Capture, CaptureError, CaptureSpec, EndOfStream
from edged.sources.source import Source, SourceState

__all__ = [
    "Capture",
    "CaptureError",
    "CaptureSpec",
    "EndOfStream",
    "Source",
    "SourceState",
    "capture_spec",
]


def capture_spec(config: Any) -> CaptureSpec:
    """The CaptureSpec for a source config, whatever its kind."""
    from edged.sources.file import file_spec
    from edged.sources.gstreamer import csi_spec, gstreamer_spec
    from edged.sources.jetcam import jetcam_spec
    from edged.sources.rtsp import rtsp_spec
    from edged.sources.synthetic import synthetic_spec
    from edged.sources.v4l2 import v4l2_spec

    builders: Dict[str, Callable[[Any], CaptureSpec]] = {
        "file": file_spec,
        "v4l2": v4l2_spec,
        "rtsp": rtsp_spec,
        "gstreamer": gstreamer_spec,
        "csi": csi_spec,
        "jetcam": jetcam_spec,
        "synthetic": synthetic_spec,
    }
    return builders[config.kind](config)
