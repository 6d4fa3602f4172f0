"""Run a Capture in a child process so that a hung library call can be killed.

OpenCV's RTSP ``read()`` can block for 20 s or forever on a dead stream, and a
V4L2 or Argus driver can wedge the same way; a thread stuck in C code cannot be
stopped. So live captures run in a child process (spawned, not forked: the
daemon has threads) and hand frames over through a shared-memory ring:

- the child writes frame N into slot N % SLOTS of a file in /dev/shm, framed by
  a seqlock (sequence number before and after the pixels), and sends a small
  ``(slot, seq, ts, shape, meta)`` tuple through a pipe;
- the parent copies the slot out and re-checks the seqlock, so a frame that the
  child overwrote meanwhile is discarded instead of handed on torn.

The parent waits on the pipe with a deadline; when it passes, the child is
killed (SIGTERM, then SIGKILL) and the source reconnects. The child asks the
kernel to kill it if the parent dies (PR_SET_PDEATHSIG), so a ``kill -9`` of
the daemon leaves no orphan holding the camera.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import mmap
import multiprocessing
import os
import signal
import struct
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from edged.cvutil import OpenCVMissingError
from edged.sources.capture import (
    CaptureError,
    CaptureSpec,
    EndOfStream,
    UnfixableCaptureError,
)

__all__ = ["IsolatedCapture", "StallError"]

log = logging.getLogger(__name__)

SLOTS = 3
POLL_SLICE_S = 0.2
HEADER = struct.Struct("<qq")  # seq written before the pixels, seq written after
SHM_DIR = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
SHM_PREFIX = "edged-capture-"


class StallError(CaptureError):
    """No frame arrived within the deadline; the child was killed."""


class IsolatedCapture:
    """Parent-side handle of one child capture process (one connection attempt)."""

    def __init__(self, spec: CaptureSpec, name: str):
        self.spec = spec
        self.name = name
        self._ctx = multiprocessing.get_context("spawn")
        self._conn = None
        self._proc = None
        self._map: Optional[mmap.mmap] = None
        self._base = ""
        self._slot_bytes = 0
        self.meta: Dict[str, Any] = {}
        self.ts = 0.0
        self.pace_fps: Optional[float] = None
        self.follow_consumer = False

    def open(self) -> None:
        """Start the child; frames then arrive through ``read``."""
        recv, send = self._ctx.Pipe(duplex=False)
        base = str(SHM_DIR / f"{SHM_PREFIX}{os.getpid()}-{self.name}-{time.monotonic_ns()}")
        self._base = base
        self._proc = self._ctx.Process(
            target=child_main,
            args=(self.spec, send, base),
            name=f"capture-{self.name}",
            daemon=True,
        )
        try:
            self._proc.start()
        except BaseException:
            recv.close()
            send.close()
            self._proc = None
            raise
        send.close()
        self._conn = recv

    def read(self, timeout_s: float, stop: Optional[threading.Event] = None) -> np.ndarray:
        """The next image; StallError if none comes within ``timeout_s``.

        Polls in short slices so that ``stop`` ends the wait promptly (shutdown
        must not wait out a 10 s stall timeout).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StallError(f"no frame within {timeout_s:g} s (stalled); capture restarted")
            if stop is not None and stop.is_set():
                raise CaptureError("stopping")
            if not self._conn.poll(min(left, POLL_SLICE_S)):
                continue
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                raise CaptureError(self._exit_reason()) from None
            image = self._handle(message)
            if image is not None:
                return image

    def close(self) -> None:
        """Stop the child (politely, then not) and release the shared memory."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.is_alive():
                proc.terminate()
                proc.join(1.0)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
            with contextlib.suppress(Exception):
                proc.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._unmap()
        for leftover in SHM_DIR.glob(f"{Path(self._base).name}-*"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def _handle(self, message: Tuple) -> Optional[np.ndarray]:
        kind = message[0]
        if kind == "frame":
            return self._copy_frame(*message[1:])
        if kind == "geometry":
            self._remap(message[1], message[2])
            return None
        if kind == "eof":
            raise EndOfStream()
        if kind == "error":
            raise CaptureError(message[1])
        if kind == "unfixable":
            raise UnfixableCaptureError(message[1])
        raise CaptureError(f"unexpected message from capture process: {kind!r}")

    def _copy_frame(self, slot: int, seq: int, ts: float, shape: Tuple, meta: Dict) -> Any:
        offset = slot * self._slot_bytes
        size = int(np.prod(shape))
        begin, _ = HEADER.unpack_from(self._map, offset)
        image = np.frombuffer(self._map, np.uint8, size, offset + HEADER.size).reshape(shape).copy()
        _, end = HEADER.unpack_from(self._map, offset)
        if begin != seq or end != seq:
            return None  # overwritten while we copied: skip it rather than pass on a torn frame
        self.ts = ts
        self.meta = meta
        return image

    def _remap(self, path: str, slot_bytes: int) -> None:
        self._unmap()
        with open(path, "r+b") as fh:
            self._map = mmap.mmap(fh.fileno(), slot_bytes * SLOTS)
        # Both sides have it mapped now: unlink it, so that nothing is left in
        # /dev/shm whatever happens to either process later.
        with contextlib.suppress(OSError):
            os.unlink(path)
        self._slot_bytes = slot_bytes

    def _unmap(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None

    def _exit_reason(self) -> str:
        proc = self._proc
        if proc is not None:
            proc.join(0.5)
            code = proc.exitcode
            if code is not None and code < 0:
                return f"capture process killed by signal {-code}"
            return f"capture process exited (code {code})"
        return "capture process is gone"


def remove_stale_shm() -> int:
    """Delete ring files left by daemons that died (their pid no longer runs)."""
    removed = 0
    for path in SHM_DIR.glob(f"{SHM_PREFIX}*"):
        try:
            pid = int(path.name[len(SHM_PREFIX) :].split("-")[0])
        except ValueError:
            continue
        if not _pid_alive(pid):
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- child side


def child_main(spec: CaptureSpec, conn: Any, base: str) -> None:
    """Entry point of the capture process: read frames until told to stop or killed."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the daemon's to handle
    os.environ.update(spec.env)
    writer = _RingWriter(base, conn)
    capture = None
    try:
        capture = spec.build()
        capture.open()
        while True:
            image = capture.read()
            writer.write(image, time.time(), capture.frame_meta())
    except EndOfStream:
        _send(conn, ("eof",))
    except (UnfixableCaptureError, OpenCVMissingError) as exc:
        _send(conn, ("unfixable", str(exc)))
    except CaptureError as exc:
        _send(conn, ("error", str(exc)))
    except BrokenPipeError:
        pass  # the parent closed its end: it no longer wants frames
    except Exception as exc:  # a library bug: report it, the parent decides
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        _send(conn, ("error", f"capture failed: {detail}"))
    finally:
        if capture is not None:
            with contextlib.suppress(Exception):
                capture.close()
        writer.close()


class _RingWriter:
    """Child side of the shared-memory ring."""

    def __init__(self, base: str, conn: Any):
        self._base = base
        self._conn = conn
        self._generation = 0
        self._map: Optional[mmap.mmap] = None
        self._path: Optional[str] = None
        self._shape: Optional[Tuple[int, ...]] = None
        self._slot_bytes = 0
        self._seq = 0

    def write(self, image: np.ndarray, ts: float, meta: Dict[str, Any]) -> None:
        if image.dtype != np.uint8:
            raise CaptureError(f"capture returned {image.dtype} pixels, expected uint8")
        if image.shape != self._shape:
            self._reshape(image.shape)
        self._seq += 1
        slot = self._seq % SLOTS
        offset = slot * self._slot_bytes
        HEADER.pack_into(self._map, offset, self._seq, -1)
        view = np.frombuffer(self._map, np.uint8, image.size, offset + HEADER.size)
        view[:] = np.ascontiguousarray(image).reshape(-1)
        HEADER.pack_into(self._map, offset, self._seq, self._seq)
        self._conn.send(("frame", slot, self._seq, ts, image.shape, meta))

    def _reshape(self, shape: Tuple[int, ...]) -> None:
        self.close()
        self._generation += 1
        self._path = f"{self._base}-{self._generation}"
        self._slot_bytes = HEADER.size + int(np.prod(shape))
        with open(self._path, "w+b") as fh:
            fh.truncate(self._slot_bytes * SLOTS)
            self._map = mmap.mmap(fh.fileno(), self._slot_bytes * SLOTS)
        self._shape = tuple(shape)
        self._conn.send(("geometry", self._path, self._slot_bytes))

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


def _send(conn: Any, message: Tuple) -> None:
    with contextlib.suppress(OSError):
        conn.send(message)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the parent dies, whatever the child is doing."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
