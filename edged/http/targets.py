"""What a preview shows: a stream id resolved to a source or to a pipeline on one source.

Ids from URLs are looked up in the daemon's dicts, never used as paths. A
target is resolved again on every sample, so a part replaced by a reload is
picked up, and one that went away is noticed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import numpy as np

from edged.frames import Frame
from edged.http.view import DaemonView
from edged.pipelines.base import Pipeline
from edged.results import Result

__all__ = ["GONE", "Picture", "TargetKey", "find_target", "latest_picture", "overlay_of"]

Drawer = Callable[[np.ndarray, Result], np.ndarray]


class TargetKey(NamedTuple):
    """A stream: ``("source", cam0, cam0)`` or ``("pipeline", people, cam0)``."""

    kind: str
    id: str
    source_id: str

    @property
    def label(self) -> str:
        if self.kind == "source" or self.id == self.source_id:
            return self.id
        return f"{self.id}@{self.source_id}"


@dataclass(frozen=True)
class Picture:
    """One frame to show and the result to draw on it (None: show the frame as is).

    ``ident`` is the object this picture was made from (the Result, or the
    Frame when there is no result); two samples show the same picture exactly
    when their idents are the same object.
    """

    ident: object
    frame: Frame
    result: Optional[Result] = None
    draw: Optional[Drawer] = None


class _Gone:
    def __repr__(self) -> str:
        return "GONE"


#: Returned by ``latest_picture`` when the target's source or pipeline no longer exists.
GONE: Any = _Gone()


def find_target(
    view: DaemonView, ident: str, kind: Optional[str] = None, source: Optional[str] = None
) -> Optional[TargetKey]:
    """The stream for a URL id; pipelines win over sources unless ``kind`` says otherwise.

    ``source`` picks one source of a pipeline that reads several (default: its first).
    """
    if kind in (None, "pipeline"):
        runner = view.pipelines().get(ident)
        if runner is not None:
            sources = list(runner.slots)
            if source is None and sources:
                return TargetKey("pipeline", ident, sources[0])
            if source in sources:
                return TargetKey("pipeline", ident, source)
            return None
    if kind in (None, "source") and source in (None, ident) and ident in view.sources():
        return TargetKey("source", ident, ident)
    return None


def overlay_of(pipeline: Any) -> Optional[Drawer]:
    """The pipeline's ``draw``, or None when it does not override the base (no copy needed)."""
    if getattr(type(pipeline), "draw", None) is Pipeline.draw:
        return None
    return pipeline.draw


def latest_picture(view: DaemonView, key: TargetKey, results: Dict[Tuple[str, str], Result]) -> Any:
    """The newest Picture for a target, None before the first frame, or GONE.

    ``results`` holds the newest result per (pipeline, source) as seen on the
    bus; a pipeline's own ``last_result`` is used when it is newer (or when
    the app runs without the bus, as in tests).
    """
    if key.kind == "source":
        src = view.sources().get(key.id)
        if src is None:
            return GONE
        frame = src.slot.latest
        return None if frame is None else Picture(frame, frame)
    runner = view.pipelines().get(key.id)
    if runner is None:
        results.pop((key.id, key.source_id), None)
        return GONE
    pipeline = runner.pipeline
    result = results.get((key.id, key.source_id))
    last = pipeline.last_result
    if (
        last is not None
        and last.source_id == key.source_id
        and (result is None or last.frame.mono >= result.frame.mono)
    ):
        result = last
    if result is not None:
        return Picture(result, result.frame, result, overlay_of(pipeline))
    slot = runner.slots.get(key.source_id)
    frame = None if slot is None else slot.latest
    return None if frame is None else Picture(frame, frame)
