"""Raw GStreamer pipelines and Jetson CSI cameras (nvarguscamerasrc), in a child process.

Needs an OpenCV built with GStreamer (JetPack's is; pip's wheels are not).
"""

from __future__ import annotations

from edged.config.sources import CsiSourceConfig, GstreamerSourceConfig
from edged.sources.capture import CaptureSpec

__all__ = ["csi_pipeline", "csi_spec", "gstreamer_spec"]


def gstreamer_spec(config: GstreamerSourceConfig) -> CaptureSpec:
    return _pipeline_spec(config.uri)


def csi_spec(config: CsiSourceConfig) -> CaptureSpec:
    return _pipeline_spec(csi_pipeline(config))


def csi_pipeline(config: CsiSourceConfig) -> str:
    """The nvarguscamerasrc pipeline trt_pose's and jetcam's CSI cameras use, BGR out.

    ``drop=true max-buffers=1`` keeps only the newest frame in the appsink, so a
    slow reader gets fresh frames instead of a backlog.
    """
    return (
        f"nvarguscamerasrc sensor-id={config.sensor_id} ! "
        f"video/x-raw(memory:NVMM), width=(int){config.capture_width}, "
        f"height=(int){config.capture_height}, format=(string)NV12, "
        f"framerate=(fraction){config.capture_fps}/1 ! "
        f"nvvidconv flip-method={config.flip_method} ! "
        f"video/x-raw, width=(int){config.width}, height=(int){config.height}, "
        "format=(string)BGRx ! videoconvert ! video/x-raw, format=(string)BGR ! "
        "appsink drop=true max-buffers=1"
    )


def _pipeline_spec(pipeline: str) -> CaptureSpec:
    return CaptureSpec(
        factory="edged.sources.opencv:GstreamerCapture",
        kwargs={"pipeline": pipeline},
        isolated=True,
        label=pipeline,
    )
