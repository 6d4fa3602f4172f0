"""Skeleton overlay for previews and annotated videos."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from edged.cvutil import import_cv2

__all__ = ["draw_persons"]

_COLOURS = [(0, 255, 0), (255, 128, 0), (0, 128, 255), (255, 0, 255), (0, 255, 255), (255, 255, 0)]


def draw_persons(
    image: np.ndarray,
    persons: List[Dict[str, Any]],
    keypoint_names: Sequence[str],
    skeleton: Sequence[Tuple[int, int]],
) -> np.ndarray:
    """Draw each person's links and joints on ``image`` (in place), scaled to its size."""
    cv2 = import_cv2()
    scale = max(image.shape[:2]) / 640.0
    thickness = max(1, round(2 * scale))
    radius = max(2, round(4 * scale))
    for index, person in enumerate(persons):
        colour = _COLOURS[index % len(_COLOURS)]
        points = {name: (round(xy[0]), round(xy[1])) for name, xy in person["keypoints"].items()}
        for a, b in skeleton:
            pa = points.get(keypoint_names[a])
            pb = points.get(keypoint_names[b])
            if pa is not None and pb is not None:
                cv2.line(image, pa, pb, colour, thickness, cv2.LINE_AA)
        for point in points.values():
            cv2.circle(image, point, radius, colour, -1, cv2.LINE_AA)
    return image
