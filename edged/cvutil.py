"""Import OpenCV lazily, with a message that says exactly what to install.

edged never forces pip's OpenCV: on a Jetson, JetPack's own build has
GStreamer (and CSI camera) support, and pip's wheel would shadow it.
"""

from __future__ import annotations

from types import ModuleType

__all__ = ["OPENCV_MISSING", "OpenCVMissingError", "has_gstreamer", "import_cv2"]

OPENCV_MISSING = (
    "OpenCV (cv2) is not installed. On a Jetson, use JetPack's OpenCV "
    "(sudo apt install python3-opencv, or a venv created with --system-site-packages); "
    "elsewhere: pip install 'edged[opencv]' (opencv-python-headless)."
)


class OpenCVMissingError(ImportError):
    """cv2 cannot be imported."""


def import_cv2() -> ModuleType:
    try:
        import cv2
    except ImportError as exc:
        raise OpenCVMissingError(f"{OPENCV_MISSING} ({exc})") from None
    return cv2


def has_gstreamer() -> bool:
    """True when this OpenCV build can open GStreamer pipelines."""
    cv2 = import_cv2()
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line.split(":", 1)[1]
    return False
