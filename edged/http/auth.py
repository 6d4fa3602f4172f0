"""The optional bearer token: required on every endpoint but ``/healthz``.

Scripts and Prometheus send ``Authorization: Bearer <token>``. A browser
cannot add that header to an ``<img>`` MJPEG request, so the status page
signs in once through ``POST /login`` and gets an HttpOnly, SameSite=Strict
cookie holding an HMAC of the token (never the token itself).
"""

from __future__ import annotations

import hashlib
import hmac
import html
from typing import Awaitable, Callable, Optional
from urllib.parse import urlsplit

from aiohttp import web

from edged.http.errors import json_error

__all__ = [
    "SESSION_COOKIE",
    "Auth",
    "login_page",
    "make_auth_middleware",
    "make_login",
    "same_origin_middleware",
]

SESSION_COOKIE = "edged_session"
#: Paths served without a token: the health probe, and the sign-in form itself.
OPEN_PATHS = frozenset({"/healthz", "/login"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Auth:
    """Checks requests against the token (or lets everything through when there is none)."""

    def __init__(self, token: Optional[str]):
        self._token = token.encode("utf-8") if token else None
        self._session = (
            hmac.new(self._token, b"edged-session/1", hashlib.sha256).hexdigest().encode("ascii")
            if self._token
            else None
        )

    @property
    def enabled(self) -> bool:
        return self._token is not None

    @property
    def session_value(self) -> str:
        return self._session.decode("ascii") if self._session else ""

    def token_ok(self, candidate: str) -> bool:
        return self._token is not None and _same(candidate, self._token)

    def allows(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.token_ok(credentials.strip()):
            return True
        cookie = request.cookies.get(SESSION_COOKIE)
        return bool(cookie) and self._session is not None and _same(cookie, self._session)


def _same(candidate: str, secret: bytes) -> bool:
    """Constant-time comparison of what a client sent with a secret.

    aiohttp hands over header bytes that are not UTF-8 as lone surrogates,
    which cannot be encoded back: such a value is simply wrong (401), not a
    server error.
    """
    try:
        sent = candidate.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(sent, secret)


#: Methods that change state: a browser sends these cross-site without asking (a form).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@web.middleware
async def same_origin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a state-changing request that a page from another origin sent.

    Without a token (the default) any web page a user on the plant network
    opens could otherwise POST to edged through the user's browser (CSRF).
    Browsers send ``Origin`` on such requests; scripts and curl send none and
    are let through (the token, where set, is what guards them).
    """
    origin = request.headers.get("Origin")
    if (
        request.method in UNSAFE_METHODS
        and origin is not None
        and not _same_origin(request, origin)
    ):
        raise json_error(
            web.HTTPForbidden,
            f"cross-origin request refused: a page from {origin!r} may not send "
            f"{request.method} to edged; use edged's own page or a script without Origin",
        )
    return await handler(request)


def _same_origin(request: web.Request, origin: str) -> bool:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    host = request.headers.get("Host", "")
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()


def make_auth_middleware(auth: Auth) -> Callable[[web.Request, Handler], Awaitable]:
    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or auth.allows(request):
            return await handler(request)
        if request.method == "GET" and request.path == "/":
            return _login_response(status=401)
        raise json_error(
            web.HTTPUnauthorized,
            "a bearer token is required: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="edged"'},
        )

    return auth_middleware


async def login_page(request: web.Request) -> web.Response:
    return _login_response()


def make_login(auth: Auth) -> Handler:
    async def login(request: web.Request) -> web.StreamResponse:
        """Check the posted token; on success set the session cookie and go to the page."""
        if not auth.enabled:
            raise web.HTTPSeeOther("/")
        try:
            form = await request.post()
        except UnicodeDecodeError:  # a form that is not UTF-8 holds no valid token
            return _login_response(status=401, message="That token is not right.")
        token = form.get("token")
        if not isinstance(token, str) or not auth.token_ok(token.strip()):
            return _login_response(status=401, message="That token is not right.")
        response = web.HTTPSeeOther("/")
        response.set_cookie(
            SESSION_COOKIE, auth.session_value, httponly=True, samesite="Strict", path="/"
        )
        raise response

    return login


def _login_response(status: int = 200, message: str = "") -> web.Response:
    note = f'<p class="err">{html.escape(message)}</p>' if message else ""
    page = LOGIN_PAGE.replace("{note}", note)
    headers = {"WWW-Authenticate": 'Bearer realm="edged"'} if status == 401 else None
    return web.Response(
        text=page, status=status, content_type="text/html", charset="utf-8", headers=headers
    )


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edged - sign in</title>
<style>
body{font:15px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#0f172a;
color:#e2e8f0;display:flex;min-height:100vh;align-items:center;justify-content:center;margin:0}
form{background:#1e293b;padding:28px 32px;border-radius:10px;min-width:300px;
box-shadow:0 10px 30px rgba(0,0,0,.35)}
h1{font-size:18px;margin:0 0 16px}label{display:block;margin-bottom:6px;color:#94a3b8}
input{width:100%;box-sizing:border-box;padding:9px 10px;border-radius:6px;border:1px solid #334155;
background:#0f172a;color:#e2e8f0;font:inherit}
button{margin-top:14px;width:100%;padding:9px;border:0;border-radius:6px;background:#2563eb;
color:#fff;font:inherit;cursor:pointer}.err{color:#f87171;margin:10px 0 0}
</style></head><body>
<form method="post" action="/login">
<h1>edged</h1>
<label for="token">Access token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus>
{note}
<button type="submit">Sign in</button>
</form></body></html>
"""
