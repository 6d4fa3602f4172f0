"""trt_pose's preprocessing, vectorised into reused buffers.

Exactly what trt_pose's live demo does — stretch-resize to the model input (no
letterbox), BGR -> RGB, /255, ImageNet mean/std — folded into one multiply
and one subtract per pixel: ``x * (1 / (255 * std)) - mean / std``.
"""

from __future__ import annotations

import numpy as np

from edged.cvutil import import_cv2

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "PosePreprocessor"]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class PosePreprocessor:
    """BGR uint8 frame of any size -> float32 [1, 3, H, W], into the same buffer each call.

    The returned array is overwritten by the next call: the caller hands it to
    the engine (which copies it) before preprocessing the next frame.
    """

    def __init__(self, width: int, height: int):
        self.width = width
        self.height = height
        self._resized = np.empty((height, width, 3), np.uint8)
        self._batch = np.empty((1, 3, height, width), np.float32)
        rgb_scale = 1.0 / (255.0 * IMAGENET_STD)
        rgb_offset = IMAGENET_MEAN / IMAGENET_STD
        # Channel order of the output is RGB; the input is BGR, so index reversed.
        self._scale = rgb_scale.reshape(3, 1, 1)
        self._offset = rgb_offset.reshape(3, 1, 1)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        cv2 = import_cv2()
        if image.shape[:2] == (self.height, self.width):
            self._resized[...] = image
        else:
            cv2.resize(
                image, (self.width, self.height), dst=self._resized, interpolation=cv2.INTER_LINEAR
            )
        chw_rgb = self._resized.transpose(2, 0, 1)[::-1]  # a view: HWC BGR -> CHW RGB
        out = self._batch[0]
        np.multiply(chw_rgb, self._scale, out=out, casting="unsafe")
        out -= self._offset
        return self._batch
