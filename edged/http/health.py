"""What is wrong, in words: the reasons ``/healthz`` answers 503 (none: 200)."""

from __future__ import annotations

import time
from typing import Any, Dict, List, Mapping, Optional

from edged.http.view import DaemonView

__all__ = ["health_reasons", "progress_ages"]


def progress_ages(view: DaemonView, now: Optional[float] = None) -> Dict[str, Optional[float]]:
    """Seconds since each pipeline last produced a result (None: not yet)."""
    now = time.monotonic() if now is None else now
    ages: Dict[str, Optional[float]] = {}
    for pipeline_id, runner in view.pipelines().items():
        last = getattr(runner, "last_progress_mono", None)
        ages[pipeline_id] = None if last is None else now - last
    return ages


def health_reasons(
    status: Mapping[str, Any], ages: Mapping[str, Optional[float]], stale_s: float
) -> List[str]:
    """Why the sources and pipelines in ``status`` (daemon.status()) are not healthy.

    A source is healthy while streaming with a frame newer than ``stale_s``; a
    pipeline while running and, if any of its sources streams, producing
    results at least every ``stale_s``. Reasons name ids and states only, no
    URIs or error texts, because ``/healthz`` needs no token.
    """
    reasons: List[str] = []
    for failed in status.get("failed", []):
        if failed.get("part") in ("source", "pipeline"):
            reasons.append(f"{failed['part']} {failed['id']} failed to start")
    streaming = set()
    for source in status.get("sources", []):
        ident, state = source["id"], source["state"]
        age = source.get("frame_age_s")
        if state != "streaming":
            extra = (
                f" after {source['reconnects']} reconnect(s)" if source.get("reconnects") else ""
            )
            reasons.append(f"source {ident} is {state}{extra}")
        elif age is not None and age > stale_s:
            reasons.append(f"source {ident}: newest frame is {age:.1f} s old")
        else:
            streaming.add(ident)
    for pipeline in status.get("pipelines", []):
        ident, state = pipeline["id"], pipeline["state"]
        age = ages.get(ident)
        if state != "running":
            reasons.append(f"pipeline {ident} is {state}")
        elif age is not None and age > stale_s and streaming & set(pipeline.get("sources", [])):
            reasons.append(f"pipeline {ident}: no result for {age:.1f} s")
    return reasons
