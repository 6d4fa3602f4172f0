"""The HTTP side of edged: status page, JSON API, metrics, MJPEG previews, try-it uploads.

``make_app`` builds the aiohttp application; ``edged.sinks.http.HttpSink`` runs
it as a daemon part. See ``README.md`` in this package for the endpoints.
"""

from __future__ import annotations

from edged.http.app import make_app
from edged.http.view import DaemonView

__all__ = ["DaemonView", "make_app"]
