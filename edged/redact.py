"""Remove credentials from text before it reaches a log, the status page or MQTT.

Three places hold secrets in what edged shows: the user-info of a URI
(``rtsp://admin:P@ssw0rd@host/s1``; the password may itself contain ``@``),
secret query parameters (``?user=admin&password=X``) and secret properties of
a GStreamer pipeline (``rtspsrc user-pw=X``). URIs are split with
``urllib.parse`` the way FFmpeg and GStreamer split them, so the host that is
shown is the host that is used; everything between ``://`` and that host is
hidden.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

__all__ = [
    "ENDPOINT_KEYS",
    "MASK",
    "SECRET_NAMES",
    "RedactingFilter",
    "keep_secrets",
    "masks_left",
    "moved_to",
    "redact",
    "redact_value",
    "same_host",
    "tls_dropped",
]

MASK = "***"

#: Query parameters and pipeline properties whose values are secrets (lower case).
SECRET_NAMES = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "authorization",
        "credentials",
        "key",
        "pass",
        "passwd",
        "password",
        "proxy-pw",
        "pw",
        "pwd",
        "secret",
        "sig",
        "signature",
        "token",
        "user-pw",
    }
)

_URI = r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+"
# A pipeline property ``name=value``: the value runs to white space or the next
# element (``!``), or is quoted.
_PROPERTY = (
    r"(?<![\w-])(?P<name>[a-zA-Z][\w-]*)(?P<eq>\s*=\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s!]+)"
)
_TOKENS = re.compile(f"(?P<uri>{_URI})|{_PROPERTY}")


def redact(text: str) -> str:
    """``text`` with URI user-info, secret query parameters and secret properties masked."""
    return _TOKENS.sub(_redact_token, text)


def _redact_token(match: re.Match) -> str:
    if match.group("uri"):
        return _redact_one_uri(match.group("uri"))
    name, eq, value = match.group("name", "eq", "value")
    if name.lower() in SECRET_NAMES:
        return f"{name}{eq}{MASK}"
    return f"{name}{eq}{redact(value)}"  # e.g. location=rtsp://user:pw@host/...


def _redact_one_uri(uri: str) -> str:
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unbalanced '[' in the host: hide everything after ://
        scheme, _, _ = uri.partition("://")
        return f"{scheme}://{MASK}"
    netloc, path = _hide_userinfo(parts.netloc, parts.path, _has_valid_port(parts))
    query = _redact_query(parts.query)
    if netloc == parts.netloc and query == parts.query:
        return uri  # nothing secret: keep it exactly as written
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


def _hide_userinfo(netloc: str, path: str, valid_port: bool) -> Tuple[str, str]:
    """(netloc, path) with everything before the host masked.

    A password may hold ``@`` (the host follows the last one) or an unescaped
    ``/``, which ends the authority early: ``admin:pa/ss@host`` parses as host
    ``admin``, port ``pa``. An invalid port with an ``@`` further on is taken
    as that case, so no part of the password is shown.
    """
    if "@" in netloc:
        return f"{MASK}@{netloc.rpartition('@')[2]}", path
    if valid_port or "@" not in path:
        return netloc, path
    host, slash, rest = path.rpartition("@")[2].partition("/")
    return f"{MASK}@{host}", slash + rest


def _has_valid_port(parts: SplitResult) -> bool:
    try:
        return parts.port is None or parts.port >= 0
    except ValueError:
        return False


def _redact_query(query: str) -> str:
    """Mask secret parameters, keeping the others exactly as written."""
    if not query:
        return query
    fields = []
    for field in re.split(r"([&;])", query):
        name, eq, _ = field.partition("=")
        if eq and unquote(name).strip().lower() in SECRET_NAMES:
            field = f"{name}={MASK}"
        fields.append(field)
    return "".join(fields)


def redact_value(value: Any) -> Any:
    """A config entry (JSON-like data) with its secrets masked, to show it back.

    Strings are ``redact``-ed (URI user-info, secret parameters); a key named
    like a secret (``password``, ``token``) has its value masked whatever it is.
    ``password_file``/``password_env`` name where a secret is, and are shown.
    """
    if isinstance(value, dict):
        return {
            k: MASK
            if isinstance(k, str) and k.lower() in SECRET_NAMES and v is not None
            else redact_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


def keep_secrets(new: Any, old: Any) -> Any:
    """``new`` with every value that is exactly ``redact_value`` of the old one put back.

    A client that reads an entry (secrets masked), changes its fps and sends it
    back must not replace the camera's password with ``***``.
    """
    if isinstance(new, dict) and isinstance(old, dict):
        if moved_to(new, old) is not None:
            return new  # credentials stay with the host they were given for
        out = {}
        for key, value in new.items():
            masked = key in old and redact_value({key: old[key]})[key] == MASK
            if masked and value == MASK:
                out[key] = old[key]
            else:
                out[key] = keep_secrets(value, old.get(key))
        return out
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [keep_secrets(n, o) for n, o in zip(new, old)]
    if isinstance(new, str) and isinstance(old, str) and new != old:
        return old if new == redact(old) else _keep_uri_secrets(new, old)
    return new


def _keep_uri_secrets(new: str, old: str) -> str:
    """A URI edited from its masked form, with the old user-info and secret parameters back.

    ``rtsp://***@host/s1`` changed to ``rtsp://***@host/s2`` keeps the old
    ``user:pass@``, and ``token=***`` the old token, so that changing a
    camera's path does not mean typing its password again. Only on the same
    host and port: a masked password is never sent to another host.
    """
    if "://" not in new or MASK not in new:
        return new
    try:
        new_parts, old_parts = urlsplit(new), urlsplit(old)
    except ValueError:
        return new
    if not same_host(new, old):
        return new  # credentials stay with the host they were given for
    netloc = new_parts.netloc
    if netloc.startswith(f"{MASK}@") and "@" in old_parts.netloc:
        netloc = old_parts.netloc.rpartition("@")[0] + "@" + netloc[len(MASK) + 1 :]
    query = new_parts.query
    if f"={MASK}" in query and old_parts.query:
        olds = {}
        for field in re.split(r"[&;]", old_parts.query):
            name, eq, _ = field.partition("=")
            if eq:
                olds.setdefault(unquote(name).strip().lower(), field)
        fields = []
        for field in re.split(r"([&;])", query):
            name, eq, value = field.partition("=")
            key = unquote(name).strip().lower()
            if eq and value == MASK and key in SECRET_NAMES and key in olds:
                field = olds[key]
            fields.append(field)
        query = "".join(fields)
    if netloc == new_parts.netloc and query == new_parts.query:
        return new
    return urlunsplit((new_parts.scheme, netloc, new_parts.path, query, new_parts.fragment))


#: Keys of a mapping that name where its credentials are sent.
ENDPOINT_KEYS = ("uri", "url")


def moved_to(new: Dict[str, Any], old: Dict[str, Any]) -> Optional[str]:
    """The key by which ``new`` sends elsewhere than ``old``: its ``uri`` or ``url`` naming
    another host, or ``ssl`` when the TLS ``old`` had is gone; None when it sends where
    ``old`` did (a secret kept from ``old`` may go with it)."""
    for key in ENDPOINT_KEYS:
        a, b = new.get(key), old.get(key)
        if isinstance(a, str) and isinstance(b, str) and not same_host(a, b):
            return key
    return "ssl" if tls_dropped(new, old) else None


def tls_dropped(new: Dict[str, Any], old: Dict[str, Any]) -> bool:
    """Whether ``old`` had ``ssl: true`` and ``new`` has not: a secret would travel in clear."""
    return old.get("ssl") is True and new.get("ssl") is not True


def same_host(uri: str, other: str) -> bool:
    """Whether two URIs name the same scheme, host and port (case-insensitive host).

    ``host:port`` without a scheme (as in ``triton.url``) is compared as such,
    not read as scheme ``host`` and path ``port``.
    """
    try:
        a, b = _split_endpoint(uri), _split_endpoint(other)
        return (a.scheme.lower(), a.hostname, a.port) == (b.scheme.lower(), b.hostname, b.port)
    except ValueError:
        return False


def _split_endpoint(uri: str) -> SplitResult:
    return urlsplit(uri if "://" in uri else "//" + uri.strip())


def masks_left(value: Any, path: str = "") -> List[str]:
    """Where ``value`` still holds a mask as a credential (``***``, ``://***@``, ``=***``)."""
    found: List[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += masks_left(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += masks_left(item, f"{path}[{index}]")
    elif isinstance(value, str) and (
        value == MASK or f"://{MASK}@" in value or re.search(rf"=\s*{re.escape(MASK)}", value)
    ):
        found.append(path)
    return found


class RedactingFilter(logging.Filter):
    """A last line of defence: scrub credentials from every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "://" in message or "=" in message:
            clean = redact(message)
            if clean != message:
                record.msg = clean
                record.args = None
        return True
