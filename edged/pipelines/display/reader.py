"""Read seven-segment displays with the display model, through edged's engine layer.

A crop of one display (a configured region of interest, or a picture that is
itself a crop) goes in; ``{text, value, confidence, quality}`` comes out.
``text`` is what the display shows without its leading blanks (``"-12.5"``),
``value`` the number (None when the text is not one: dashes, a clock),
``confidence`` the least sure of the reader's decisions (each character, and
each gap between characters where one might have been dropped).

A reading is never a guess: when any decision is less sure than
``UNREADABLE_BELOW``, or the text is one no display shows (two decimal points,
a minus inside), the reading is ``unreadable``, with no text and no value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edged.config import gauge as config_gauge
from edged.pipelines.display.decode import Decoded, ctc_greedy, parse_value, plausible
from edged.pipelines.display.model import HEIGHT, WIDTH, model_input
from edged.pipelines.gauge.reader import EngineModel, call_in_chunks, roi_region
from edged.weights import resolve_model

__all__ = [
    "DEFAULT_DISPLAY_MODEL",
    "UNREADABLE_BELOW",
    "DisplayModel",
    "DisplayReader",
    "DisplayReading",
]

#: the bundled model, wherever the install put it (the config's default, resolved)
DEFAULT_DISPLAY_MODEL = resolve_model(config_gauge.DEFAULT_DISPLAY_MODEL)

MAX_BATCH = 32  # crops per engine call (the TensorRT profile's largest batch)
#: a character, or a gap between characters, decided with less probability than this makes the
#: reading unreadable (chosen on validation renders, see weights/README.display.md)
UNREADABLE_BELOW = 0.7


@dataclass
class DisplayReading:
    text: Optional[str]  # None when unreadable
    value: Optional[float]
    confidence: float
    quality: str  # "ok" | "unreadable"
    extra: Dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "text": self.text,
            "value": self.value,
            "confidence": round(self.confidence, 4),
            "quality": self.quality,
        }
        out.update(self.extra)
        return out


class DisplayModel(EngineModel):
    """The display network behind one seam: ``model(batch) -> (logits,)``."""

    outputs = ("logits",)

    def __init__(
        self,
        path: str = DEFAULT_DISPLAY_MODEL,
        backend: str = "onnxruntime",
        threads: int = 1,
        triton: Any = None,
    ):
        shapes = {
            "image": {"min": [1, 1, HEIGHT, WIDTH], "opt": [4, 1, HEIGHT, WIDTH],
                      "max": [MAX_BATCH, 1, HEIGHT, WIDTH]}
        }  # fmt: skip
        super().__init__(path, backend, threads, shapes, "display", triton)


class DisplayReader:
    """Read crops of seven-segment displays."""

    def __init__(self, model: Any, unreadable_below: float = UNREADABLE_BELOW):
        self.model = model
        self.unreadable_below = unreadable_below

    def read(
        self, image: np.ndarray, roi: Optional[Tuple[int, int, int, int]] = None
    ) -> Optional[DisplayReading]:
        """The display in ``image`` (or in its region ``roi`` = x, y, w, h); None when the roi
        lies outside the image."""
        if roi is not None:
            region = roi_region(image, *roi)
            if region is None:
                return None
            image = region
        return self.read_crops([image])[0]

    def read_crops(self, crops: Sequence[np.ndarray]) -> List[DisplayReading]:
        """One reading per crop, in engine calls of at most ``MAX_BATCH`` crops."""
        if not crops:
            return []
        inputs = np.stack([model_input(c) for c in crops])
        (logits,) = call_in_chunks(self.model, inputs, MAX_BATCH)
        return [self.reading(ctc_greedy(z)) for z in logits]

    def reading(self, decoded: Decoded) -> DisplayReading:
        conf = decoded.confidence
        if not plausible(decoded.text) or conf < self.unreadable_below:
            return DisplayReading(None, None, conf, "unreadable")
        return DisplayReading(decoded.text, parse_value(decoded.text), conf, "ok")
