"""Draw and JPEG-encode previews off the loop, each picture at most once.

Every stream and snapshot of one target shares a one-entry cache keyed by the
picture's identity, and a picture being encoded is awaited, not encoded again,
so however many viewers and snapshot requests there are, a frame costs one
draw and one encode.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Executor
from typing import Any, Dict, Hashable, Optional, Tuple

import numpy as np

from edged.cvutil import import_cv2
from edged.http.targets import Picture

__all__ = ["EncodeError", "PreviewEncoder", "encode_jpeg"]

log = logging.getLogger(__name__)


class EncodeError(RuntimeError):
    """OpenCV could not encode an image."""


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """One JPEG encode (blocking: call on an executor)."""
    cv2 = import_cv2()
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise EncodeError(f"cannot encode a {image.shape} {image.dtype} image as JPEG")
    return buf.tobytes()


class PreviewEncoder:
    """Renders Pictures (overlay, scale, JPEG) on ``executor`` and counts the work done."""

    def __init__(self, executor: Executor, quality: int = 75, max_width: int = 0):
        self.executor = executor
        self.quality = quality
        self.max_width = max_width
        self.encodes = 0
        self.draw_errors = 0
        self.encode_seconds = 0.0
        self._counting = threading.Lock()
        self._cache: Dict[Hashable, Tuple[object, asyncio.Future]] = {}

    async def jpeg(self, key: Hashable, picture: Picture) -> bytes:
        """The JPEG of ``picture`` for target ``key``: cached, in progress, or encoded now."""
        cached = self._cache.get(key)
        if cached is not None and cached[0] is picture.ident:
            return await asyncio.shield(cached[1])
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, self.render, picture)
        self._cache[key] = (picture.ident, future)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            raise
        except Exception:
            if self._cache.get(key, (None, None))[1] is future:
                del self._cache[key]
            raise

    def cached(self, key: Hashable) -> Optional[Tuple[object, asyncio.Future]]:
        return self._cache.get(key)

    def forget(self, key: Hashable) -> None:
        """Drop a target's cached JPEG (its stream ended; nobody needs it now)."""
        self._cache.pop(key, None)

    async def render_now(self, picture: Picture) -> bytes:
        """Render without caching (uploads: every request is a new picture)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.render, picture)

    # -- on the executor ---------------------------------------------------------

    def render(self, picture: Picture) -> bytes:
        image = picture.frame.image
        if picture.result is not None and picture.draw is not None:
            try:
                image = picture.draw(image.copy(), picture.result)
            except Exception as exc:
                with self._counting:
                    self.draw_errors += 1
                    errors = self.draw_errors
                if errors == 1 or errors % 1000 == 0:
                    log.warning(
                        "drawing %s's overlay failed (%d time(s)); showing the plain frame: %s",
                        picture.result.pipeline_id,
                        errors,
                        exc,
                    )
                image = picture.frame.image
        image = self._scaled(image)
        t0 = time.perf_counter()
        data = encode_jpeg(image, self.quality)
        seconds = time.perf_counter() - t0
        with self._counting:
            self.encode_seconds += seconds
            self.encodes += 1
        return data

    def _scaled(self, image: np.ndarray) -> Any:
        width = image.shape[1]
        if not self.max_width or width <= self.max_width:
            return image
        cv2 = import_cv2()
        height = max(1, round(image.shape[0] * self.max_width / width))
        return cv2.resize(image, (self.max_width, height), interpolation=cv2.INTER_AREA)
