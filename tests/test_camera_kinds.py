"""Camera kinds that need hardware: spec building, a jetcam contract test, Jetson tests."""

from __future__ import annotations

import os
import sys
import types

import numpy as np
import pytest

from edged.config import parse_config
from edged.sources import SourceState, capture_spec
from edged.sources.gstreamer import csi_pipeline
from edged.sources.jetcam import JetcamCapture

from sourcekit import collect, make_source, until


def _source(text: str):
    return parse_config(f"sources:\n  - {text}\n").sources[0]


def test_csi_pipeline_matches_the_jetcam_form():
    config = _source("{id: c, kind: csi, sensor_id: 1, width: 640, height: 360, flip_method: 2}")
    pipeline = csi_pipeline(config)
    assert pipeline.startswith("nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM)")
    assert "framerate=(fraction)30/1" in pipeline and "nvvidconv flip-method=2" in pipeline
    assert "width=(int)640, height=(int)360" in pipeline
    assert pipeline.endswith("appsink drop=true max-buffers=1")
    assert capture_spec(config).isolated


def test_v4l2_spec_requests_size_format_and_a_one_frame_buffer():
    spec = capture_spec(_source("{id: u, kind: v4l2, uri: 2, width: 1280, fourcc: MJPG, fps: 30}"))
    assert spec.kwargs["target"] == 2 and spec.kwargs["backend"] == "CAP_V4L2"
    assert spec.kwargs["props"] == {
        "CAP_PROP_FOURCC": "MJPG",
        "CAP_PROP_FRAME_WIDTH": 1280,
        "CAP_PROP_FPS": 30.0,
        "CAP_PROP_BUFFERSIZE": 1,
    }
    assert spec.label == "/dev/video2" and spec.isolated


async def test_gstreamer_source_without_gstreamer_opencv_fails_clearly():
    """Real test: pip's OpenCV has no GStreamer; on a Jetson's OpenCV this test is skipped."""
    from edged.cvutil import has_gstreamer

    pytest.importorskip("cv2")
    if has_gstreamer():
        pytest.skip("this OpenCV has GStreamer")
    source = make_source(_source("{id: g, kind: gstreamer, uri: 'videotestsrc ! appsink'}"))
    source.start()
    try:
        await until(lambda: source.state is SourceState.FAILED, 15)
    finally:
        source.stop()
    assert "without GStreamer" in source.last_error and "JetPack's OpenCV" in source.last_error
    assert source.reconnects == 0


class _FakeJetcamCamera:
    """Contract fake of jetcam's camera classes: constructor keywords and read()."""

    instances: list = []

    def __init__(self, capture_device=0, width=224, height=224, **kwargs):
        self.kwargs = dict(capture_device=capture_device, width=width, height=height, **kwargs)
        self.cap = types.SimpleNamespace(released=False)
        self.cap.release = lambda: setattr(self.cap, "released", True)
        self.frames = 0
        _FakeJetcamCamera.instances.append(self)

    def read(self):
        self.frames += 1
        return np.full((self.kwargs["height"], self.kwargs["width"], 3), self.frames, np.uint8)


@pytest.fixture
def fake_jetcam(monkeypatch):
    """Contract test stand-in: jetcam (a Jetson-only library) replaced by a fake of its API."""
    package = types.ModuleType("jetcam")
    for name, cls in (("csi_camera", "CSICamera"), ("usb_camera", "USBCamera")):
        module = types.ModuleType(f"jetcam.{name}")
        setattr(module, cls, type(cls, (_FakeJetcamCamera,), {}))
        monkeypatch.setitem(sys.modules, f"jetcam.{name}", module)
        setattr(package, name, module)
    monkeypatch.setitem(sys.modules, "jetcam", package)
    _FakeJetcamCamera.instances.clear()
    return _FakeJetcamCamera


def test_jetcam_adapter_contract(fake_jetcam):
    """Contract test against a fake jetcam: keywords passed through, frames read, cap released."""
    config = _source(
        "{id: j, kind: jetcam, camera: usb, capture_device: 1, width: 320, height: 240}"
    )
    spec = capture_spec(config)
    capture = spec.build()
    capture.open()
    image = capture.read()
    capture.close()
    camera = fake_jetcam.instances[0]
    assert type(camera).__name__ == "USBCamera"
    assert camera.kwargs == {
        "capture_device": 1,
        "width": 320,
        "height": 240,
        "capture_width": 816,
        "capture_height": 616,
        "capture_fps": 30,
    }
    assert image.shape == (240, 320, 3) and camera.cap.released


def test_jetcam_missing_is_unfixable_with_install_hint(monkeypatch):
    from edged.sources.capture import UnfixableCaptureError

    monkeypatch.setitem(sys.modules, "jetcam", None)
    monkeypatch.setitem(sys.modules, "jetcam.csi_camera", None)
    with pytest.raises(UnfixableCaptureError, match="pip install git"):
        JetcamCapture("csi", 0, width=224, height=224).open()


@pytest.mark.jetson
async def test_real_csi_camera_on_a_jetson():
    if not os.path.exists("/tmp/argus_socket"):
        pytest.skip("no Argus daemon (/tmp/argus_socket): not a Jetson with a CSI camera")
    source = make_source(_source("{id: csi0, kind: csi, width: 640, height: 360}"))
    source.start()
    try:
        frames = await collect(source, 5, timeout_s=30)
    finally:
        source.stop()
    assert frames[0].image.shape == (360, 640, 3)


@pytest.mark.jetson
async def test_real_usb_camera():
    if not os.path.exists("/dev/video0"):
        pytest.skip("no /dev/video0")
    source = make_source(_source("{id: usb0, kind: v4l2, uri: /dev/video0}"))
    source.start()
    try:
        frames = await collect(source, 5, timeout_s=30)
    finally:
        source.stop()
    assert frames[-1].image.ndim == 3
