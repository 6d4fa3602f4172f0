"""Logging set-up: per-module levels, and journald-friendly output under systemd."""

from __future__ import annotations

import logging
import os
import sys
from typing import Optional

from edged.config.log import LoggingConfig
from edged.redact import RedactingFilter

__all__ = ["setup_logging"]

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
