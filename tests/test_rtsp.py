"""RTSP against a real RTSP server on loopback (GStreamer rtsp-server in its own process)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from edged.config.sources import RtspSourceConfig
from edged.sources import SourceState

from sourcekit import FakeRtsp, collect, fast_reconnect, make_source, synthetic_config, until

pytestmark = pytest.mark.usefixtures("needs_ffmpeg_opencv")


def rtsp_config(uri: str, **extra) -> RtspSourceConfig:
    values = dict(
        id="ipcam",
        kind="rtsp",
        uri=uri,
        reconnect=fast_reconnect(initial_s=0.3, max_s=1.5),
        open_timeout_s=8.0,
        stall_timeout_s=2.0,
    )
    values.update(extra)
    return RtspSourceConfig(**values)


async def test_rtsp_outage_backoff_and_recovery(rtsp_server):
    camera = make_source(rtsp_config(rtsp_server.uri))
    other = make_source(synthetic_config("other", rate=20))
    camera.start()
    other.start()
    loop = asyncio.get_running_loop()
    try:
        frames = await collect(camera, 5, timeout_s=20)
        assert len(frames) == 5 and frames[0].image.shape == (240, 320, 3)
        assert camera.state is SourceState.STREAMING

        rtsp_server.kill()
        await until(lambda: camera.state is not SourceState.STREAMING, 10)
        await until(lambda: camera.state is SourceState.BACKOFF, 10)
        during = other.frames
        await until(lambda: other.frames >= during + 10, 5)  # the rest keeps running
        reconnects_before = camera.reconnects

        await loop.run_in_executor(None, rtsp_server.start)
        frames_before = camera.frames
        # Frames resume within the backoff maximum plus one RTSP handshake.
        waited = await until(lambda: camera.frames > frames_before, 1.5 + 8.0)
        assert camera.state is SourceState.STREAMING
        assert camera.reconnects >= reconnects_before
        assert waited < 9.5
    finally:
        await asyncio.gather(
            loop.run_in_executor(None, camera.stop), loop.run_in_executor(None, other.stop)
        )


async def test_stream_that_never_sends_is_stalled_and_retried():
    server = FakeRtsp()  # accepts, never answers: the stream that hangs a naive reader
    config = rtsp_config(
        f"rtsp://127.0.0.1:{server.port}/never", open_timeout_s=1.0, reconnect=fast_reconnect()
    )
    camera = make_source(config)
    camera.start()
    try:
        await until(lambda: server.accepted >= 2, 15)
        assert camera.frames == 0
        assert camera.reconnects >= 1
        assert "no frame within 1 s (stalled)" in camera.last_error
    finally:
        await asyncio.get_running_loop().run_in_executor(None, camera.stop)
        server.close()


async def test_credentials_never_reach_logs_or_status(rtsp_server, caplog, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cr3t-pass\n")
    uri = rtsp_server.uri.replace("rtsp://", "rtsp://admin:inline-pw@")
    config = rtsp_config(uri, password_file=str(secret))
    camera = make_source(config)
    caplog.set_level(logging.DEBUG)
    camera.start()
    try:
        await collect(camera, 2, timeout_s=20)  # the test server ignores credentials
        status = camera.status()
    finally:
        await asyncio.get_running_loop().run_in_executor(None, camera.stop)
    text = caplog.text + repr(status)
    assert status["uri"] == rtsp_server.uri.replace("rtsp://", "rtsp://***@")
    assert "inline-pw" not in text and "s3cr3t-pass" not in text
    assert camera.spec.kwargs["target"].startswith("rtsp://admin:s3cr3t-pass@")
