"""Shared fixtures: free ports, real helper processes, the shared test data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Optional

import pytest

from sourcekit import free_tcp_port

REPO = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"


class RtspServer:
    """GStreamer's rtsp-server on loopback, as a separate process that tests can kill."""

    def __init__(self, port: int):
        self.port = port
        self.proc: Optional[subprocess.Popen] = None
        self.uri = f"rtsp://127.0.0.1:{port}/test"

    def start(self) -> None:
        script = str(REPO / "tests" / "servers" / "rtsp_server.py")
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, script, str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        if line != "READY":
            self.stop()
            raise RuntimeError(f"RTSP server did not start: {line!r}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


def _rtsp_server_available() -> Optional[str]:
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} not found"
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); "
            "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
            "assert Gst.ElementFactory.find('x264enc'), 'x264enc missing'",
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return (
            "GStreamer RTSP server unavailable (apt install python3-gi gir1.2-gst-rtsp-server-1.0 "
            f"gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly): {probe.stderr.strip()[-200:]}"
        )
    return None


@pytest.fixture
def rtsp_server() -> Iterator[RtspServer]:
    reason = _rtsp_server_available()
    if reason:
        pytest.skip(reason)
    server = RtspServer(free_tcp_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def edged_cmd() -> list:
    """Command prefix that runs this checkout's edged in a subprocess."""
    return [sys.executable, "-m", "edged"]


@pytest.fixture
def needs_ffmpeg_opencv() -> None:
    cv2 = pytest.importorskip("cv2")
    info = cv2.getBuildInformation()
    if "FFMPEG:" not in info or "YES" not in info.split("FFMPEG:")[1].splitlines()[0]:
        pytest.skip("this OpenCV has no FFmpeg backend")


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
