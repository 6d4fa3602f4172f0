"""Remove credentials from text before it reaches a log or the status page."""

from __future__ import annotations

import logging
import re

__all__ = ["RedactingFilter", "redact_uri"]

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


def redact_uri(text: str) -> str:
    """Replace any ``user:pass@`` in URIs inside ``text`` with ``***@``."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


class RedactingFilter(logging.Filter):
    """A last line of defence: scrub URIs with credentials from every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "@" in message and "://" in message:
            record.msg = redact_uri(message)
            record.args = None
        return True
