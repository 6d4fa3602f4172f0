"""Ids in URLs resolved to running parts, or a 404 naming what exists."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edged.http.errors import json_error
from edged.http.keys import VIEW
from edged.http.targets import TargetKey, find_target

__all__ = ["pipeline_or_404", "target_or_404"]

KINDS = ("source", "pipeline")


def target_or_404(request: web.Request) -> TargetKey:
    """The stream named by ``{id}`` (and optional ``?kind=`` / ``?source=``)."""
    ident = request.match_info["id"]
    kind = request.query.get("kind")
    if kind is not None and kind not in KINDS:
        raise json_error(web.HTTPBadRequest, f"kind must be 'source' or 'pipeline', not {kind!r}")
    view = request.app[VIEW]
    key = find_target(view, ident, kind, request.query.get("source"))
    if key is None:
        runner = view.pipelines().get(ident) if kind != "source" else None
        source = request.query.get("source")
        if runner is not None and source is not None:
            raise json_error(
                web.HTTPNotFound,
                f"pipeline {ident!r} does not read source {source!r} "
                f"(it reads: {', '.join(runner.slots)})",
            )
        known = sorted(set(view.sources()) | set(view.pipelines()))
        raise json_error(
            web.HTTPNotFound,
            f"no source or pipeline {ident!r} (known: {', '.join(known) or 'none'})",
        )
    return key


def pipeline_or_404(request: web.Request) -> Any:
    """The PipelineRunner named by ``{id}``."""
    ident = request.match_info["id"]
    pipelines = request.app[VIEW].pipelines()
    runner = pipelines.get(ident)
    if runner is None:
        raise json_error(
            web.HTTPNotFound,
            f"no pipeline {ident!r} (known: {', '.join(sorted(pipelines)) or 'none'})",
        )
    return runner
