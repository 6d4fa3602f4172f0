"""jetcam's CSICamera / USBCamera (NVIDIA-AI-IOT/jetcam), as trt_pose's live demo uses."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from edged.config.sources import JetcamSourceConfig
from edged.sources.capture import Capture, CaptureError, CaptureSpec, UnfixableCaptureError

__all__ = ["JetcamCapture", "jetcam_spec"]

JETCAM_MISSING = (
    "jetcam is not installed: pip install git+https://github.com/NVIDIA-AI-IOT/jetcam "
    "(on the Jetson), or use kind: csi / v4l2, which need only OpenCV"
)


def jetcam_spec(config: JetcamSourceConfig) -> CaptureSpec:
    kwargs = config.model_dump(
        include={"camera", "capture_device", "width", "height", "capture_width", "capture_height"}
    )
    kwargs["capture_fps"] = config.capture_fps
    return CaptureSpec(
        factory="edged.sources.jetcam:JetcamCapture",
        kwargs=kwargs,
        isolated=True,
        label=f"jetcam {config.camera} {config.capture_device}",
    )


class JetcamCapture(Capture):
    """Reads jetcam's camera synchronously (``camera.read()``), one frame per call."""

    def __init__(self, camera: str, capture_device: int, **size: int):
        self.kind = camera
        self.capture_device = capture_device
        self.size = size
        self._camera: Optional[Any] = None

    def open(self) -> None:
        try:
            if self.kind == "csi":
                from jetcam.csi_camera import CSICamera as Camera
            else:
                from jetcam.usb_camera import USBCamera as Camera
        except ImportError:
            raise UnfixableCaptureError(JETCAM_MISSING) from None
        try:
            self._camera = Camera(capture_device=self.capture_device, **self.size)
        except Exception as exc:  # jetcam raises RuntimeError('Could not initialize camera…')
            raise CaptureError(f"jetcam could not open the camera: {exc}") from None

    def read(self) -> np.ndarray:
        try:
            image = self._camera.read()
        except Exception as exc:
            raise CaptureError(f"jetcam read failed: {exc}") from None
        if image is None:
            raise CaptureError("jetcam returned no image")
        return image

    def close(self) -> None:
        camera, self._camera = self._camera, None
        cap = getattr(camera, "cap", None)
        if cap is not None:
            cap.release()
