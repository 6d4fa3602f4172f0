"""Typed keys for what one HTTP app holds (no module globals: each app has its own)."""

from __future__ import annotations

import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from aiohttp import web

from edged.config.http import HttpSinkConfig
from edged.http.auth import Auth
from edged.http.broadcast import Broadcasts
from edged.http.encoder import PreviewEncoder
from edged.http.guard import ConnectionGuard
from edged.http.metrics import HttpMetrics
from edged.http.view import DaemonView

__all__ = [
    "AUTH",
    "BROADCASTS",
    "CAMERA_TESTS",
    "CONFIG",
    "ENCODER",
    "GUARD",
    "MANAGE",
    "METRICS",
    "RESULTS",
    "STATIC",
    "STREAMS",
    "UPLOADS",
    "VIEW",
    "CameraTests",
    "Uploads",
]


class Uploads:
    """Try-it uploads in flight (bounded: they share the pipelines' threads) and done."""

    limit = 2

    def __init__(self) -> None:
        self.in_flight = 0
        self.done = 0
        self.seq = 0


class CameraTests:
    """Camera tests (``POST /api/sources/test``): one at a time, on their own thread.

    ``slot`` is taken on the loop and given back by the worker thread when the
    test has ended, so a client that goes away cannot start a second test
    while the first still holds a camera. ``stop`` ends a test early at shutdown.
    """

    def __init__(self) -> None:
        self.slot = threading.Semaphore(1)
        self.stop = threading.Event()
        self.executor: Optional[ThreadPoolExecutor] = None
        self.running: Optional[str] = None  # the id of the source being tested
        self.done = 0
        self.failed = 0


VIEW = web.AppKey("view", DaemonView)
CONFIG = web.AppKey("config", HttpSinkConfig)
AUTH = web.AppKey("auth", Auth)
#: Whether sources and pipelines may be changed through the API (``manage``, and a token).
MANAGE = web.AppKey("manage", bool)
#: Newest result per (pipeline_id, source_id), fed from the result bus.
RESULTS = web.AppKey("results", dict)
METRICS = web.AppKey("metrics", HttpMetrics)
#: Static files of the status page: name -> (bytes, content type).
STATIC = web.AppKey("static", dict)
UPLOADS = web.AppKey("uploads", Uploads)
CAMERA_TESTS = web.AppKey("camera_tests", CameraTests)
#: Viewers of open MJPEG streams, closed on shutdown.
STREAMS = web.AppKey("streams", weakref.WeakSet)
ENCODER = web.AppKey("encoder", PreviewEncoder)
BROADCASTS = web.AppKey("broadcasts", Broadcasts)
#: Open connections and their limits (the server's GuardedSite and a middleware use it).
GUARD = web.AppKey("guard", ConnectionGuard)
