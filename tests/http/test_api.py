"""Status page, /api/status, /healthz, /metrics, snapshots, ids and the bearer token."""

from __future__ import annotations

import asyncio

import pytest
from httpkit import MarkPipeline, fake_daemon, grey_frame, http_config, level_of
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError

from edged.config import parse_config
from edged.config.http import HttpSinkConfig
from edged.config.secrets import SecretError
from edged.http import make_app
from edged.http.app import note_results
from edged.http.health import health_reasons
from edged.http.keys import ENCODER

TOKEN = "s3cret-token"

daemon = pytest.fixture(fake_daemon, name="daemon")


@pytest.fixture
async def running(daemon):
    """A daemon with a streaming source and a pipeline that has produced a result."""
    source = daemon.add_source("cam0")
    runner = daemon.add_pipeline(MarkPipeline("marks"), "cam0")
    frame = grey_frame(7)
    source.slot.put(frame)
    runner.publish(frame)
    return daemon


async def test_status_page_is_self_contained(aiohttp_client, running):
    client = await aiohttp_client(make_app(running, http_config(), token=None))
    response = await client.get("/")
    assert response.status == 200
    page = await response.text()
    assert "/static/app.js" in page and "/static/style.css" in page
    assert "http://" not in page and "https://" not in page  # no CDN: works offline
    for name in ("app.js", "style.css"):
        asset = await client.get(f"/static/{name}")
        assert asset.status == 200
        assert "https://" not in await asset.text()
    assert (await client.get("/static/../app.py")).status == 404
    assert (await client.get("/static/nope.js")).status == 404


async def test_api_status_reports_parts_health_and_previews(aiohttp_client, running):
    client = await aiohttp_client(make_app(running, http_config(), token=None))
    response = await client.get("/api/status")
    assert response.status == 200
    status = await response.json()
    assert status["device_id"] == "bench-1"
    assert status["health"] == {"ok": True, "reasons": []}
    (source,) = status["sources"]
    assert source["id"] == "cam0" and source["state"] == "streaming"
    assert source["stream"] == "/stream/cam0.mjpg"
    assert source["snapshot"] == "/snapshot/cam0.jpg"
    (pipeline,) = status["pipelines"]
    assert pipeline["last_result"] == {"bright": 64 * 48 * 3}  # grey 140 > 128
    assert pipeline["model"] == "none" and pipeline["backend"] == "numpy"
    assert set(pipeline["timings_ms"]) == {"preprocess", "infer", "postprocess"}
    assert pipeline["stream"] == "/stream/marks.mjpg"
    assert status["http"]["encodes"] == 0 and status["http"]["auth"] is False


async def test_healthz_names_what_is_wrong(aiohttp_client, running):
    client = await aiohttp_client(make_app(running, http_config(), token=None))
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"ok": True, "reasons": []}

    running.sources()["cam0"].state = "backoff"
    running.sources()["cam0"].reconnects = 3
    running.pipelines()["marks"].state = "failed"
    running.failed.append({"part": "pipeline", "id": "pose", "error": "no model"})
    response = await client.get("/healthz")
    assert response.status == 503
    body = await response.json()
    assert body["ok"] is False
    assert body["reasons"] == [
        "pipeline pose failed to start",
        "source cam0 is backoff after 3 reconnect(s)",
        "pipeline marks is failed",
    ]


async def test_healthz_reports_a_stale_source(aiohttp_client, daemon):
    source = daemon.add_source("cam0")
    frame = grey_frame(1)
    source.slot.put(frame.__class__(**{**frame.__dict__, "mono": frame.mono - 60}))
    client = await aiohttp_client(make_app(daemon, http_config(stale_frame_s=5), token=None))
    response = await client.get("/healthz")
    assert response.status == 503
    (reason,) = (await response.json())["reasons"]
    assert reason.startswith("source cam0: newest frame is 6")


def test_a_file_held_for_its_reader_is_not_stale():
    """A file source without realtime waits for its pipeline (or, with none, on its first
    frame): its newest frame ages without anything being wrong with it."""
    source = {"id": "clip", "state": "streaming", "frame_age_s": 60.0, "held_for_reader": True}
    assert health_reasons({"sources": [source]}, {}, stale_s=5) == []
    source["held_for_reader"] = False
    assert health_reasons({"sources": [source]}, {}, stale_s=5) == [
        "source clip: newest frame is 60.0 s old"
    ]


async def test_metrics_are_prometheus_text_from_the_library(aiohttp_client, running):
    app = make_app(running, http_config(), token=None)
    note_results(app, [running.pipelines()["marks"].pipeline.last_result])
    client = await aiohttp_client(app)
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    for name in (
        "edged_info",
        "edged_source_frames",
        "edged_source_dropped_frames",
        "edged_source_reconnects",
        "edged_pipeline_processed_frames",
        "edged_pipeline_stage_seconds",
        "edged_pipeline_latency_seconds",
        "edged_http_jpeg_encodes",
    ):
        assert name in families, name
    assert families["edged_source_frames"].type == "counter"
    assert families["edged_pipeline_stage_seconds"].type == "histogram"
    stages = {
        s.labels["stage"]
        for s in families["edged_pipeline_stage_seconds"].samples
        if s.name.endswith("_count")
    }
    assert stages == {"preprocess", "infer", "postprocess"}


async def test_metrics_export_mqtt_sink_fields(aiohttp_client, daemon):
    daemon.add_source("cam0")
    sink_status = {  # the shape of MqttSink.status() via Sink.base_status()
        "name": "mqtt",
        "handled": 10,
        "queue_depth": 0,
        "queue_dropped": 0,
        "restarts": 0,
        "connected": True,
        "connects": 2,
        "broker": "127.0.0.1:1883",
        "published": 12,
        "acked": 8,
        "dropped": 1,
        "dropped_spool_full": 1,
        "spool": {"depth": 4, "bytes": 2048, "oldest_age_s": 1.5, "path": "/tmp/spool.db"},
    }
    original = daemon.status
    daemon.status = lambda: {**original(), "sinks": [sink_status]}
    client = await aiohttp_client(make_app(daemon, http_config(), token=None))
    text = await (await client.get("/metrics")).text()
    for line in (
        'edged_sink_connected{sink="mqtt"} 1.0',
        'edged_sink_spool_depth{sink="mqtt"} 4.0',
        'edged_sink_spool_bytes{sink="mqtt"} 2048.0',
        'edged_sink_published_total{sink="mqtt"} 12.0',
        'edged_sink_acked_total{sink="mqtt"} 8.0',
        'edged_sink_spool_dropped_total{sink="mqtt"} 1.0',
        'edged_sink_handled_results_total{sink="mqtt"} 10.0',
    ):
        assert line in text, line


async def test_each_app_has_its_own_registry(daemon):
    daemon.add_source("cam0")
    first = make_app(daemon, http_config(), token=None)
    second = make_app(daemon, http_config(), token=None)  # would clash on the global registry
    assert first is not second


async def test_snapshot_encodes_each_frame_once(aiohttp_client, running):
    app = make_app(running, http_config(), token=None)
    client = await aiohttp_client(app)
    first = await client.get("/snapshot/cam0.jpg")
    assert first.status == 200 and first.content_type == "image/jpeg"
    again = await client.get("/snapshot/cam0.jpg")
    assert await again.read() == await first.read()
    assert app[ENCODER].encodes == 1
    marks = await client.get("/snapshot/marks.jpg")  # the annotated frame
    jpeg = await marks.read()
    assert running.pipelines()["marks"].pipeline.draws == 1
    assert level_of(jpeg) > level_of(await first.read())  # the white box is drawn


async def test_snapshot_before_the_first_frame_is_503(aiohttp_client, daemon):
    daemon.add_source("cam0")
    client = await aiohttp_client(make_app(daemon, http_config(), token=None))
    response = await client.get("/snapshot/cam0.jpg")
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    "path",
    [
        "/stream/nope.mjpg",
        "/snapshot/nope.jpg",
        "/stream/cam0.mjpg?kind=pipeline",
        "/stream/marks.mjpg?source=cam9",
        "/stream/..%2F..%2Fetc%2Fpasswd.mjpg",
        "/snapshot/%2e%2e.jpg",
        "/stream/cam0.jpg",
    ],
)
async def test_unknown_ids_are_404(aiohttp_client, running, path):
    client = await aiohttp_client(make_app(running, http_config(), token=None))
    response = await client.get(path)
    assert response.status == 404


async def test_unknown_pipeline_upload_is_404_with_known_ids(aiohttp_client, running):
    client = await aiohttp_client(make_app(running, http_config(), token=None))
    response = await client.post(
        "/api/infer/nope", data=b"x", headers={"Content-Type": "image/png"}
    )
    assert response.status == 404
    assert "known: marks" in (await response.json())["error"]


async def test_unknown_source_of_a_pipeline_says_which_it_reads(aiohttp_client, running):
    client = await aiohttp_client(make_app(running, http_config(), token=None))
    response = await client.get("/snapshot/marks.jpg?source=cam9")
    assert response.status == 404
    assert "it reads: cam0" in (await response.json())["error"]


async def test_kind_must_be_source_or_pipeline(aiohttp_client, running):
    client = await aiohttp_client(make_app(running, http_config(), token=None))
    response = await client.get("/snapshot/cam0.jpg?kind=file")
    assert response.status == 400


# -- the bearer token ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/api/status", "/metrics", "/stream/cam0.mjpg", "/snapshot/cam0.jpg"]
)
async def test_every_endpoint_but_healthz_needs_the_token(aiohttp_client, running, path):
    client = await aiohttp_client(make_app(running, http_config(), token=TOKEN))
    response = await client.get(path)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = await client.get(path, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    if path != "/stream/cam0.mjpg":
        right = await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status == 200


async def test_upload_needs_the_token(aiohttp_client, running):
    client = await aiohttp_client(make_app(running, http_config(), token=TOKEN))
    response = await client.post(
        "/api/infer/marks", data=b"x", headers={"Content-Type": "image/png"}
    )
    assert response.status == 401


async def test_healthz_needs_no_token(aiohttp_client, running):
    client = await aiohttp_client(make_app(running, http_config(), token=TOKEN))
    assert (await client.get("/healthz")).status == 200


async def test_browser_signs_in_once_and_gets_a_cookie(aiohttp_client, running):
    client = await aiohttp_client(make_app(running, http_config(), token=TOKEN))
    page = await client.get("/")
    assert page.status == 401 and "Access token" in await page.text()
    bad = await client.post("/login", data={"token": "nope"}, allow_redirects=False)
    assert bad.status == 401
    good = await client.post("/login", data={"token": TOKEN}, allow_redirects=False)
    assert good.status == 303
    cookie = good.cookies["edged_session"]
    assert TOKEN not in cookie.value
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert (await client.get("/api/status")).status == 200  # the cookie jar sends it
    assert (await client.get("/")).status == 200


async def raw_status(client, request: bytes) -> int:
    """Send bytes as they are (aiohttp's client would not send non-UTF-8 headers)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        return int((await asyncio.wait_for(reader.readline(), 5)).split()[1])
    finally:
        writer.close()


@pytest.mark.parametrize(
    "header",
    [b"Authorization: Bearer \xff\xfe\x80token", b"Cookie: edged_session=\xff\xfe\x80"],
    ids=["authorization", "cookie"],
)
async def test_non_utf8_credentials_are_401_not_500(aiohttp_client, running, header):
    client = await aiohttp_client(make_app(running, http_config(), token=TOKEN))
    request = b"GET /api/status HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nConnection: close\r\n\r\n"
    assert await raw_status(client, request) == 401


async def test_non_utf8_login_form_is_401_not_500(aiohttp_client, running):
    client = await aiohttp_client(make_app(running, http_config(), token=TOKEN))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post("/login", data=b"token=\xff\xfe", headers=form)
    assert response.status == 401


async def test_token_from_file_and_env(tmp_path, monkeypatch, daemon):
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    app = make_app(daemon, http_config(token_file=str(token_file)))
    assert app is not None
    monkeypatch.setenv("EDGED_TEST_TOKEN", "from-env")
    make_app(daemon, http_config(token_env="EDGED_TEST_TOKEN"))
    with pytest.raises(SecretError, match="EDGED_NOT_SET"):
        make_app(daemon, http_config(token_env="EDGED_NOT_SET"))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SecretError, match="empty"):
        make_app(daemon, http_config(token_file=str(tmp_path / "empty")))


async def test_token_from_file_is_enforced(aiohttp_client, tmp_path, running):
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    client = await aiohttp_client(make_app(running, http_config(token_file=str(token_file))))
    assert (await client.get("/api/status")).status == 401
    ok = await client.get("/api/status", headers={"Authorization": "Bearer from-file"})
    assert ok.status == 200


# -- config ------------------------------------------------------------------------


def test_config_defaults_and_one_token_source():
    config = HttpSinkConfig()
    assert (config.host, config.port) == ("127.0.0.1", 8080)
    assert config.resolved_token() is None
    with pytest.raises(ValidationError, match="keep exactly one"):
        HttpSinkConfig(token=SecretStr("a"), token_env="B")
    with pytest.raises(ValidationError):
        HttpSinkConfig(jpeg_quality=101)
    with pytest.raises(ValidationError):
        HttpSinkConfig(prot=1)


def test_http_section_in_a_config_file():
    config = parse_config(
        """
sources: [{id: cam0, kind: synthetic}]
sinks:
  http: {port: 9090, stream_fps: 5, token_env: EDGED_TOKEN}
"""
    )
    assert config.sinks.http.port == 9090
    assert config.sinks.http.stream_fps == 5
