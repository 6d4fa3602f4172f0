"""Sources and pipelines changed at run time through /api/sources and /api/pipelines."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict

import aiohttp
import pytest
from httpkit import free_tcp_port, http_config
from pydantic import ValidationError

from edged.config import Config, load_config, parse_config
from edged.config.edit import EditError
from edged.config.http import HttpSinkConfig
from edged.daemon import Daemon
from edged.http import make_app

from sourcekit import until

TOKEN = "manage-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

CONFIG = """\
# edged test config: comments must survive API edits
device_id: managetest
sources:
  # the first camera
  - id: cam0   # keep this comment
    kind: synthetic
    width: 64
    height: 48
    rate: 5
  - {id: cam1, kind: synthetic, width: 64, height: 48, rate: 5}
pipelines:
  - {id: motion0, kind: motion, source: cam0}  # watches cam0
sinks:
  http:
    host: 127.0.0.1
    port: PORT
    token: TOKEN   # inline, for the test
"""


class FileView:
    """A daemon that keeps a config text and validates edits, but starts nothing."""

    def __init__(self, text: str):
        self.config_text = text
        self.config = parse_config(text)
        self.reloads = 0

    async def edit_config(self, edit: Callable[[Config, str], str], what: str) -> Config:
        text = edit(self.config, self.config_text)
        self.config = parse_config(text, "edged.yaml")
        self.config_text = text
        return self.config

    async def reload(self) -> bool:
        return True

    def status(self) -> Dict[str, Any]:
        return {"sources": [], "pipelines": [], "sinks": [], "failed": []}

    def sources(self) -> Dict[str, Any]:
        return {}

    def pipelines(self) -> Dict[str, Any]:
        return {}


RTSP = """\
sources:
  - id: door
    kind: rtsp
    uri: rtsp://admin:p%40ss@10.0.0.7:554/s1?token=abc   # the door camera
    password_file: /etc/edged/door
  - {id: yard, kind: synthetic}
pipelines:
  - {id: people, kind: motion, source: door}
"""


async def test_credentials_are_never_shown_and_survive_a_masked_put(aiohttp_client):
    view = FileView(RTSP)
    client = await aiohttp_client(make_app(view, http_config(), token=TOKEN))
    listing = await (await client.get("/api/sources", headers=AUTH)).json()
    door = listing["sources"][0]
    assert door["uri"] == "rtsp://***@10.0.0.7:554/s1?token=***"
    assert "p%40ss" not in str(listing) and "abc" not in str(listing)
    assert (await (await client.get("/api/sources/door", headers=AUTH)).json()) == door

    door["transport"] = "udp"
    response = await client.put("/api/sources/door", json=door, headers=AUTH)
    assert response.status == 200, await response.text()
    assert (await response.json())["uri"] == door["uri"]
    saved = view.config.sources[0]
    assert saved.uri == "rtsp://admin:p%40ss@10.0.0.7:554/s1?token=abc"
    assert saved.transport == "udp"
    assert "# the door camera" in view.config_text

    bad = await client.post(
        "/api/sources", json={"id": "gate", "kind": "rtsp", "uri": "http://u:pw@x/"}, headers=AUTH
    )
    assert bad.status == 422
    assert "pw" not in (await bad.text()).replace("password", "")


async def test_validation_errors_name_the_field_and_a_fix(aiohttp_client):
    view = FileView(RTSP)
    before = view.config_text
    client = await aiohttp_client(make_app(view, http_config(), token=TOKEN))

    response = await client.post(
        "/api/sources", json={"id": "cam9", "kind": "synthetic", "width": -5}, headers=AUTH
    )
    assert response.status == 422
    body = await response.json()
    assert body["field"] == "sources[2].width" and body["status"] == 422
    assert body["fix"] and "sources[2].width" in body["error"]

    response = await client.post("/api/sources", json={"id": "cam9", "kind": "nope"}, headers=AUTH)
    body = await response.json()
    assert response.status == 422 and body["field"].startswith("sources[2]")
    assert "kind" in body["fix"]

    response = await client.post(
        "/api/pipelines", json={"id": "p2", "kind": "motion", "source": "cam9"}, headers=AUTH
    )
    body = await response.json()
    assert response.status == 422 and body["field"] == "pipelines[1].source"
    assert "unknown source 'cam9'" in body["error"] and "door" in body["fix"]

    response = await client.put(
        "/api/sources/yard", json={"id": "other", "kind": "synthetic"}, headers=AUTH
    )
    assert response.status == 422 and (await response.json())["field"] == "sources[1].id"

    response = await client.post("/api/sources", data=b"[1, 2", headers=AUTH)
    assert response.status == 400 and "JSON object" in (await response.json())["error"]

    response = await client.post(
        "/api/sources", json={"id": "yard", "kind": "synthetic"}, headers=AUTH
    )
    assert response.status == 409 and "PUT /api/sources/yard" in (await response.json())["fix"]

    response = await client.delete("/api/sources/nope", headers=AUTH)
    assert response.status == 404 and "door, yard" in (await response.json())["error"]
    assert view.config_text == before


async def test_refused_without_the_token_and_in_read_only_mode(aiohttp_client):
    body = {"id": "cam9", "kind": "synthetic"}
    client = await aiohttp_client(make_app(FileView(RTSP), http_config(), token=TOKEN))
    assert (await client.post("/api/sources", json=body)).status == 401
    assert (await client.get("/api/sources")).status == 401

    open_app = make_app(FileView(RTSP), http_config(), token=None)
    client = await aiohttp_client(open_app)
    response = await client.post("/api/sources", json=body)
    assert response.status == 403
    text = (await response.json())["error"] + (await response.json())["fix"]
    assert "sinks.http.manage" in text and "token" in text
    assert (await client.delete("/api/sources/yard")).status == 403
    assert (await client.post("/api/reload")).status == 403
    assert (await client.get("/api/sources")).status == 200  # reading stays open
    status = await (await client.get("/api/status")).json()
    assert status["http"]["manage"] is False

    config = http_config(token=TOKEN, manage=False)
    client = await aiohttp_client(make_app(FileView(RTSP), config))
    response = await client.put("/api/sources/yard", json=body, headers=AUTH)
    assert response.status == 403 and "manage" in (await response.json())["error"]


def test_manage_cannot_be_on_without_a_token():
    with pytest.raises(ValidationError, match="manage: true needs a token"):
        HttpSinkConfig(manage=True)
    assert HttpSinkConfig(manage=True, token_env="EDGED_TOKEN").manage is True


# ------------------------------------------------------------ on a running daemon


@pytest.fixture
async def daemon(tmp_path):
    port = free_tcp_port()
    path = tmp_path / "edged.yaml"
    path.write_text(CONFIG.replace("PORT", str(port)).replace("TOKEN", TOKEN))
    daemon = Daemon(load_config(path, secrets=True), path)
    await daemon.start()
    daemon.base = f"http://127.0.0.1:{port}"
    try:
        yield daemon
    finally:
        await daemon.stop()


async def test_create_update_delete_a_source_on_a_running_daemon(daemon):
    path: Path = daemon.config_path
    original = path.read_text()
    base = daemon.base
    kept = {k: p.obj for k, p in daemon.parts.items()}
    async with aiohttp.ClientSession(headers=AUTH) as session:
        cam2 = {"id": "cam2", "kind": "synthetic", "width": 32, "height": 24, "rate": 5}
        async with session.post(f"{base}/api/sources", json=cam2) as response:
            assert response.status == 201, await response.text()
            assert response.headers["Location"] == "/api/sources/cam2"
        await until(lambda: daemon.sources()["cam2"].slot.latest is not None, 10)
        assert all(daemon.parts[k].obj is obj for k, obj in kept.items())  # nothing restarted
        assert (path.parent / "edged.yaml.bak").read_text() == original
        on_disk = load_config(path, secrets=True)
        assert on_disk == daemon.config and [s.id for s in on_disk.sources][-1] == "cam2"
        text = path.read_text()
        for comment in ("# edged test config", "# the first camera", "# keep this comment"):
            assert comment in text
        assert "# watches cam0" in text and text.startswith(original.split("  - {id: cam1")[0])

        cam2["width"] = 40
        async with session.put(f"{base}/api/sources/cam2", json=cam2) as response:
            assert response.status == 200, await response.text()
        await until(lambda: daemon.sources()["cam2"].width == 40, 10)
        assert daemon.sources()["cam0"] is kept[("source", "cam0")]
        assert daemon.pipelines()["motion0"] is kept[("pipeline", "motion0")]
        async with session.get(f"{base}/api/sources/cam2") as response:
            assert (await response.json())["width"] == 40

        pipeline = {"id": "motion2", "kind": "motion", "source": "cam2"}
        async with session.post(f"{base}/api/pipelines", json=pipeline) as response:
            assert response.status == 201, await response.text()
        assert "motion2" in daemon.pipelines()

        async with session.delete(f"{base}/api/sources/cam2") as response:
            assert response.status == 409
            body = await response.json()
            assert body["pipelines"] == ["motion2"] and "motion2" in body["error"]
        async with session.delete(f"{base}/api/pipelines/motion2") as response:
            assert response.status == 204
        async with session.delete(f"{base}/api/sources/cam2") as response:
            assert response.status == 204
        assert "cam2" not in daemon.sources() and "motion2" not in daemon.pipelines()
        assert load_config(path) == daemon.config
        assert path.read_text() == original
        assert daemon.reloads == 5
        assert all(daemon.parts[k].obj is obj for k, obj in kept.items())


async def test_a_file_edited_behind_the_daemons_back_is_not_overwritten(daemon):
    path: Path = daemon.config_path
    edited = path.read_text().replace("rate: 5\n", "rate: 6\n", 1)
    path.write_text(edited)
    cam2 = {"id": "cam2", "kind": "synthetic", "width": 32, "height": 24, "rate": 5}
    async with aiohttp.ClientSession(headers=AUTH) as session:
        async with session.post(f"{daemon.base}/api/sources", json=cam2) as response:
            assert response.status == 409
            body = await response.json()
        assert body["file"] == str(path) and str(path) in body["error"]
        assert body["read"]["sha256"] != body["now"]["sha256"]
        assert "POST /api/reload" in body["fix"]
        assert path.read_text() == edited and "cam2" not in daemon.sources()

        async with session.post(f"{daemon.base}/api/reload") as response:
            assert response.status == 200 and (await response.json())["reloaded"] is True
        assert daemon.sources()["cam0"].config.rate == 6
        async with session.post(f"{daemon.base}/api/sources", json=cam2) as response:
            assert response.status == 201, await response.text()
        assert "rate: 6" in path.read_text() and "cam2" in daemon.sources()


async def test_a_daemon_without_a_config_file_cannot_save_a_change():
    daemon = Daemon(parse_config(RTSP))
    with pytest.raises(EditError, match="not started from a config file"):
        await daemon.edit_config(lambda config, text: text, "nothing")


async def test_a_failed_save_changes_nothing(daemon, monkeypatch):
    path: Path = daemon.config_path
    original = path.read_text()
    parts = {k: p.obj for k, p in daemon.parts.items()}

    def replace(src, dst):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "replace", replace)
    cam2 = {"id": "cam2", "kind": "synthetic", "width": 32, "height": 24, "rate": 5}
    url = f"{daemon.base}/api/sources"
    async with aiohttp.ClientSession(headers=AUTH) as session, session.post(url, json=cam2) as r:
        assert r.status == 500
        body = await r.json()
    assert "Read-only file system" in body["error"] and "nothing was changed" in body["error"]
    assert "ReadWritePaths" in body["fix"] and body["file"] == str(path)
    assert path.read_text() == original
    assert sorted(p.name for p in path.parent.iterdir()) == ["edged.yaml"]
    assert {k: p.obj for k, p in daemon.parts.items()} == parts and daemon.reloads == 0


# ------------------------------------------ what only a person editing the file may do

BY_HAND = "edit the config file by hand for this"

REFERENCES = """\
sources:
  - id: door
    kind: rtsp
    uri: rtsp://admin@10.0.0.7:554/s1
    password_file: /etc/edged/door
  - {id: yard, kind: synthetic}
  - {id: pipe, kind: gstreamer, uri: "videotestsrc ! videoconvert ! appsink"}
pipelines:
  - id: dials
    kind: gauge
    source: yard
    backend: triton
    triton: {url: 'triton.local:8001', token: s3cret}
    gauges: [{id: g, min_value: 0, max_value: 10}]
"""


async def _refused(response: Any, field: str) -> Dict[str, Any]:
    body = await response.json()
    assert response.status == 422, body
    assert body["field"] == field, body
    return body


async def test_secret_references_are_set_by_hand_only(aiohttp_client):
    view = FileView(REFERENCES)
    before = view.config_text
    client = await aiohttp_client(make_app(view, http_config(), token=TOKEN))
    gate = {"id": "gate", "kind": "rtsp", "uri": "rtsp://evil.example/s1"}

    for name in ("password_file", "password_env"):
        value = "/etc/edged/mqtt-password" if name.endswith("file") else "EDGED_MQTT_PASSWORD"
        response = await client.post("/api/sources", json=dict(gate, **{name: value}), headers=AUTH)
        body = await _refused(response, f"sources[3].{name}")
        assert body["fix"] == BY_HAND and name in body["error"]
        response = await client.post(
            "/api/sources/test", json=dict(gate, **{name: value}), headers=AUTH
        )
        body = await _refused(response, f"sources[3].{name}")
        assert body["error"].startswith("not tested")

    door = await (await client.get("/api/sources/door", headers=AUTH)).json()
    changed = dict(door, password_file="/etc/edged/mqtt-password")
    response = await client.put("/api/sources/door", json=changed, headers=AUTH)
    await _refused(response, "sources[0].password_file")
    swapped = {k: v for k, v in door.items() if k != "password_file"}
    swapped["password_env"] = "EDGED_MQTT_PASSWORD"
    response = await client.put("/api/sources/door", json=swapped, headers=AUTH)
    await _refused(response, "sources[0].password_env")
    moved = dict(door, uri="rtsp://admin@evil.example:554/s1")  # the file's password would go
    response = await client.put("/api/sources/door", json=moved, headers=AUTH)
    body = await _refused(response, "sources[0].uri")
    assert "password_file" in body["error"] and body["fix"] == BY_HAND

    dials = await (await client.get("/api/pipelines/dials", headers=AUTH)).json()
    stolen = {"url": "evil.example:8001", "token_file": "/etc/edged/mqtt-password"}
    response = await client.put(
        "/api/pipelines/dials", json=dict(dials, triton=stolen), headers=AUTH
    )
    await _refused(response, "pipelines[0].triton.token_file")
    new = dict(dials, id="dials2", triton={"url": "evil.example:8001", "token_env": "HOME"})
    response = await client.post("/api/pipelines", json=new, headers=AUTH)
    await _refused(response, "pipelines[1].triton.token_env")
    assert view.config_text == before

    # carried over unchanged, or removed: fine
    kept = dict(door, uri="rtsp://admin@10.0.0.7:554/s2", transport="udp")
    response = await client.put("/api/sources/door", json=kept, headers=AUTH)
    assert response.status == 200, await response.text()
    assert view.config.sources[0].password_file == "/etc/edged/door"
    assert view.config.sources[0].uri.endswith("/s2")
    inline = {k: v for k, v in kept.items() if k != "password_file"}
    response = await client.put("/api/sources/door", json=dict(inline, password="x"), headers=AUTH)
    assert response.status == 200, await response.text()
    assert view.config.sources[0].password_file is None


async def test_a_masked_triton_token_stays_with_its_server(aiohttp_client):
    view = FileView(REFERENCES)
    client = await aiohttp_client(make_app(view, http_config(), token=TOKEN))
    dials = await (await client.get("/api/pipelines/dials", headers=AUTH)).json()
    assert dials["triton"]["token"] == "***" and "s3cret" not in str(dials)
    for url in ("evil.example:8001", "triton.local:9001"):
        moved = dict(dials, triton=dict(dials["triton"], url=url))
        response = await client.put("/api/pipelines/dials", json=moved, headers=AUTH)
        body = await _refused(response, "pipelines[0].triton.token")
        assert "mask" in body["error"]
    assert view.config.pipelines[0].triton.url == "triton.local:8001"

    same = dict(dials, triton=dict(dials["triton"], timeout_s=2))
    response = await client.put("/api/pipelines/dials", json=same, headers=AUTH)
    assert response.status == 200, await response.text()
    triton = view.config.pipelines[0].triton
    assert triton.timeout_s == 2 and triton.token.get_secret_value() == "s3cret"


@pytest.mark.parametrize(
    ("secret", "field", "says"),
    [
        ("token: s3cret", "token", "mask"),  # the masked token the client sent back
        ("token_file: /etc/edged/triton", "ssl", "token_file"),  # kept as it was
    ],
)
async def test_a_triton_secret_is_not_sent_in_clear(aiohttp_client, secret, field, says):
    """Turning TLS off keeps the server but would send the stored secret in clear."""
    tls = f"triton: {{url: 'triton.local:8001', {secret}, ssl: true}}"
    view = FileView(REFERENCES.replace("triton: {url: 'triton.local:8001', token: s3cret}", tls))
    client = await aiohttp_client(make_app(view, http_config(), token=TOKEN))
    dials = await (await client.get("/api/pipelines/dials", headers=AUTH)).json()
    plain = dict(dials, triton=dict(dials["triton"], ssl=False))
    response = await client.put("/api/pipelines/dials", json=plain, headers=AUTH)
    body = await _refused(response, f"pipelines[0].triton.{field}")
    assert says in body["error"]
    assert view.config.pipelines[0].triton.ssl is True


async def test_gstreamer_sources_are_added_and_changed_by_hand_only(aiohttp_client):
    view = FileView(REFERENCES)
    client = await aiohttp_client(make_app(view, http_config(), token=TOKEN))
    writes = "videotestsrc ! tee name=t ! queue ! filesink location=/tmp/x t. ! appsink"
    new = {"id": "pipe2", "kind": "gstreamer", "uri": writes}
    body = await _refused(
        await client.post("/api/sources", json=new, headers=AUTH), "sources[3].kind"
    )
    assert body["fix"].startswith(BY_HAND)
    response = await client.post("/api/sources/test", json=new, headers=AUTH)
    await _refused(response, "sources[3].kind")

    pipe = await (await client.get("/api/sources/pipe", headers=AUTH)).json()
    response = await client.put("/api/sources/pipe", json=dict(pipe, uri=writes), headers=AUTH)
    await _refused(response, "sources[2].kind")
    response = await client.put("/api/sources/yard", json=dict(new, id="yard"), headers=AUTH)
    await _refused(response, "sources[1].kind")
    assert "filesink" not in view.config_text

    response = await client.put("/api/sources/pipe", json=pipe, headers=AUTH)  # unchanged
    assert response.status == 200, await response.text()
    assert (await client.delete("/api/sources/pipe", headers=AUTH)).status == 204
    assert [s.id for s in view.config.sources] == ["door", "yard"]


@pytest.mark.parametrize("kind", [[], {}, ["gstreamer"]])
async def test_a_kind_that_is_no_string_is_a_config_error_not_a_crash(aiohttp_client, kind):
    view = FileView(REFERENCES)
    client = await aiohttp_client(make_app(view, http_config(), token=TOKEN))
    new = {"id": "odd", "kind": kind, "uri": "rtsp://cam.local/1"}
    response = await client.post("/api/sources", json=new, headers=AUTH)
    assert response.status == 422, await response.text()
    assert "odd" not in [s.id for s in view.config.sources]


SHARED = """\
sources:
  - {id: cam0, kind: synthetic, fps: 10, reconnect: &backoff {max_s: 5}}
  - {id: cam1, kind: synthetic, reconnect: *backoff}
  - {id: cam2, kind: synthetic}
"""


async def test_entries_sharing_yaml_anchors_are_edited_by_hand(aiohttp_client):
    view = FileView(SHARED)
    client = await aiohttp_client(make_app(view, http_config(), token=TOKEN))
    for ident in ("cam0", "cam1"):
        entry = await (await client.get(f"/api/sources/{ident}", headers=AUTH)).json()
        entry["reconnect"] = {"max_s": 8}
        for response in (
            await client.put(f"/api/sources/{ident}", json=entry, headers=AUTH),
            await client.delete(f"/api/sources/{ident}", headers=AUTH),
        ):
            body = await response.json()
            assert response.status == 409, body
            assert "uses YAML anchors/merge keys: edit it by hand" in body["error"]
            assert "POST /api/reload" in body["fix"]
    assert view.config_text == SHARED
    response = await client.put(
        "/api/sources/cam2", json={"kind": "synthetic", "fps": 2}, headers=AUTH
    )
    assert response.status == 200, await response.text()
    assert view.config_text == SHARED.replace(
        "cam2, kind: synthetic}", "cam2, kind: synthetic, fps: 2}"
    )
