"""One rate-limited line per kind for what the HTTP server logs about its clients.

aiohttp logs every malformed request as an ERROR with a full traceback
(``aiohttp.server``), and asyncio logs ``accept()`` failing for want of file
descriptors with a traceback once a second (``asyncio``). Neither is a fault in
edged: a scanner or a flood of connections could write tens of megabytes of
log a minute. These filters go on those two loggers: each such record becomes
one line saying what happened, then a ``RateLimitFilter`` keeps one line per
kind a minute. Other records pass untouched (a 500 from a handler keeps its
traceback: that one is a bug worth reading).
"""

from __future__ import annotations

import errno
import logging
from typing import Any, Optional

from aiohttp.http_exceptions import HttpProcessingError

from edged.logs import RateLimitFilter, one_line

__all__ = ["AcceptErrorFilter", "BadRequestFilter", "install_server_log_filters"]

#: How often a line of the same kind may repeat.
INTERVAL_S = 60.0
_DETAIL_CHARS = 120
_ACCEPT_FAILED = "socket.accept() out of system resource"


class BadRequestFilter(logging.Filter):
    """A request aiohttp could not parse: one WARNING line naming the kind, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            kind = type(exc).__name__
            level = min(record.levelno, logging.WARNING)  # the client's fault, not edged's
            one_line(
                record,
                level,
                "malformed request from %s refused (%s): %s",
                (_remote(record), kind, _first_line(exc.message)),
            )
            record.edged_kind = kind
        return True


class AcceptErrorFilter(logging.Filter):
    """``accept()`` out of file descriptors: one ERROR line with what to do about it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(_ACCEPT_FAILED):
            return True
        exc = record.exc_info[1] if record.exc_info else None
        code = errno.errorcode.get(getattr(exc, "errno", None) or 0, "?")
        one_line(
            record,
            logging.ERROR,
            "cannot accept HTTP connections: %s (%s); asyncio retries every second. "
            "The process is out of file descriptors: raise LimitNOFILE, lower "
            "sinks.http.max_connections or find what holds them open",
            (getattr(exc, "strerror", None) or exc, code),
        )
        record.edged_kind = f"accept-{code}"
        return True


def install_server_log_filters(interval_s: float = INTERVAL_S) -> None:
    """Put the one-line and rate-limit filters on aiohttp's and asyncio's loggers.

    Called whenever the HTTP server starts: earlier edged filters are replaced,
    so a reload starts with fresh counts and filters never pile up.
    """
    for name, first in (("aiohttp.server", BadRequestFilter()), ("asyncio", AcceptErrorFilter())):
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if getattr(f, "_edged", False)]:
            logger.removeFilter(old)
        for new in (first, RateLimitFilter(interval_s)):
            new._edged = True  # type: ignore[attr-defined]
            logger.addFilter(new)


def _remote(record: logging.LogRecord) -> Any:
    """The client's address, which aiohttp passes as the record's only argument."""
    args = record.args
    if isinstance(args, tuple) and len(args) == 1:
        return args[0]
    return "?"


def _first_line(text: Optional[str]) -> str:
    """The first non-empty line, shortened and quoted: it holds bytes the client chose."""
    for line in str(text or "").splitlines():
        if line.strip():
            return repr(line.strip()[:_DETAIL_CHARS])
    return "''"
