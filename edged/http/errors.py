"""Error responses as JSON with a reason a person can act on."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Type

from aiohttp import web

__all__ = ["json_error", "too_large"]


def _body(status: int, reason: str, extra: Optional[Dict[str, Any]] = None) -> str:
    body: Dict[str, Any] = {"error": reason, "status": status}
    body.update(extra or {})
    return json.dumps(body, default=str)


def json_error(
    cls: Type[web.HTTPException],
    reason: str,
    headers: Optional[Dict[str, str]] = None,
    extra: Optional[Dict[str, Any]] = None,
) -> web.HTTPException:
    """An HTTP error whose body is ``{"error": reason, "status": code, **extra}``; raise it."""
    return cls(
        text=_body(cls.status_code, reason, extra),
        content_type="application/json",
        headers=headers,
    )


def too_large(reason: str, max_size: int, actual_size: int) -> web.HTTPException:
    """413 as JSON (its aiohttp class takes the sizes as well)."""
    return web.HTTPRequestEntityTooLarge(
        max_size,
        actual_size,
        text=_body(413, reason),
        content_type="application/json",
    )
