"""Testing a camera before saving it: ``POST /api/sources/test``."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest
from httpkit import free_tcp_port, http_config
from test_manage import AUTH, RTSP, TOKEN, FileView

from edged.http import make_app
from edged.http.keys import CAMERA_TESTS
from edged.redact import keep_secrets, redact_value

from sourcekit import FakeRtsp, until


def _decode(snapshot: str) -> np.ndarray:
    import cv2

    prefix = "data:image/jpeg;base64,"
    assert snapshot.startswith(prefix)
    data = base64.b64decode(snapshot[len(prefix) :])
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


async def _client(aiohttp_client, view=None, **config):
    view = view or FileView(RTSP)
    return view, await aiohttp_client(make_app(view, http_config(**config), token=TOKEN))


async def test_a_synthetic_camera_answers_with_a_snapshot_and_nothing_is_saved(aiohttp_client):
    view, client = await _client(aiohttp_client)
    before = view.config_text
    body = {"id": "cam9", "kind": "synthetic", "width": 96, "height": 64}
    response = await client.post("/api/sources/test", json=body, headers=AUTH)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["ok"] is True and answer["id"] == "cam9" and answer["kind"] == "synthetic"
    assert (answer["width"], answer["height"]) == (96, 64)
    assert _decode(answer["snapshot"]).shape == (64, 96, 3)
    assert response.headers["Cache-Control"] == "no-store"
    assert view.config_text == before
    assert client.app[CAMERA_TESTS].done == 1


async def test_a_file_source_is_tested_only_as_the_file_has_it(aiohttp_client, tmp_path):
    """A file source reads any picture edged may read and the test hands it back: the API
    tests one written in the config by hand, and refuses a new or changed one."""
    import cv2

    picture = np.full((120, 160, 3), 200, np.uint8)
    path = tmp_path / "still.png"
    cv2.imwrite(str(path), picture)
    yard = "  - {id: yard, kind: synthetic}\n"
    view = FileView(RTSP.replace(yard, yard + f"  - {{id: clip, kind: file, uri: '{path}'}}\n"))
    _, client = await _client(aiohttp_client, view)
    stored = {"id": "clip", "kind": "file", "uri": str(path)}
    response = await client.post("/api/sources/test", json=stored, headers=AUTH)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert (answer["width"], answer["height"]) == (160, 120)
    assert abs(float(_decode(answer["snapshot"]).mean()) - 200) < 3

    for body in (dict(stored, uri="/etc/edged/secret.png"), dict(stored, id="clip2")):
        response = await client.post("/api/sources/test", json=body, headers=AUTH)
        answer = await response.json()
        assert response.status == 422, answer
        assert "cannot be added, changed or tested through the API" in answer["error"]
        assert "secret.png" not in json.dumps(answer)  # the refusal does not echo the path


async def test_a_bad_config_is_refused_like_a_create(aiohttp_client):
    _, client = await _client(aiohttp_client)
    body = {"id": "cam9", "kind": "rtsp", "uri": "http://admin:hunter2@10.0.0.9/s1"}
    response = await client.post("/api/sources/test", json=body, headers=AUTH)
    assert response.status == 422
    answer = await response.json()
    assert answer["field"] == "sources[2].uri" and answer["fix"]
    assert answer["error"].startswith("not tested: sources[2].uri")
    assert "hunter2" not in await response.text()
    assert (await client.post("/api/sources/test", data=b"[1", headers=AUTH)).status == 400


async def test_refused_without_the_token_and_in_read_only_mode(aiohttp_client):
    body = {"id": "cam9", "kind": "synthetic"}
    _, client = await _client(aiohttp_client)
    assert (await client.post("/api/sources/test", json=body)).status == 401

    open_client = await aiohttp_client(make_app(FileView(RTSP), http_config(), token=None))
    response = await open_client.post("/api/sources/test", json=body)
    assert response.status == 403 and "sinks.http.manage" in (await response.json())["error"]

    _, client = await _client(aiohttp_client, token=TOKEN, manage=False)
    response = await client.post("/api/sources/test", json=body, headers=AUTH)
    assert response.status == 403


# ------------------------------------------------------------ RTSP failures


@pytest.mark.usefixtures("needs_ffmpeg_opencv")
async def test_nothing_listening_is_a_clear_open_error_without_credentials(aiohttp_client):
    _, client = await _client(aiohttp_client)
    uri = f"rtsp://admin:hunter2@127.0.0.1:{free_tcp_port()}/s1"
    body = {"id": "gate", "kind": "rtsp", "uri": uri, "open_timeout_s": 8}
    response = await client.post("/api/sources/test", json=body, headers=AUTH)
    text = await response.text()
    assert response.status == 502, text
    answer = await response.json()
    assert answer["step"] == "open" and "cannot connect" in answer["error"], answer
    assert answer["fix"] and answer["id"] == "gate"
    assert "hunter2" not in text and "admin" not in text


@pytest.mark.usefixtures("needs_ffmpeg_opencv")
async def test_refused_credentials_are_reported_as_such(aiohttp_client):
    server = FakeRtsp("401 Unauthorized")
    try:
        _, client = await _client(aiohttp_client)
        body = {
            "id": "gate",
            "kind": "rtsp",
            "uri": f"rtsp://127.0.0.1:{server.port}/s1",
            "username": "admin",
            "password": "wrong-pw",
            "open_timeout_s": 8,
        }
        response = await client.post("/api/sources/test", json=body, headers=AUTH)
        text = await response.text()
        assert response.status == 502, text
        answer = await response.json()
        assert answer["step"] == "auth" and "did not accept these" in answer["error"]
        assert "wrong-pw" not in text
        assert not any("wrong-pw" in r or "Authorization" in r for r in server.requests[-1:])

        del body["username"], body["password"]
        response = await client.post("/api/sources/test", json=body, headers=AUTH)
        answer = await response.json()
        assert response.status == 502 and answer["step"] == "auth", answer
        assert "none were given" in answer["error"] and "password" in answer["fix"]
    finally:
        server.close()


@pytest.mark.usefixtures("needs_ffmpeg_opencv")
async def test_a_silent_camera_times_out_and_one_test_runs_at_a_time(aiohttp_client):
    server = FakeRtsp("")  # accepts, never answers
    try:
        _, client = await _client(aiohttp_client)
        tests = client.app[CAMERA_TESTS]
        body = {
            "id": "mute",
            "kind": "rtsp",
            "uri": f"rtsp://127.0.0.1:{server.port}/s1",
            "open_timeout_s": 4,
        }
        first = asyncio.ensure_future(client.post("/api/sources/test", json=body, headers=AUTH))
        await until(lambda: tests.running == "mute", 10)
        second = await client.post("/api/sources/test", json=body, headers=AUTH)
        assert second.status == 429 and second.headers["Retry-After"] == "5"
        response = await asyncio.wait_for(first, 30)
        answer = await response.json()
        assert response.status == 502 and answer["step"] == "timeout", answer
        assert "within 4 s" in answer["error"]
        await until(lambda: tests.running is None, 10)
    finally:
        server.close()


# ------------------------------------------------------------ a real RTSP server


@pytest.mark.usefixtures("needs_ffmpeg_opencv")
async def test_an_rtsp_camera_in_the_file_is_tested_with_its_stored_password(
    aiohttp_client, rtsp_server, tmp_path
):
    secret = tmp_path / "pw"
    secret.write_text("s3cr3t\n")
    view = FileView(
        "sources:\n"
        f"  - {{id: door, kind: rtsp, uri: '{rtsp_server.uri}', username: admin,"
        " password: inline-pw}\n"
    )
    _, client = await _client(aiohttp_client, view=view)
    shown = await (await client.get("/api/sources/door", headers=AUTH)).json()
    assert shown["password"] == "***"
    response = await client.post("/api/sources/test", json=shown, headers=AUTH)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert (answer["width"], answer["height"]) == (320, 240)
    assert "inline-pw" not in await response.text()

    moved = dict(shown, uri="rtsp://10.9.9.9:554/test")  # the stored password stays home
    response = await client.post("/api/sources/test", json=moved, headers=AUTH)
    assert response.status == 422
    answer = await response.json()
    assert answer["field"] == "sources[0].password"
    assert answer["error"].startswith("not tested: sources[0].password: holds the mask")


# ------------------------------------------------------------ masked credentials


def test_a_masked_uri_keeps_its_credentials_when_only_the_path_changes():
    old = {"uri": "rtsp://admin:p%40ss@10.0.0.7:554/s1?token=abc&x=1", "password": "pw"}
    shown = redact_value(old)
    assert shown == {"uri": "rtsp://***@10.0.0.7:554/s1?token=***&x=1", "password": "***"}
    edited = dict(shown, uri=shown["uri"].replace("/s1", "/s2"))
    assert keep_secrets(edited, old) == {
        "uri": "rtsp://admin:p%40ss@10.0.0.7:554/s2?token=abc&x=1",
        "password": "pw",
    }
    elsewhere = dict(shown, uri="rtsp://***@10.0.0.8/s1?token=***")
    assert keep_secrets(elsewhere, old)["uri"] == "rtsp://***@10.0.0.8/s1?token=***"


async def test_a_put_keeps_credentials_left_masked_and_refuses_them_for_another_host(
    aiohttp_client,
):
    view, client = await _client(aiohttp_client)
    shown = await (await client.get("/api/sources/door", headers=AUTH)).json()
    changed = dict(shown, uri=shown["uri"].replace("/s1", "/s2"))
    response = await client.put("/api/sources/door", json=changed, headers=AUTH)
    assert response.status == 200, await response.text()
    assert view.config.sources[0].uri == "rtsp://admin:p%40ss@10.0.0.7:554/s2?token=abc"
    assert view.config.sources[0].password_file == "/etc/edged/door"

    before = view.config_text
    moved = dict(shown, uri="rtsp://***@10.6.6.6/s1?token=***")
    response = await client.put("/api/sources/door", json=moved, headers=AUTH)
    assert response.status == 422
    answer = await response.json()
    assert answer["field"] == "sources[0].uri" and "type the credentials" in answer["fix"]
    assert view.config_text == before

    copy = dict(shown, id="door2")
    response = await client.post("/api/sources", json=copy, headers=AUTH)
    assert response.status == 422 and (await response.json())["field"] == "sources[2].uri"


class RunningView(FileView):
    """A daemon whose source ``usb0`` runs (and so may hold its device)."""

    def sources(self):
        return {"usb0": object()}


async def test_a_busy_device_of_a_running_source_is_named_in_the_fix(aiohttp_client):
    # No such device here: the open fails as a busy one would.
    view = RunningView("sources:\n  - {id: usb0, kind: v4l2, uri: /dev/video63}\n")
    _, client = await _client(aiohttp_client, view=view)
    shown = await (await client.get("/api/sources/usb0", headers=AUTH)).json()
    response = await client.post("/api/sources/test", json=shown, headers=AUTH)
    answer = await response.json()
    assert response.status == 502 and answer["step"] == "open", answer
    assert "usb0 is running and may hold the device" in answer["fix"]
