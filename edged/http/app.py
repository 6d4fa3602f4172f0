"""The app factory: routes, typed state, and the previews' executor as a cleanup context."""

from __future__ import annotations

import logging
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterable, Optional, Tuple

from aiohttp import web

from edged.config.http import HttpSinkConfig
from edged.config.secrets import SecretError
from edged.http import mjpeg, upload, views
from edged.http.auth import (
    Auth,
    login_page,
    make_auth_middleware,
    make_login,
    same_origin_middleware,
)
from edged.http.broadcast import Broadcasts
from edged.http.encoder import PreviewEncoder
from edged.http.guard import ConnectionGuard
from edged.http.keys import (
    AUTH,
    BROADCASTS,
    CAMERA_TESTS,
    CONFIG,
    ENCODER,
    GUARD,
    MANAGE,
    METRICS,
    RESULTS,
    STATIC,
    STREAMS,
    UPLOADS,
    VIEW,
    CameraTests,
    Uploads,
)
from edged.http.manage import camera_tests, manage_routes
from edged.http.metrics import HttpMetrics
from edged.http.targets import TargetKey, latest_picture
from edged.http.view import DaemonView
from edged.results import Result

__all__ = ["STATIC_DIR", "make_app", "note_results"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
#: Route pattern for ids in URLs: the config's id pattern, so nothing else even matches.
ID = "{id:[A-Za-z0-9][A-Za-z0-9_-]{0,63}}"
ENCODER_THREADS = 2

_UNSET = object()


def make_app(
    view: DaemonView,
    config: HttpSinkConfig,
    *,
    token: Optional[str] = _UNSET,  # type: ignore[assignment]
) -> web.Application:
    """Build the HTTP app over a running daemon (or anything with its ``DaemonView``).

    The token is read from the config (file/env) now, unless given; an
    unreadable or empty token is an error, never a silently open server.
    """
    if token is _UNSET:
        token = config.resolved_token()
    if token is not None and not token.strip():
        raise SecretError("token", "the configured token is empty", "set a non-empty token")
    auth = Auth(token.strip() if token else None)
    guard = ConnectionGuard(
        config.max_connections, config.header_timeout_s, config.keepalive_timeout_s
    )
    app = web.Application(
        middlewares=[guard.middleware, same_origin_middleware, make_auth_middleware(auth)],
        client_max_size=config.max_upload_bytes + upload.FORM_OVERHEAD,
    )
    app[VIEW] = view
    app[CONFIG] = config
    app[AUTH] = auth
    # Without a token, nothing can be changed whatever the config says.
    app[MANAGE] = auth.enabled and config.manage is not False
    app[GUARD] = guard
    app[RESULTS] = {}
    app[STREAMS] = weakref.WeakSet()
    app[UPLOADS] = Uploads()
    app[CAMERA_TESTS] = CameraTests()
    app[STATIC] = load_static(STATIC_DIR.iterdir())
    app[METRICS] = HttpMetrics(view, lambda: _metric_stats(app))
    app.cleanup_ctx.append(_previews)
    app.cleanup_ctx.append(camera_tests)
    app.on_shutdown.append(_close_streams)
    app.add_routes(
        [
            web.get("/", views.index),
            web.get("/static/{name}", views.static),
            web.get("/login", login_page),
            web.post("/login", make_login(auth)),
            web.get("/api/status", views.api_status),
            web.get("/healthz", views.healthz),
            web.get("/metrics", views.metrics),
            web.get(f"/stream/{ID}.mjpg", mjpeg.stream, allow_head=False),
            web.get(f"/snapshot/{ID}.jpg", views.snapshot),
            web.post(f"/api/infer/{ID}", upload.infer),
            *manage_routes(ID),
        ]
    )
    return app


def load_static(paths: Iterable[Path]) -> Dict[str, Tuple[bytes, str]]:
    """The page's files by name, read once; served from memory, never from a URL path."""
    files = {}
    for path in paths:
        ctype = STATIC_TYPES.get(path.suffix)
        if ctype is not None and path.is_file():
            files[path.name] = (path.read_bytes(), ctype)
    if "index.html" not in files:
        raise FileNotFoundError(f"the status page is missing from {STATIC_DIR} (package data)")
    return files


def note_results(app: web.Application, results: Iterable[Result]) -> None:
    """Feed results from the bus: newest per (pipeline, source) for previews, and metrics."""
    newest = app[RESULTS]
    metrics = app[METRICS]
    for result in results:
        newest[(result.pipeline_id, result.source_id)] = result
        metrics.observe(result)


async def _previews(app: web.Application) -> AsyncIterator[None]:
    """The JPEG executor and the broadcasts live as long as the app serves."""
    config = app[CONFIG]
    executor = ThreadPoolExecutor(ENCODER_THREADS, thread_name_prefix="http-jpeg")
    encoder = PreviewEncoder(executor, config.jpeg_quality, config.preview_max_width)
    view = app[VIEW]
    results = app[RESULTS]

    def sample(key: TargetKey) -> object:
        return latest_picture(view, key, results)

    app[ENCODER] = encoder
    app[BROADCASTS] = Broadcasts(sample, encoder, config.stream_fps, config.write_timeout_s)
    yield
    await app[BROADCASTS].close()
    executor.shutdown(wait=False)


async def _close_streams(app: web.Application) -> None:
    """On shutdown, end every MJPEG stream so its handler returns within the grace period."""
    for viewer in list(app[STREAMS]):
        viewer.close()


def _metric_stats(app: web.Application) -> Dict[str, Any]:
    stats = views.http_stats(app)
    stats["uploads"] = app[UPLOADS].done
    return stats
