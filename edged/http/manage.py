"""Sources and pipelines managed at run time: ``/api/sources`` and ``/api/pipelines``.

A body is one entry of the config file's list, as JSON. A change is checked
as the whole file would be (same models, same messages: field path and a
fix), saved to the config file (atomically, comments kept, previous file as
``.bak``) and applied the way a reload is: only the parts that changed
restart. Reading shows entries with their credentials masked; an entry sent
back with the masks unchanged keeps its credentials.

Changing anything needs ``sinks.http.manage`` (on by default only when a
token is set): a page without a token can never change what edged runs.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional

import yaml
from aiohttp import web

from edged.config import Config, ConfigError
from edged.config.edit import (
    SECTIONS,
    EditError,
    SaveError,
    StaleFileError,
    edit_entry,
    entries,
)
from edged.http.errors import json_error
from edged.http.keys import MANAGE, VIEW
from edged.redact import keep_secrets, redact, redact_value

__all__ = ["manage_routes"]

log = logging.getLogger(__name__)

SINGULAR = {"sources": "source", "pipelines": "pipeline"}
NO_STORE = {"Cache-Control": "no-store"}

Handler = Callable[[web.Request], Any]


def manage_routes(id_pattern: str) -> List[web.RouteDef]:
    """The routes of both lists and ``POST /api/reload``."""
    routes = [web.post("/api/reload", reload)]
    for section in SECTIONS:
        handlers = _Section(section)
        routes += [
            web.get(f"/api/{section}", handlers.list),
            web.post(f"/api/{section}", handlers.create),
            web.get(f"/api/{section}/{id_pattern}", handlers.get),
            web.put(f"/api/{section}/{id_pattern}", handlers.replace),
            web.delete(f"/api/{section}/{id_pattern}", handlers.delete),
        ]
    return routes


async def reload(request: web.Request) -> web.Response:
    """Re-read the config file, as SIGHUP does (e.g. after a 409 for a file edited by hand)."""
    view = _owner(request, changing=True)
    if not await view.reload():
        raise json_error(
            web.HTTPUnprocessableEntity,
            "the config file was not applied (it has problems, or edged is stopping); the "
            "running config is kept",
            extra={"fix": "run `edged check FILE` to see the problems, fix them, reload again"},
        )
    return web.json_response({"reloaded": True, "reloads": view.reloads}, headers=NO_STORE)


class _Section:
    """The handlers of one list of the config file (``sources`` or ``pipelines``)."""

    def __init__(self, section: str):
        self.section = section
        self.what = SINGULAR[section]

    async def list(self, request: web.Request) -> web.Response:
        items = _entries(_owner(request), self.section)
        return web.json_response({self.section: redact_value(items)}, headers=NO_STORE)

    async def get(self, request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        items = _entries(_owner(request), self.section)
        return web.json_response(redact_value(self._find(items, ident)), headers=NO_STORE)

    async def create(self, request: web.Request) -> web.Response:
        view = _owner(request, changing=True)
        body = await _body(request, self.section)
        ident = body.get("id")

        def edit(config: Config, text: str) -> str:
            if isinstance(ident, str) and ident in _ids(config, self.section):
                raise json_error(
                    web.HTTPConflict,
                    f"{self.what} {ident!r} exists already",
                    extra={"fix": f"change it with PUT /api/{self.section}/{ident}"},
                )
            return edit_entry(text, self.section, ident if isinstance(ident, str) else None, body)

        await _change(view, edit, f"added {self.what} {ident}")
        location = f"/api/{self.section}/{ident}"
        return web.json_response(
            redact_value(body), status=201, headers={"Location": location, **NO_STORE}
        )

    async def replace(self, request: web.Request) -> web.Response:
        view = _owner(request, changing=True)
        ident = request.match_info["id"]
        body = await _body(request, self.section)
        if "id" not in body:
            body = {"id": ident, **body}

        def edit(config: Config, text: str) -> str:
            items = _entries(view, self.section)
            old = self._find(items, ident)
            if body["id"] != ident:
                index = items.index(old)
                raise _invalid(
                    f"{self.section}[{index}].id",
                    f"the id in the body ({body['id']!r}) is not the one in the URL ({ident!r})",
                    f"leave id out or send {ident!r}; to rename, DELETE it and POST it "
                    "under the new id",
                )
            return edit_entry(text, self.section, ident, keep_secrets(body, old))

        await _change(view, edit, f"changed {self.what} {ident}")
        return web.json_response(redact_value(body), headers=NO_STORE)

    async def delete(self, request: web.Request) -> web.Response:
        view = _owner(request, changing=True)
        ident = request.match_info["id"]

        def edit(config: Config, text: str) -> str:
            self._find(_entries(view, self.section), ident)
            if self.section == "sources":
                users = [p.id for p in config.pipelines if ident in p.source_ids]
                if users:
                    raise json_error(
                        web.HTTPConflict,
                        f"source {ident!r} is used by pipeline(s) {', '.join(users)}",
                        extra={
                            "pipelines": users,
                            "fix": "delete those pipelines or point them at another source "
                            "first (PUT /api/pipelines/ID)",
                        },
                    )
            return edit_entry(text, self.section, ident, None)

        await _change(view, edit, f"removed {self.what} {ident}")
        return web.Response(status=204)

    def _find(self, items: List[Dict[str, Any]], ident: str) -> Dict[str, Any]:
        for item in items:
            if item.get("id") == ident:
                return item
        known = ", ".join(str(i.get("id")) for i in items) or "none"
        raise json_error(
            web.HTTPNotFound, f"no {self.what} {ident!r} in the config (known: {known})"
        )


def _owner(request: web.Request, changing: bool = False) -> Any:
    """The daemon, when it keeps a config; with ``changing``, only when managing is on."""
    view = request.app[VIEW]
    if changing and not request.app[MANAGE]:
        raise json_error(
            web.HTTPForbidden,
            "this server is read-only: changing sources and pipelines needs "
            "sinks.http.manage, which is off (it is on by default only when a token is set)",
            extra={
                "fix": "set sinks.http.token_file (or token_env) and, if it is set to false, "
                "remove sinks.http.manage or set it to true; then reload edged"
            },
        )
    if not hasattr(view, "edit_config"):
        raise json_error(web.HTTPNotFound, "this server does not manage a config")
    return view


def _entries(view: Any, section: str) -> List[Dict[str, Any]]:
    """The entries as written in the file last read (else the running config's)."""
    text: Optional[str] = getattr(view, "config_text", None)
    if text is not None:
        return entries(yaml.safe_load(text), section)
    data = view.config.model_dump(mode="json", exclude_unset=True)
    return entries(data, section)


def _ids(config: Config, section: str) -> List[str]:
    return [item.id for item in getattr(config, section)]


async def _body(request: web.Request, section: str) -> Dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise json_error(
            web.HTTPBadRequest,
            f"the body must be a JSON object: one entry of the config's {section} list",
            extra={"fix": 'send e.g. {"id": "cam1", "kind": "rtsp", "uri": "rtsp://host/s1"}'},
        )
    return body


async def _change(view: Any, edit: Callable[[Config, str], str], what: str) -> None:
    """Run one edit through the daemon and turn its refusals into HTTP answers."""
    try:
        await view.edit_config(edit, what)
    except ConfigError as exc:
        raise _from_config_error(exc) from None
    except StaleFileError as exc:
        raise json_error(
            web.HTTPConflict,
            exc.message,
            extra={
                "file": exc.path,
                "read": exc.was._asdict(),
                "now": exc.now._asdict(),
                "fix": exc.hint,
            },
        ) from None
    except SaveError as exc:
        raise json_error(
            web.HTTPInternalServerError, exc.message, extra={"file": exc.path, "fix": exc.hint}
        ) from None
    except EditError as exc:
        raise json_error(web.HTTPConflict, exc.message, extra={"fix": exc.hint}) from None
    except web.HTTPException:
        raise
    except Exception as exc:
        log.exception("applying a change from the API failed (%s)", what)
        raise json_error(
            web.HTTPInternalServerError,
            f"the change was saved, but applying it failed part-way: {redact(str(exc))}",
            extra={"fix": "see /api/status for what runs, and the log"},
        ) from None


def _from_config_error(exc: ConfigError) -> web.HTTPException:
    """422 with every problem as the file would report it (credentials masked)."""
    issues = []
    for issue in exc.issues:
        row: Dict[str, Any] = {"field": issue.path, "message": redact(issue.message)}
        if issue.value is not None:
            row["value"] = redact_value(issue.value)
        row["fix"] = redact(issue.hint)
        issues.append(row)
    first = issues[0]
    got = f" (got {first['value']!r})" if "value" in first else ""
    return json_error(
        web.HTTPUnprocessableEntity,
        f"not changed: {first['field'] or '(top level)'}: {first['message']}{got}",
        extra={"field": first["field"], "fix": first["fix"], "issues": issues},
    )


def _invalid(field: str, message: str, fix: str) -> web.HTTPException:
    issue = {"field": field, "message": message, "fix": fix}
    return json_error(
        web.HTTPUnprocessableEntity,
        f"not changed: {field}: {message}",
        extra={"field": field, "fix": fix, "issues": [issue]},
    )
