"""trt_pose's preprocessing, vectorised into reused buffers.

Exactly what trt_pose's live demo does — stretch-resize to the model input (no
letterbox), BGR -> RGB, /255, ImageNet mean/std — folded into one multiply
and one subtract per pixel: ``x * (1 / (255 * std)) - mean / std``.

A model exported with ``--input-format bgr-uint8`` does all but the resize in its
graph (on the GPU under TensorRT): :func:`preprocessor_for` reads which one a model
takes from its input's dtype and shape, and then only resizes.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edged.cvutil import import_cv2
from edged.engines.tensors import TensorSpec

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "FrameResizer", "PosePreprocessor", "preprocessor_for"]

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
        _resize_into(image, self._resized)
        chw_rgb = self._resized.transpose(2, 0, 1)[::-1]  # a view: HWC BGR -> CHW RGB
        out = self._batch[0]
        np.multiply(chw_rgb, self._scale, out=out, casting="unsafe")
        out -= self._offset
        return self._batch


class FrameResizer:
    """BGR uint8 frame of any size -> uint8 [1, H, W, 3] BGR, for models that normalise in
    their graph (``edged export pose --input-format bgr-uint8``). Same buffer each call."""

    def __init__(self, width: int, height: int):
        self.width = width
        self.height = height
        self._batch = np.empty((1, height, width, 3), np.uint8)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        _resize_into(image, self._batch[0])
        return self._batch


def preprocessor_for(spec: TensorSpec, model: str) -> Callable[[np.ndarray], np.ndarray]:
    """The preprocessing a pose model's input asks for: float32 [1, 3, H, W] (normalised
    RGB, trt_pose's own) or uint8 [1, H, W, 3] (the resized BGR frame); anything else is
    refused naming the model, its input and the two it could be."""
    shape = spec.shape
    if spec.dtype == np.float32 and len(shape) == 4 and shape[1] == 3:
        height, width = shape[2], shape[3]
        make: Callable[[int, int], Callable[[np.ndarray], np.ndarray]] = PosePreprocessor
    elif spec.dtype == np.uint8 and len(shape) == 4 and shape[3] == 3:
        height, width = shape[1], shape[2]
        make = FrameResizer
    else:
        raise ValueError(
            f"model {model} takes {spec.name!r} as {spec.dtype.name} {list(shape)}; a pose model "
            "takes float32 [1, 3, H, W] (normalised RGB) or uint8 [1, H, W, 3] (BGR frame): "
            "export it with edged export pose [--input-format bgr-uint8]"
        )
    if not isinstance(height, int) or not isinstance(width, int):
        raise ValueError(
            f"model {model} has a dynamic input size {list(shape)}; "
            "export it with a fixed size (edged export pose --input-size N)"
        )
    return make(width, height)


def _resize_into(image: np.ndarray, out: np.ndarray) -> None:
    """Stretch ``image`` to ``out``'s size (a plain copy when it already has it)."""
    if image.shape[:2] == out.shape[:2]:
        out[...] = image
        return
    cv2 = import_cv2()
    height, width = out.shape[:2]
    cv2.resize(image, (width, height), dst=out, interpolation=cv2.INTER_LINEAR)
