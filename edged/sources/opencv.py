"""Capture through OpenCV's VideoCapture (FFmpeg, V4L2 or GStreamer backends)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

import numpy as np

from edged.cvutil import has_gstreamer, import_cv2
from edged.sources.capture import Capture, CaptureError, UnfixableCaptureError

__all__ = ["GstreamerCapture", "OpenCVCapture"]


class OpenCVCapture(Capture):
    """A live VideoCapture; a failed read is a lost stream, not the end of one.

    ``backend`` names a ``cv2.CAP_*`` constant (e.g. 'CAP_FFMPEG'); ``props``
    maps ``CAP_PROP_*`` names to values set after opening; the open and read
    timeouts are passed to backends that honour them (FFmpeg), as a first line
    of defence before the process isolation.
    """

    def __init__(
        self,
        target: Union[str, int],
        backend: str,
        label: str,
        props: Optional[Dict[str, Any]] = None,
        open_timeout_s: float = 20.0,
        read_timeout_s: float = 10.0,
    ):
        self.target = target
        self.backend = backend
        self.label = label
        self.props = props or {}
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self._cap = None

    def open(self) -> None:
        cv2 = import_cv2()
        api = getattr(cv2, self.backend)
        params: List[int] = []
        if self.backend == "CAP_FFMPEG":
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                int(self.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                int(self.read_timeout_s * 1000),
            ]
        cap = cv2.VideoCapture(self.target, api, params)
        if not cap.isOpened():
            cap.release()
            raise CaptureError(f"cannot open {self.label} ({self.backend})")
        for name, value in self.props.items():
            prop = getattr(cv2, name)
            if name == "CAP_PROP_FOURCC" and isinstance(value, str):
                value = cv2.VideoWriter_fourcc(*value)
            cap.set(prop, value)
        self._cap = cap

    def read(self) -> np.ndarray:
        ok, image = self._cap.read()
        if not ok or image is None:
            raise CaptureError(f"lost {self.label}: read failed")
        if image.ndim == 2:
            image = import_cv2().cvtColor(image, import_cv2().COLOR_GRAY2BGR)
        return image

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class GstreamerCapture(OpenCVCapture):
    """A GStreamer pipeline ending in appsink; refused early when OpenCV lacks GStreamer."""

    def __init__(self, pipeline: str):
        super().__init__(pipeline, "CAP_GSTREAMER", label="GStreamer pipeline")

    def open(self) -> None:
        if not has_gstreamer():
            raise UnfixableCaptureError(
                "this OpenCV was built without GStreamer, so it cannot open pipelines; "
                "on a Jetson use JetPack's OpenCV (python3-opencv) instead of pip's wheel"
            )
        super().open()
