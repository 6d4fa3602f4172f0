"""Under-exposed pictures brightened before the gauge models and the needle search see them.

A night frame, a dial in a cabinet's shadow, a camera exposing for a bright window
behind the meter: the face comes out dull grey instead of white and the needle's contrast
drops with it. The models normalise with fixed constants and were trained on few pictures
that dark: they lose the needle or the scale. On the real panel meters and the pressure
gauge made 0.4 times as bright (the bench's ``dark`` look), 8 of 22 dials came out
unreadable, against 2 as photographed; brightened here first, 2 (bench/results/gauge.md,
session 21).

Only a gain, no offset: black stays black and colours keep their hue, so a red pointer
stays red (its redness, ``needle.pointer_redness``, grows with the gain to what a lit
picture shows, which the drag-pointer test's thresholds were set on). A picture lit as the
models were trained (``LIT_ENOUGH``) is returned as it is (the same array) and reads
exactly as before.
"""

from __future__ import annotations

import numpy as np

from edged.cvutil import import_cv2

__all__ = ["LIT_ENOUGH", "MAX_GAIN", "TARGET", "brighten", "exposure_gain"]

#: a picture whose bright end (the 99th percentile of each pixel's brightest channel: a white
#: face, the lit part of a scene) reaches this grey level is lit as the models were trained:
#: 95 % of their training renders' bright ends lie above it (keypoint crops 140, panel-meter
#: crops 150, sub-dials 176). Such a picture is left alone: brightening the darker training
#: looks moved held-out renders' readings both ways, no better on the whole
LIT_ENOUGH = 140.0
#: a darker picture's bright end is lifted to this grey level, short of clipping
TARGET = 235.0
#: at most this gain: noise grows with it, and a picture darker than this is no picture
MAX_GAIN = 4.0
#: the percentile is taken over about this many pixels (a regular subsample): under a
#: millisecond for a 1080p frame
SAMPLE_PIXELS = 65536


def exposure_gain(image: np.ndarray) -> float:
    """The gain that lifts ``image``'s bright end to ``TARGET`` (at most ``MAX_GAIN``) where
    it lies below ``LIT_ENOUGH``; 1.0 for a picture lit enough, an empty one, or one that
    is not 8-bit (the models take OpenCV's 8-bit frames)."""
    h, w = image.shape[:2]
    if h == 0 or w == 0 or image.dtype != np.uint8:
        return 1.0
    bright_end = _bright_end(_colour(image), h, w)
    if bright_end >= LIT_ENOUGH:
        return 1.0
    return min(MAX_GAIN, TARGET / max(1.0, bright_end))


def brighten(image: np.ndarray) -> np.ndarray:
    """``image`` with its exposure gain applied to its colour (saturating; an alpha channel
    kept as it is), in its own shape; ``image`` itself where no gain is due. Grey (2-D or
    one channel), BGR or BGRA, 8-bit, any size."""
    gain = exposure_gain(image)
    if gain == 1.0:
        return image
    cv2 = import_cv2()
    if image.ndim == 3 and image.shape[2] == 4:
        out = image.copy()
        out[..., :3] = cv2.convertScaleAbs(_colour(image), alpha=gain)
        return out
    return cv2.convertScaleAbs(image, alpha=gain).reshape(image.shape)


def _colour(image: np.ndarray) -> np.ndarray:
    """The picture's colour channels, as OpenCV takes them (a BGRA picture's alpha is no
    light: fully opaque, it would read as a white bright end)."""
    if image.ndim == 3 and image.shape[2] == 4:
        return np.ascontiguousarray(image[..., :3])
    return image


def _bright_end(image: np.ndarray, h: int, w: int) -> float:
    """The 99th percentile of each pixel's brightest channel, over a regular subsample of
    about ``SAMPLE_PIXELS`` (OpenCV's resize, split and max, and a histogram: numpy's
    reduction over the channel axis alone took 4 ms on a 1080p frame)."""
    cv2 = import_cv2()
    step = max(1, int((h * w / SAMPLE_PIXELS) ** 0.5))
    size = (max(1, w // step), max(1, h // step))
    sample = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
    brightest = sample
    if sample.ndim == 3:
        planes = cv2.split(sample)
        brightest = planes[0]
        for plane in planes[1:]:
            brightest = cv2.max(brightest, plane)
    counts = np.cumsum(np.bincount(brightest.ravel(), minlength=256))
    return float(np.searchsorted(counts, 0.99 * counts[-1]))
