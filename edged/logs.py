"""Logging set-up: per-module levels, and journald-friendly output under systemd."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, List, Optional, Tuple

from edged.config.log import LoggingConfig
from edged.redact import RedactingFilter

__all__ = ["RateLimitFilter", "one_line", "setup_logging"]

# syslog priorities (sd-daemon(3)): journald reads "<N>" at the start of a line.
_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


class JournalFormatter(logging.Formatter):
    """``<priority>logger: message``; journald adds the timestamp itself."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


def under_journald() -> bool:
    """True when stderr is connected to the journal (systemd sets JOURNAL_STREAM)."""
    stream = os.environ.get("JOURNAL_STREAM")
    if not stream:
        return False
    try:
        device, inode = (int(x) for x in stream.split(":"))
        st = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError):
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


def setup_logging(config: Optional[LoggingConfig] = None, journald: Optional[bool] = None) -> None:
    """(Re)configure the root logger; safe to call again on reload."""
    config = config or LoggingConfig()
    journald = under_journald() if journald is None else journald
    handler = logging.StreamHandler(sys.stderr)
    if journald:
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_edged", False)]:
        root.removeHandler(old)
    handler._edged = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(config.level)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("edged"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    for name, level in config.levels.items():
        logging.getLogger(name).setLevel(level)


class RateLimitFilter(logging.Filter):
    """At most one line of each kind per ``interval_s``; the next one says how many it held back.

    Put on the logger that repeats itself (a scanner's malformed requests,
    ``accept()`` failing every second while file descriptors are exhausted): a
    flood of identical lines buries what matters and can fill the disk, while
    the first line of a kind still appears at once. A kind is the logger, the
    level, the unformatted message and the exception type (or ``record.edged_kind``
    when a filter before this one set it), so lines that differ only in a
    client's address count as one kind.
    """

    #: Kinds remembered; the least recently seen is forgotten first.
    MAX_KINDS = 256

    def __init__(self, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._kinds: OrderedDict = OrderedDict()  # kind -> [monotonic time shown, held back]
        self._lock = threading.Lock()  # records come from any thread

    def filter(self, record: logging.LogRecord) -> bool:
        held = self._admit(_kind_of(record), self._clock())
        if held is None:
            return False
        if held:
            one_line(
                record,
                record.levelno,
                "%s (%d more like this not shown since the last one)",
                (record.getMessage(), held),
            )
        return True

    def _admit(self, kind: Tuple[Any, ...], now: float) -> Optional[int]:
        """None to hold the line back, else how many of its kind were held back before it."""
        with self._lock:
            state: Optional[List[Any]] = self._kinds.get(kind)
            if state is not None and now - state[0] < self.interval_s:
                state[1] += 1
                return None
            self._kinds[kind] = [now, 0]
            self._kinds.move_to_end(kind)
            while len(self._kinds) > self.MAX_KINDS:
                self._kinds.popitem(last=False)
        return state[1] if state is not None else 0


def one_line(record: logging.LogRecord, level: int, msg: str, args: Tuple[Any, ...]) -> None:
    """Rewrite a record in place as one line at ``level``, without its traceback."""
    record.msg = msg
    record.args = args
    record.levelno = level
    record.levelname = logging.getLevelName(level)
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None


def _kind_of(record: logging.LogRecord) -> Tuple[Any, ...]:
    kind = getattr(record, "edged_kind", None)
    if kind is not None:
        return (record.name, kind)
    exc = record.exc_info[0] if record.exc_info else None
    return (record.name, record.levelno, str(record.msg), getattr(exc, "__name__", None))
