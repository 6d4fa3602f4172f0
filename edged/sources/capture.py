"""What every kind of source provides: a blocking ``Capture`` and a picklable spec of it.

A ``Capture`` is the library-facing part (OpenCV, jetcam, a file reader). It is
built from a ``CaptureSpec`` so that it can be built inside a child process
(see ``isolation.py``), where a library call that never returns can be killed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np

from edged.redact import redact

__all__ = ["Capture", "CaptureError", "CaptureSpec", "EndOfStream", "UnfixableCaptureError"]


class CaptureError(Exception):
    """The device or stream failed; the source backs off and reconnects."""


class UnfixableCaptureError(CaptureError):
    """Retrying cannot help (a library is missing, OpenCV lacks GStreamer): the source fails."""


class EndOfStream(Exception):
    """A finite source (a file without ``loop``) has no more frames."""


class Capture:
    """Blocking frame capture. Subclasses override ``open``, ``read`` and ``close``."""

    #: Frames per second to pace reads at (synthetic and realtime files), or None.
    pace_fps: Optional[float] = None
    #: Hand on the next frame only once the last was consumed (files: skip nothing).
    follow_consumer: bool = False

    def open(self) -> None:
        """Connect to the device or stream; raise CaptureError on failure."""

    def read(self) -> np.ndarray:
        """The next BGR uint8 image; raise CaptureError, or EndOfStream at the end."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the device; must be safe to call more than once."""

    def frame_meta(self) -> Dict[str, Any]:
        """Extra facts about the last frame (e.g. its position in a file)."""
        return {}


@dataclass(frozen=True)
class CaptureSpec:
    """How to build a Capture: ``factory`` is 'module:callable', called with ``kwargs``.

    ``isolated`` captures run in a child process; ``label`` is what logs and the
    status page show (credentials already removed).
    """

    factory: str
    kwargs: Dict[str, Any] = field(default_factory=dict)
    isolated: bool = False
    label: str = ""
    env: Dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The label reaches the log, /api/status, MQTT stats and ``edged check``:
        # scrub it here once, whatever kind of source built it.
        object.__setattr__(self, "label", redact(self.label))

    def build(self) -> Capture:
        module_name, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module_name), attr)(**self.kwargs)
