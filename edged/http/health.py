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
    status: Mapping[str, Any],
    ages: Mapping[str, Optional[float]],
    stale_s: float,
    link_grace_s: float = 60.0,
) -> List[str]:
    """Why the parts in ``status`` (daemon.status()) are not healthy.

    A source is healthy while streaming with a frame newer than ``stale_s``, or one
    held for its reader (a file read at its pipeline's pace, or with no pipeline); a
    pipeline while running and, if any of its sources streams, producing
    results at least every ``stale_s``; a sink while it runs, its link (the
    MQTT broker) has not been down for ``link_grace_s`` and its spool can be
    written. Reasons name ids and states only, no URIs or error texts, because
    ``/healthz`` needs no token.
    """
    reasons: List[str] = []
    for failed in status.get("failed", []):
        reasons.append(f"{failed['part']} {failed['id']} failed to start")
    for sink in status.get("sinks", []):
        reasons += _sink_reasons(sink, link_grace_s)
    streaming = set()
    for source in status.get("sources", []):
        ident, state = source["id"], source["state"]
        age = source.get("frame_age_s")
        if state != "streaming":
            extra = (
                f" after {source['reconnects']} reconnect(s)" if source.get("reconnects") else ""
            )
            reasons.append(f"source {ident} is {state}{extra}")
        elif age is not None and age > stale_s and not source.get("held_for_reader"):
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


def _sink_reasons(sink: Mapping[str, Any], link_grace_s: float) -> List[str]:
    """A link down past its grace period; a spool that cannot be written."""
    reasons: List[str] = []
    name = sink.get("name")
    down = sink.get("down_for_s")
    if sink.get("connected") is False and isinstance(down, (int, float)) and down > link_grace_s:
        reasons.append(f"sink {name}: not connected for {down:.0f} s")
    spool = sink.get("spool")
    if isinstance(spool, Mapping) and spool.get("writable") is False:
        reasons.append(
            f"sink {name}: cannot write its spool ({spool.get('write_errors', 0)} message(s) "
            "sent without it)"
        )
    return reasons
