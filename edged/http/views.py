"""The status page, ``/api/status``, ``/healthz``, ``/metrics`` and ``/snapshot/{id}.jpg``."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from edged.http.errors import json_error
from edged.http.health import health_reasons, progress_ages
from edged.http.keys import (
    AUTH,
    BROADCASTS,
    CONFIG,
    ENCODER,
    MANAGE,
    METRICS,
    RESULTS,
    STATIC,
    VIEW,
)
from edged.http.lookup import target_or_404
from edged.http.targets import GONE, latest_picture

__all__ = ["api_status", "healthz", "index", "metrics", "snapshot", "static", "status_document"]

NO_STORE = {"Cache-Control": "no-store"}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)


async def index(request: web.Request) -> web.Response:
    body, ctype = request.app[STATIC]["index.html"]
    return web.Response(body=body, content_type=ctype, charset="utf-8", headers=NO_STORE)


async def static(request: web.Request) -> web.Response:
    entry = request.app[STATIC].get(request.match_info["name"])
    if entry is None:
        raise json_error(web.HTTPNotFound, "no such file")
    body, ctype = entry
    return web.Response(body=body, content_type=ctype, charset="utf-8", headers=NO_STORE)


def _preview_urls(kind: str, ident: str, source: Optional[str], ambiguous: bool) -> Dict[str, str]:
    query: List[str] = []
    if ambiguous:
        query.append(f"kind={kind}")
    if source is not None:
        query.append(f"source={source}")
    suffix = "?" + "&".join(query) if query else ""
    return {"stream": f"/stream/{ident}.mjpg{suffix}", "snapshot": f"/snapshot/{ident}.jpg{suffix}"}


def status_document(app: web.Application) -> Dict[str, Any]:
    """``daemon.status()`` plus health, preview URLs and the HTTP side's own counters."""
    view = app[VIEW]
    config = app[CONFIG]
    status = dict(view.status())
    reasons = health_reasons(status, progress_ages(view), config.stale_frame_s, config.link_grace_s)
    source_ids = {s["id"] for s in status.get("sources", [])}
    pipeline_ids = {p["id"] for p in status.get("pipelines", [])}
    sources = []
    for entry in status.get("sources", []):
        ident = entry["id"]
        urls = _preview_urls("source", ident, None, ident in pipeline_ids)
        sources.append({**entry, **urls})
    pipelines = []
    for entry in status.get("pipelines", []):
        ident = entry["id"]
        ambiguous = ident in source_ids
        inputs = entry.get("sources") or []
        previews = [
            {"source_id": sid, **_preview_urls("pipeline", ident, sid if i else None, ambiguous)}
            for i, sid in enumerate(inputs)
        ]
        first = previews[0] if previews else _preview_urls("pipeline", ident, None, ambiguous)
        pipelines.append(
            {
                **entry,
                "stream": first["stream"],
                "snapshot": first["snapshot"],
                "previews": previews,
            }
        )
    status["sources"] = sources
    status["pipelines"] = pipelines
    status["health"] = {"ok": not reasons, "reasons": reasons}
    status["http"] = http_stats(app)
    return status


def http_stats(app: web.Application) -> Dict[str, Any]:
    encoder = app.get(ENCODER)
    broadcasts = app.get(BROADCASTS)
    viewers = broadcasts.viewers() if broadcasts is not None else {}
    return {
        "auth": app[AUTH].enabled,
        "manage": app[MANAGE],
        "stream_fps": app[CONFIG].stream_fps,
        "jpeg_quality": app[CONFIG].jpeg_quality,
        "max_upload_bytes": app[CONFIG].max_upload_bytes,
        "streams": viewers,
        "viewers": sum(viewers.values()),
        "encodes": encoder.encodes if encoder is not None else 0,
        "encode_seconds": round(encoder.encode_seconds, 4) if encoder is not None else 0.0,
        "dropped_slow": broadcasts.dropped_slow if broadcasts is not None else 0,
    }


async def api_status(request: web.Request) -> web.Response:
    return web.json_response(status_document(request.app), dumps=_dumps, headers=NO_STORE)


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    view = app[VIEW]
    config = app[CONFIG]
    reasons = health_reasons(
        view.status(), progress_ages(view), config.stale_frame_s, config.link_grace_s
    )
    body = {"ok": not reasons, "reasons": reasons}
    return web.json_response(body, status=503 if reasons else 200, headers=NO_STORE)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, **NO_STORE})


async def snapshot(request: web.Request) -> web.Response:
    key = target_or_404(request)
    app = request.app
    picture = latest_picture(app[VIEW], key, app[RESULTS])
    if picture is None or picture is GONE:
        raise json_error(
            web.HTTPServiceUnavailable,
            f"{key.label} has no frame yet",
            headers={"Retry-After": "1"},
        )
    jpeg = await app[ENCODER].jpeg(key, picture)
    return web.Response(body=jpeg, content_type="image/jpeg", headers=NO_STORE)
