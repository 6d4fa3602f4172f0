"""Test a camera before saving it: open its capture once, take one frame, close it.

The capture is the one a running source uses (``open_capture``: a child
process for cameras and streams, the calling thread for files and the
synthetic source), so a camera that passes the test is opened the same way
once saved. Blocking: call it on an executor thread. Every message is free of
credentials (``redact``); a failure says which step failed.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Optional, Tuple
from urllib.parse import urlsplit

import numpy as np

from edged.cvutil import OpenCVMissingError
from edged.redact import redact
from edged.sources.capture import (
    CaptureError,
    CaptureSpec,
    EndOfStream,
    UnfixableCaptureError,
)
from edged.sources.isolation import StallError
from edged.sources.source import open_capture

__all__ = ["ProbeFailed", "grab_frame", "rtsp_answer"]

#: How long the RTSP diagnosis after a failed open may take.
DIAGNOSE_TIMEOUT_S = 2.0
MIN_DIAGNOSIS_S = 0.3


class ProbeFailed(Exception):
    """The camera could not be read: ``step`` is what failed, ``message`` says so plainly.

    Steps: ``timeout`` (nothing within the time), ``auth`` (the camera refused the
    credentials), ``open`` (cannot connect or open), ``no_frame`` (opened, but no
    picture came), ``unsupported`` (this machine cannot read this kind of source).
    """

    def __init__(self, step: str, message: str, hint: str):
        super().__init__(message)
        self.step = step
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


def grab_frame(
    spec: CaptureSpec,
    name: str,
    timeout_s: float,
    stop: Optional[threading.Event] = None,
    rtsp_uri: Optional[str] = None,
) -> Tuple[np.ndarray, float]:
    """One frame of ``spec`` and the seconds it took; ``ProbeFailed`` otherwise.

    ``rtsp_uri`` (with its credentials) lets a failed open of an RTSP stream be
    told apart: refused credentials, unknown path, nothing listening.
    """
    started = time.monotonic()
    label = spec.label or name
    capture = None
    try:
        capture = open_capture(spec, f"test-{name}")
        capture.open()
        image = capture.read(timeout_s, stop)
    except StallError:
        capture = _closed(capture)  # before the diagnosis: the test keeps to its time
        budget = _diagnosis_budget(started, timeout_s)
        raise _failed_open(rtsp_uri, label, timeout_s, True, budget) from None
    except EndOfStream:
        raise ProbeFailed(
            "no_frame",
            f"{label} opened but ended before its first frame",
            "check that the file or stream holds video",
        ) from None
    except (UnfixableCaptureError, OpenCVMissingError) as exc:
        raise ProbeFailed(
            "unsupported", redact(str(exc)), "install what the message names"
        ) from None
    except CaptureError as exc:
        if stop is not None and stop.is_set():
            raise ProbeFailed("open", "the test was stopped (edged is stopping)", "") from None
        capture = _closed(capture)
        budget = _diagnosis_budget(started, timeout_s)
        failed = _failed_open(rtsp_uri, label, timeout_s, False, budget)
        failed.message = f"{failed.message} ({redact(str(exc))})"
        raise failed from None
    except Exception as exc:  # a library bug: report it, never a traceback to the page
        raise ProbeFailed(
            "open", f"reading {label} failed: {type(exc).__name__}: {redact(str(exc))}", ""
        ) from None
    finally:
        if capture is not None:
            capture.close()
    if image is None or getattr(image, "size", 0) == 0:
        raise ProbeFailed("no_frame", f"{label} gave an empty frame", "check the camera")
    return image, time.monotonic() - started


def _closed(capture: Any) -> None:
    """Close ``capture`` now (its child process too); None for the ``finally`` after."""
    if capture is not None:
        capture.close()


def _diagnosis_budget(started: float, timeout_s: float) -> float:
    """Seconds left for the RTSP diagnosis: what the test's time has left, at least a
    moment (a refused connection answers at once), at most ``DIAGNOSE_TIMEOUT_S``."""
    left = started + timeout_s - time.monotonic()
    return max(MIN_DIAGNOSIS_S, min(DIAGNOSE_TIMEOUT_S, left))


def _failed_open(
    uri: Optional[str], label: str, timeout_s: float, timed_out: bool, budget_s: float
) -> ProbeFailed:
    """Why an open failed, as far as an RTSP request can tell (OpenCV gives no reason).

    Called only after the capture itself failed, so a camera that asks for
    credentials when some were given did not accept them.
    """
    answer = rtsp_answer(uri, budget_s) if uri else None
    if answer is not None:
        code, reason = answer
        if code in (401, 403) and urlsplit(uri or "").username is None:
            return ProbeFailed(
                "auth",
                f"{label}: the camera asks for credentials and none were given "
                f"(RTSP {code} {reason})",
                "set username and password (or password_file)",
            )
        if code in (401, 403):
            return ProbeFailed(
                "auth",
                f"{label}: the camera asks for credentials and did not accept these "
                f"(RTSP {code} {reason})",
                "check the user name and password (username/password, or user:pass@ in the URI)",
            )
        if code == 404:
            return ProbeFailed(
                "open",
                f"{label}: the camera has no stream at this path (RTSP 404 {reason})",
                "check the path of the URI in the camera's manual or web page",
            )
        if code < 0:
            return ProbeFailed(
                "open",
                f"{label}: cannot connect ({reason})",
                "check the host and port, and that the camera is on and reachable",
            )
    if timed_out:
        return ProbeFailed(
            "timeout",
            f"no frame from {label} within {timeout_s:g} s",
            "check the address and that the stream is up; a slow camera may need a longer "
            "open_timeout_s",
        )
    if uri is None:
        return ProbeFailed(
            "open",
            f"cannot open {label}",
            "check the path, device or pipeline, and that edged's user may read it",
        )
    return ProbeFailed(
        "open",
        f"cannot open {label}",
        "check the address, the path and the credentials, and that the camera is reachable",
    )


def rtsp_answer(uri: str, timeout_s: float = DIAGNOSE_TIMEOUT_S) -> Optional[Tuple[int, str]]:
    """The status and reason of an RTSP ``DESCRIBE`` of ``uri``, sent without credentials.

    ``(-1, reason)`` when nothing can be reached, None when nothing or no RTSP
    answers or the URI is not ``rtsp://``. The credentials are never sent here
    (a camera that takes only Digest must not get them as Basic): a 401 says
    the camera wants some, and the capture that failed with them had the rest.
    """
    try:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port or 554
    except ValueError:
        return None
    if parts.scheme != "rtsp" or not host:
        return None
    netloc = host if ":" not in host else f"[{host}]"
    clean = parts._replace(netloc=f"{netloc}:{port}").geturl()
    lines = [f"DESCRIBE {clean} RTSP/1.0", "CSeq: 1", "Accept: application/sdp"]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        return -1, exc.strerror or str(exc) or type(exc).__name__
    try:
        sock.settimeout(timeout_s)
        sock.sendall(request)
        head = sock.recv(1024).decode("latin-1", "replace")
    except OSError:
        return None  # connected, but no answer: as good as a timeout
    finally:
        sock.close()
    first = head.split("\r\n", 1)[0].split(" ", 2)
    if len(first) < 2 or not first[0].startswith("RTSP/") or not first[1].isdigit():
        return None
    reason = redact(first[2].strip()[:80]) if len(first) > 2 else ""
    return int(first[1]), reason
