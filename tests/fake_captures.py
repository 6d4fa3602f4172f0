"""Captures that misbehave on purpose, built inside the capture child process by tests."""

from __future__ import annotations

import time

import numpy as np

from edged.sources.capture import Capture, CaptureError


class HangingCapture(Capture):
    """Delivers ``frames`` frames, then blocks in read() for an hour (a wedged driver)."""

    def __init__(self, frames: int = 3):
        self.frames = frames
        self._n = 0

    def read(self) -> np.ndarray:
        if self._n >= self.frames:
            time.sleep(3600)
        self._n += 1
        time.sleep(0.01)
        return np.full((48, 64, 3), self._n, np.uint8)


class SilentCapture(Capture):
    """Opens but never delivers a frame (a stream that accepts and sends nothing)."""

    def read(self) -> np.ndarray:
        time.sleep(3600)
        raise AssertionError("unreachable")


class FailingCapture(Capture):
    """Cannot open: the device is not there."""

    def open(self) -> None:
        raise CaptureError("no such camera: /dev/video99")


class ResizingCapture(Capture):
    """Changes resolution after a few frames, like a camera renegotiating."""

    def __init__(self) -> None:
        self._n = 0

    def read(self) -> np.ndarray:
        self._n += 1
        time.sleep(0.01)
        size = (48, 64) if self._n <= 3 else (96, 128)
        return np.full((*size, 3), self._n % 256, np.uint8)


class NoGstreamerCapture(Capture):
    """Like GstreamerCapture on an OpenCV without GStreamer: retrying cannot help."""

    def open(self) -> None:
        from edged.sources.capture import UnfixableCaptureError

        raise UnfixableCaptureError("this OpenCV was built without GStreamer")
