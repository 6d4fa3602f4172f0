"""Config models for frame sources, one per ``kind``, as one discriminated union."""

from __future__ import annotations

import re
from typing import Optional, Union
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from typing_extensions import Annotated, Literal

from edged.config.base import MIN_FPS, EdgedModel
from edged.config.secrets import check_one_secret_source, resolve_secret

__all__ = [
    "CsiSourceConfig",
    "FileSourceConfig",
    "GstreamerSourceConfig",
    "JetcamSourceConfig",
    "ReconnectConfig",
    "RtspSourceConfig",
    "SourceConfig",
    "SyntheticSourceConfig",
    "V4l2SourceConfig",
]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
ID_DESCRIPTION = (
    "Unique id; used in MQTT topics and URLs, so letters, digits, '_' and '-' only (max 64)"
)


class ReconnectConfig(EdgedModel):
    """Exponential backoff with jitter between reconnect attempts."""

    initial_s: float = Field(0.5, gt=0, le=3600, description="First wait after a failure, seconds")
    max_s: float = Field(30.0, gt=0, le=3600, description="Longest wait between attempts, seconds")
    stable_s: float = Field(
        30.0, gt=0, description="Streaming this long without a failure resets the backoff, seconds"
    )

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> ReconnectConfig:
        if self.max_s < self.initial_s:
            raise ValueError(
                f"max_s ({self.max_s}) is below initial_s ({self.initial_s}); "
                "set max_s >= initial_s"
            )
        return self


class SourceBase(EdgedModel):
    """Fields every source has."""

    id: str = Field(pattern=ID_PATTERN, description=ID_DESCRIPTION)
    fps: Optional[float] = Field(
        None,
        ge=MIN_FPS,
        le=240,
        description="Cap on frames per second handed on (at least 1/86400: one a day); "
        "none = as delivered",
    )
    reconnect: ReconnectConfig = Field(
        default_factory=ReconnectConfig, description="Backoff between reconnect attempts"
    )
    open_timeout_s: float = Field(
        20.0, gt=0, le=600, description="Longest wait for the first frame after (re)connecting"
    )
    stall_timeout_s: float = Field(
        10.0, gt=0, le=600, description="A stream with no new frame for this long is restarted"
    )


class FileSourceConfig(SourceBase):
    """A video file, one image, a directory of images, or a glob."""

    kind: Literal["file"] = Field(description="Read frames from files")
    uri: str = Field(
        min_length=1, description="Video file, image file, directory of images, or glob pattern"
    )
    loop: bool = Field(False, description="Start again at the end instead of stopping")
    realtime: bool = Field(
        False, description="Play at the file's own fps; otherwise as fast as frames are consumed"
    )


class V4l2SourceConfig(SourceBase):
    """A USB/V4L2 camera through OpenCV."""

    kind: Literal["v4l2"] = Field(description="USB or other V4L2 camera")
    uri: Union[int, str] = Field(description="/dev/videoN or the index N")
    width: Optional[int] = Field(None, gt=0, le=8192, description="Requested capture width")
    height: Optional[int] = Field(None, gt=0, le=8192, description="Requested capture height")
    fourcc: Optional[str] = Field(
        None, pattern=r"^[A-Z0-9]{4}$", description="Requested pixel format, e.g. MJPG or YUYV"
    )

    @field_validator("uri")
    @classmethod
    def _device(cls, value: Union[int, str]) -> Union[int, str]:
        if isinstance(value, int):
            if value < 0:
                raise ValueError("a device index is 0 or more, e.g. 0 for /dev/video0")
            return value
        if value.isdigit():
            return int(value)
        if not value.startswith("/dev/"):
            raise ValueError("expected /dev/videoN or an index such as 0")
        return value


class RtspSourceConfig(SourceBase):
    """An RTSP stream (IP camera, NVR) read through OpenCV's FFmpeg or GStreamer."""

    kind: Literal["rtsp"] = Field(description="RTSP stream")
    uri: str = Field(description="rtsp://[user:pass@]host[:port]/path; credentials are redacted")
    transport: Literal["tcp", "udp"] = Field(
        "tcp", description="RTP transport; TCP survives lossy Wi-Fi and NAT better"
    )
    username: Optional[str] = Field(None, description="User name, if not in the URI")
    password: Optional[SecretStr] = Field(None, description="Password (prefer password_file)")
    password_file: Optional[str] = Field(None, description="File holding the password")
    password_env: Optional[str] = Field(None, description="Environment variable with the password")

    @field_validator("uri")
    @classmethod
    def _rtsp_uri(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("rtsp", "rtsps"):
            raise ValueError("expected a URI starting with rtsp:// or rtsps://")
        if not parts.hostname:
            raise ValueError("the URI has no host; expected rtsp://host[:port]/path")
        try:
            parts.port  # noqa: B018 - raises on a non-numeric or out-of-range port
        except ValueError:
            raise ValueError("the port is not a number between 0 and 65535") from None
        return value

    @model_validator(mode="after")
    def _one_password(self) -> RtspSourceConfig:
        check_one_secret_source("password", self.password, self.password_file, self.password_env)
        return self

    def resolved_password(self) -> Optional[str]:
        """The password from whichever of the three fields is set (reads file/env now)."""
        return resolve_secret("password", self.password, self.password_file, self.password_env)


class GstreamerSourceConfig(SourceBase):
    """A raw GStreamer pipeline string ending in an appsink (needs GStreamer-enabled OpenCV)."""

    kind: Literal["gstreamer"] = Field(description="Raw GStreamer pipeline")
    uri: str = Field(description="Pipeline text ending in 'appsink ...'")

    @field_validator("uri")
    @classmethod
    def _ends_in_appsink(cls, value: str) -> str:
        last = value.strip().split("!")[-1].strip()
        if not re.match(r"^appsink(\s|$)", last):
            raise ValueError(
                "the pipeline must end in an appsink element, e.g. "
                "'... ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1'"
            )
        return value


class CsiSourceConfig(SourceBase):
    """A Jetson CSI camera through nvarguscamerasrc (built into a GStreamer pipeline)."""

    kind: Literal["csi"] = Field(description="Jetson CSI camera (nvarguscamerasrc)")
    sensor_id: int = Field(0, ge=0, le=15, description="nvarguscamerasrc sensor-id")
    capture_width: int = Field(1280, gt=0, le=8192, description="Sensor mode width")
    capture_height: int = Field(720, gt=0, le=8192, description="Sensor mode height")
    capture_fps: int = Field(30, gt=0, le=240, description="Sensor mode frame rate")
    width: int = Field(1280, gt=0, le=8192, description="Width of the frames handed on")
    height: int = Field(720, gt=0, le=8192, description="Height of the frames handed on")
    flip_method: int = Field(
        0, ge=0, le=7, description="nvvidconv flip-method (0 = none, 2 = 180°)"
    )


class JetcamSourceConfig(SourceBase):
    """jetcam's CSICamera or USBCamera (pip/git install jetcam on the Jetson)."""

    kind: Literal["jetcam"] = Field(description="jetcam camera adapter")
    camera: Literal["csi", "usb"] = Field("csi", description="Which jetcam class to use")
    capture_device: int = Field(0, ge=0, description="Sensor id (csi) or /dev/videoN index (usb)")
    width: int = Field(224, gt=0, le=8192, description="Output width")
    height: int = Field(224, gt=0, le=8192, description="Output height")
    capture_width: int = Field(816, gt=0, le=8192, description="Capture width")
    capture_height: int = Field(616, gt=0, le=8192, description="Capture height")
    capture_fps: int = Field(30, gt=0, le=240, description="Capture frame rate")


class SyntheticSourceConfig(SourceBase):
    """A generated moving test pattern with the frame number drawn in it."""

    kind: Literal["synthetic"] = Field(description="Generated test frames, no hardware needed")
    width: int = Field(640, ge=16, le=8192, description="Frame width")
    height: int = Field(480, ge=16, le=8192, description="Frame height")
    rate: float = Field(
        15.0,
        ge=MIN_FPS,
        le=240,
        description="Frames generated per second (at least 1/86400: one a day)",
    )
    scene: Literal["pattern", "gauges"] = Field(
        "pattern",
        description="What to draw: a test pattern, or analog gauges whose needles move "
        "(their true values travel with each frame)",
    )
    gauges: int = Field(2, ge=1, le=6, description="scene: gauges — how many dials")
    seed: int = Field(0, ge=0, description="scene: gauges — picks the dials' looks and layout")
    period_s: float = Field(
        30.0, gt=0, description="scene: gauges — seconds for a needle to swing up and back"
    )
    meters: int = Field(
        0,
        ge=0,
        le=4,
        description="scene: gauges — water-meter sub-dials in a strip along the bottom, their "
        "pointers turning (read with the pointer model from an roi)",
    )
    displays: int = Field(
        0,
        ge=0,
        le=4,
        description="scene: gauges — seven-segment displays at the bottom left, showing a "
        "number with one decimal that rises and falls (read as gauges of type digital)",
    )
    panels: int = Field(
        0,
        ge=0,
        le=3,
        description="scene: gauges — panel meters (ammeters, voltmeters) after the dials in "
        "their row, square on (read with reader: panel from an roi)",
    )


SourceConfig = Annotated[
    Union[
        FileSourceConfig,
        V4l2SourceConfig,
        RtspSourceConfig,
        GstreamerSourceConfig,
        CsiSourceConfig,
        JetcamSourceConfig,
        SyntheticSourceConfig,
    ],
    Field(discriminator="kind"),
]
