"""Frames from a video file, one image, a directory of images, or a glob."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from edged.config.sources import FileSourceConfig
from edged.cvutil import import_cv2
from edged.sources.capture import Capture, CaptureError, CaptureSpec, EndOfStream

__all__ = ["IMAGE_SUFFIXES", "FileCapture", "file_spec"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
DEFAULT_IMAGE_FPS = 10.0


def file_spec(config: FileSourceConfig) -> CaptureSpec:
    return CaptureSpec(
        factory="edged.sources.file:FileCapture",
        kwargs={
            "uri": config.uri,
            "loop": config.loop,
            "realtime": config.realtime,
            "fps": config.fps,
        },
        isolated=False,
        label=config.uri,
    )


class FileCapture(Capture):
    """Reads every frame in order; also usable directly as an iterator (offline mode).

    Pacing: ``fps`` if given, else the video's own rate when ``realtime``;
    otherwise none, and a live source then hands on a frame only once the
    previous one was consumed (``follow_consumer``), so no frame is skipped.
    """

    def __init__(
        self, uri: str, loop: bool = False, realtime: bool = False, fps: Optional[float] = None
    ):
        self.uri = uri
        self.loop = loop
        self.realtime = realtime
        self.fps = fps
        self.follow_consumer = not realtime and fps is None
        self._images: Optional[List[Path]] = None
        self._video: Any = None
        self._index = 0

    def open(self) -> None:
        path = Path(self.uri)
        if path.is_dir():
            self._images = sorted(
                p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            )
            if not self._images:
                raise CaptureError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")
        elif any(ch in self.uri for ch in "*?["):
            self._images = [Path(p) for p in sorted(glob.glob(self.uri)) if os.path.isfile(p)]
            if not self._images:
                raise CaptureError(f"the pattern {self.uri!r} matches no file")
        elif not path.exists():
            raise CaptureError(f"no such file: {path}")
        elif not path.is_file():  # a FIFO or a device would block the read for good
            raise CaptureError(f"{path} is not a regular file (a pipe or a device?)")
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            self._images = [path]
        else:
            self._open_video()
        self._index = 0
        self.pace_fps = self._pace_fps()

    def _open_video(self) -> None:
        cv2 = import_cv2()
        video = cv2.VideoCapture(self.uri)
        if not video.isOpened():
            raise CaptureError(f"cannot open {self.uri} as a video (unknown format or codec)")
        self._video = video

    def _pace_fps(self) -> Optional[float]:
        if self.fps:
            return self.fps
        if not self.realtime:
            return None
        if self._video is not None:
            return self.native_fps() or 25.0
        return DEFAULT_IMAGE_FPS

    def frame_count(self) -> Optional[int]:
        """Frames in the file or folder, when known (for progress bars)."""
        if self._images is not None:
            return len(self._images)
        count = int(self._video.get(import_cv2().CAP_PROP_FRAME_COUNT)) if self._video else 0
        return count if count > 0 else None

    def native_fps(self) -> Optional[float]:
        """The video's own frame rate, when it states one."""
        if self._video is None:
            return None
        rate = self._video.get(import_cv2().CAP_PROP_FPS)
        return rate if rate and 0 < rate < 1000 else None

    def read(self) -> np.ndarray:
        image = self._read_one()
        if image is None and self.loop and self._index > 0:
            self._rewind()
            image = self._read_one()
        if image is None:
            raise EndOfStream()
        self._index += 1
        return image

    def _read_one(self) -> Optional[np.ndarray]:
        if self._images is not None:
            if self._index >= len(self._images):
                return None
            path = self._images[self._index]
            image = import_cv2().imread(str(path), import_cv2().IMREAD_COLOR)
            if image is None:
                raise CaptureError(f"cannot decode image {path}")
            return image
        ok, image = self._video.read()
        return image if ok else None

    def _rewind(self) -> None:
        self._index = 0
        if self._video is not None:
            self._video.release()
            self._open_video()

    def frame_meta(self) -> Dict[str, Any]:
        if self._images is not None:
            return {"file": str(self._images[self._index - 1]), "index": self._index - 1}
        return {"index": self._index - 1}

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None

    def __iter__(self) -> Iterator[np.ndarray]:
        """All frames in order (offline mode); opens and closes the file itself."""
        self.open()
        try:
            while True:
                try:
                    yield self.read()
                except EndOfStream:
                    return
        finally:
            self.close()
