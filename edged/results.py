"""What a pipeline produces for one frame, on its way to the sinks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict

from edged.frames import Frame

__all__ = ["Result"]


@dataclass(frozen=True)
class Result:
    """One pipeline's output for one frame.

    ``payload`` is JSON-able and kind-specific (e.g. ``persons`` for pose).
    ``frame`` is kept for overlays and previews and is never serialised.
    """

    pipeline_id: str
    kind: str
    frame: Frame
    payload: Dict[str, Any]
    timings_ms: Dict[str, float] = field(default_factory=dict)

    @property
    def source_id(self) -> str:
        return self.frame.source_id

    @property
    def frame_seq(self) -> int:
        return self.frame.seq

    @property
    def ts(self) -> float:
        return self.frame.ts

    def record(self) -> Dict[str, Any]:
        """A flat JSON-able dict: identity, capture time, frame size, timings, payload."""
        return {
            "pipeline_id": self.pipeline_id,
            "kind": self.kind,
            "source_id": self.source_id,
            "frame_seq": self.frame_seq,
            "ts": round(self.ts, 6),
            "width": self.frame.width,
            "height": self.frame.height,
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            **self.payload,
        }
