"""Motion by frame differencing: a pipeline with no model, useful alone and as a smoke test."""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from edged.config.pipelines import MotionPipelineConfig
from edged.cvutil import import_cv2
from edged.frames import Frame
from edged.pipelines.base import Pipeline
from edged.results import Result

__all__ = ["MotionPipeline"]


class MotionPipeline(Pipeline):
    """Share of pixels whose grey level changed by more than a threshold since the last frame.

    Frames are shrunk and blurred first, so sensor noise does not count as
    motion. One previous frame is kept per source.
    """

    kind = "motion"

    def __init__(self, config: MotionPipelineConfig):
        super().__init__(config)
        self._previous: Dict[str, np.ndarray] = {}

    def preprocess(self, frame: Frame) -> np.ndarray:
        cv2 = import_cv2()
        width = self.config.width
        height = max(1, round(frame.height * width / frame.width))
        small = cv2.resize(frame.image, (width, height), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(grey, (5, 5), 0)

    def postprocess(self, outputs: np.ndarray, frame: Frame) -> Dict[str, Any]:
        previous: Optional[np.ndarray] = self._previous.get(frame.source_id)
        self._previous[frame.source_id] = outputs
        if previous is None or previous.shape != outputs.shape:
            fraction = 0.0
        else:
            diff = import_cv2().absdiff(outputs, previous)
            fraction = float(np.count_nonzero(diff > self.config.pixel_threshold)) / diff.size
        return {
            "motion": fraction > self.config.min_fraction,
            "motion_fraction": round(fraction, 5),
            "brightness": round(float(outputs.mean()), 2),
        }

    def draw(self, image: np.ndarray, result: Result) -> np.ndarray:
        """A red frame around the picture while there is motion, and the moved share."""
        cv2 = import_cv2()
        moving = result.payload["motion"]
        colour = (0, 0, 255) if moving else (0, 200, 0)
        thickness = max(2, image.shape[1] // 160)
        cv2.rectangle(image, (0, 0), (image.shape[1] - 1, image.shape[0] - 1), colour, thickness)
        label = f"motion {100 * result.payload['motion_fraction']:.1f}%"
        scale = max(image.shape[1] / 1280.0, 0.4)
        origin = (10, image.shape[0] - int(12 * scale) - 4)
        cv2.putText(
            image,
            label,
            origin,
            cv2.FONT_HERSHEY_SIMPLEX,
            0.8 * scale,
            colour,
            max(1, int(2 * scale)),
            cv2.LINE_AA,
        )
        return image

    def summary(self, result: Result) -> Dict[str, Any]:
        return {"motion": result.payload["motion"], "fraction": result.payload["motion_fraction"]}

    def describe(self) -> Dict[str, Any]:
        return {"model": None, "backend": "opencv"}
