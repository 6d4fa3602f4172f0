"""Sources and pipelines managed at run time: ``/api/sources`` and ``/api/pipelines``.

A body is one entry of the config file's list, as JSON. A change is checked
as the whole file would be (same models, same messages: field path and a
fix), saved to the config file (atomically, comments kept, previous file as
``.bak``) and applied the way a reload is: only the parts that changed
restart. Reading shows entries with their credentials masked; an entry sent
back with the masks unchanged keeps its credentials (on the same host only).
What only a person editing the file may change is refused: a ``*_file`` or
``*_env`` field other than as stored, and a ``gstreamer`` source.

Changing anything needs ``sinks.http.manage`` (on by default only when a
token is set): a page without a token can never change what edged runs.

``POST /api/sources/test`` takes the body of a create (or of a change: an id
already in the file keeps its masked credentials), checks it the same way,
opens the camera once with the capture a running source uses, and answers
with one JPEG snapshot, or with the step that failed. Nothing is saved. One
test runs at a time, for at most ``TEST_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Tuple

import yaml
from aiohttp import web

from edged.config import Config, ConfigError, parse_config
from edged.config.edit import (
    SECTIONS,
    EditError,
    SaveError,
    StaleFileError,
    edit_entry,
    entries,
)
from edged.config.load import secret_issues
from edged.http.encoder import encode_jpeg
from edged.http.errors import json_error
from edged.http.keys import CAMERA_TESTS, CONFIG, MANAGE, VIEW
from edged.redact import (
    SECRET_NAMES,
    keep_secrets,
    masks_left,
    moved_to,
    redact,
    redact_value,
)
from edged.sources.probe import ProbeFailed

__all__ = ["TEST_TIMEOUT_S", "camera_tests", "manage_routes"]

log = logging.getLogger(__name__)

SINGULAR = {"sources": "source", "pipelines": "pipeline"}
NO_STORE = {"Cache-Control": "no-store"}
#: The longest a camera test waits for its first frame (less if the source's
#: ``open_timeout_s`` is shorter).
TEST_TIMEOUT_S = 10.0
#: Kinds of source whose device takes one reader at a time.
ONE_READER = frozenset({"v4l2", "csi", "jetcam"})
#: Fields that name a file or an environment variable for edged to read (a
#: ``password_file``, ``token_env``): set only by editing the file by hand.
REFERENCE_SUFFIXES = ("_file", "_env")

Handler = Callable[[web.Request], Any]


def manage_routes(id_pattern: str) -> List[web.RouteDef]:
    """The routes of both lists and ``POST /api/reload``."""
    routes = [web.post("/api/reload", reload), web.post("/api/sources/test", test_source)]
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


async def camera_tests(app: web.Application) -> AsyncIterator[None]:
    """The camera tests' thread lives as long as the app; a test running at the end stops."""
    tests = app[CAMERA_TESTS]
    tests.executor = ThreadPoolExecutor(1, thread_name_prefix="http-camera-test")
    yield
    tests.stop.set()
    tests.executor.shutdown(wait=False)


async def test_source(request: web.Request) -> web.Response:
    """Open a camera once and answer with a snapshot, without saving anything."""
    view = _owner(request, changing=True)
    body = await _body(request, "sources")
    tests = request.app[CAMERA_TESTS]
    loop = asyncio.get_running_loop()
    try:
        source = await loop.run_in_executor(None, _source_to_test, view, body)
    except ConfigError as exc:
        raise _from_config_error(exc, "not tested") from None
    except EditError as exc:
        raise json_error(web.HTTPConflict, exc.message, extra={"fix": exc.hint}) from None
    if tests.executor is None or not tests.slot.acquire(blocking=False):
        raise json_error(
            web.HTTPTooManyRequests,
            "another camera test is running; one runs at a time",
            headers={"Retry-After": "5"},
            extra={"fix": f"try again when it has ended (after about {TEST_TIMEOUT_S:g} s)"},
        )
    http = request.app[CONFIG]

    def run() -> Dict[str, Any]:
        tests.running = source.id
        try:
            return _grab(source, tests.stop, http.jpeg_quality, http.preview_max_width)
        finally:
            tests.running = None
            tests.slot.release()  # only once the capture is closed, even if the client left

    try:
        future = tests.executor.submit(run)
    except BaseException:
        tests.slot.release()  # the executor is shutting down
        raise
    try:
        answer = await asyncio.wrap_future(future)
    except ProbeFailed as exc:
        tests.failed += 1
        running = getattr(view, "sources", dict)()
        if exc.step == "open" and source.kind in ONE_READER and source.id in running:
            exc.hint += (
                f"; source {source.id} is running and may hold the device (it can be "
                "opened once at a time): its state on the status page says if it works"
            )
        log.info("camera test of %s failed: %s", source.id, exc.message)
        raise json_error(
            web.HTTPBadGateway,
            exc.message,
            extra={"step": exc.step, "fix": exc.hint, "id": source.id},
            headers=NO_STORE,
        ) from None
    tests.done += 1
    return web.json_response(answer, headers=NO_STORE)


def _source_to_test(view: Any, body: Dict[str, Any]) -> Any:
    """The source config of ``body``, validated as the file would be with it saved.

    An id already in the file is checked as a change of that entry (its masked
    credentials stand for the stored ones), any other as an addition.
    """
    ident = body.get("id")
    ident = ident if isinstance(ident, str) else None
    old = None
    if ident is not None:
        old = next((i for i in _entries(view, "sources") if i.get("id") == ident), None)
    items = _entries(view, "sources")
    index = items.index(old) if old is not None else len(items)
    entry = _with_stored_secrets(body, old, f"sources[{index}]", "not tested")
    text: Optional[str] = getattr(view, "config_text", None)
    path = getattr(view, "config_path", None)
    new_text = edit_entry(text if text is not None else "{}\n", "sources", ident, entry)
    file = str(path or "<config>")
    # The rest of the file was checked when it was read; of its secrets only this
    # source's are read now (another camera's missing password is not this test's).
    config = parse_config(new_text, file)
    source = next(s for s in config.sources if s.id == ident)
    issues = secret_issues(source, f"sources[{config.sources.index(source)}]")
    if issues:
        raise ConfigError(file, issues, [None] * len(issues))
    return source


def _grab(source: Any, stop: Any, quality: int, max_width: int) -> Dict[str, Any]:
    """Runs on the camera tests' thread: one frame, as a JPEG data URL."""
    from edged.cvutil import import_cv2
    from edged.sources import capture_spec
    from edged.sources.probe import grab_frame

    timeout_s = min(source.open_timeout_s, TEST_TIMEOUT_S)
    limited = source.model_copy(update={"open_timeout_s": timeout_s, "stall_timeout_s": timeout_s})
    try:
        spec = capture_spec(limited)
    except Exception as exc:
        raise ProbeFailed("open", f"cannot set up {source.id}: {redact(str(exc))}", "") from None
    target = spec.kwargs.get("target") if source.kind == "rtsp" else None
    image, elapsed = grab_frame(spec, source.id, timeout_s, stop, rtsp_uri=target)
    height, width = image.shape[:2]
    if max_width and width > max_width:
        cv2 = import_cv2()
        size = (max_width, max(1, round(height * max_width / width)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    jpeg = encode_jpeg(image, quality)
    return {
        "ok": True,
        "id": source.id,
        "kind": source.kind,
        "uri": spec.label,
        "width": width,
        "height": height,
        "elapsed_s": round(elapsed, 3),
        "snapshot": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii"),
    }


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
            where = f"{self.section}[{len(_entries(view, self.section))}]"
            _with_stored_secrets(body, None, where)  # no masks: nothing to keep them from
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
            entry = _with_stored_secrets(body, old, f"{self.section}[{items.index(old)}]")
            return edit_entry(text, self.section, ident, entry)

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


def _from_config_error(exc: ConfigError, outcome: str = "not changed") -> web.HTTPException:
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
        f"{outcome}: {first['field'] or '(top level)'}: {first['message']}{got}",
        extra={"field": first["field"], "fix": first["fix"], "issues": issues},
    )


def _with_stored_secrets(
    body: Dict[str, Any], old: Any, where: str, outcome: str = "not changed"
) -> Dict[str, Any]:
    """``body`` with the credentials it left masked taken from ``old`` (same host only).

    A mask that cannot be put back (a new entry, or the URI now names another
    host, which must not receive the old password) is refused: it would be
    saved as the credential itself.
    """
    entry = body if old is None else keep_secrets(body, old)
    left = masks_left(entry)
    if left:
        raise _invalid(
            f"{where}.{left[0]}",
            "holds the mask *** instead of a credential; stored credentials are kept only "
            "while they stay masked and the host is unchanged",
            "type the credentials again (they are never shown back)",
            outcome,
        )
    _refuse_by_hand_only(entry, old, where, outcome)
    return entry


#: source kinds only a person editing the file may add or change, and why
HAND_ONLY_KINDS = {
    "gstreamer": "a raw pipeline, which can read and write files",
    "file": "it reads any picture or video edged may read",
}


def _refuse_by_hand_only(
    entry: Dict[str, Any], old: Optional[Dict[str, Any]], where: str, outcome: str
) -> None:
    """Refuse what only a person editing the file may do (``old``: the stored entry).

    Whoever holds the API token must not point edged at files and variables
    of their choosing: a ``password_file`` set to the MQTT password's file and
    a ``uri`` of theirs would send that password to them. So a ``*_file`` or
    ``*_env`` may only be carried over unchanged, and a mapping that names a
    secret so (``password_file``, ``token_env``) keeps its host. A GStreamer
    pipeline can hold any element (a ``filesink`` writes any file edged may
    write), and a file source reads any picture or video edged may read (a camera
    test would hand it back as a snapshot): both are only kept as stored.
    """
    kind = entry.get("kind")
    why = HAND_ONLY_KINDS.get(kind) if isinstance(kind, str) else None  # a list is no key
    if why is not None and entry != old:
        raise _invalid(
            f"{where}.kind",
            f"a {entry['kind']} source ({why}) cannot be added, changed or tested through the API",
            "edit the config file by hand for this, then reload edged; or use kind rtsp, "
            "v4l2 or csi",
            outcome,
        )
    problem = _new_reference(entry, old, where)
    if problem is not None:
        field, message = problem
        raise _invalid(field, message, "edit the config file by hand for this", outcome)


def _new_reference(new: Any, old: Any, path: str) -> Optional[Tuple[str, str]]:
    """The first ``*_file``/``*_env`` in ``new`` that ``old`` does not hold the same, if any.

    Also a mapping that keeps a secret's reference while its ``uri``/``url`` names
    another host: what the reference names would be sent there.
    """
    if isinstance(new, dict):
        stored = old if isinstance(old, dict) else {}
        kept = []
        for key, value in new.items():
            here = f"{path}.{key}"
            if isinstance(key, str) and key.endswith(REFERENCE_SUFFIXES) and value is not None:
                if key not in stored or stored[key] != value:
                    return here, (
                        f"{key} names a file or environment variable for edged to read; "
                        "it cannot be set or changed through the API"
                    )
                if key.rsplit("_", 1)[0].lower() in SECRET_NAMES:
                    kept.append(key)
                continue
            problem = _new_reference(value, stored.get(key), here)
            if problem is not None:
                return problem
        moved = moved_to(new, stored) if kept else None
        if moved == "ssl":
            return f"{path}.ssl", (
                f"turns TLS off, and {kept[0]} would then be sent in clear; it cannot be "
                f"changed through the API while the entry has {kept[0]}"
            )
        if moved is not None:
            return f"{path}.{moved}", (
                f"names another host than before, and {kept[0]} would be read and sent "
                "there; it cannot be changed through the API while the entry has "
                f"{kept[0]}"
            )
    elif isinstance(new, list):
        stored_list = old if isinstance(old, list) else []
        for index, value in enumerate(new):
            before = stored_list[index] if index < len(stored_list) else None
            problem = _new_reference(value, before, f"{path}[{index}]")
            if problem is not None:
                return problem
    return None


def _invalid(field: str, message: str, fix: str, outcome: str = "not changed") -> web.HTTPException:
    issue = {"field": field, "message": message, "fix": fix}
    return json_error(
        web.HTTPUnprocessableEntity,
        f"{outcome}: {field}: {message}",
        extra={"field": field, "fix": fix, "issues": [issue]},
    )
