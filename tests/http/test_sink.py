"""The HTTP sink as a daemon part: the real Daemon, a synthetic camera and a motion pipeline."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest
from httpkit import MjpegReader, free_tcp_port

from edged.config import parse_config
from edged.daemon import Daemon
from edged.sinks import create_sink
from edged.sinks.http import HttpSink


def config_text(port: int) -> str:
    return f"""
device_id: sinktest
sources:
  - {{id: cam0, kind: synthetic, width: 320, height: 240, rate: 30}}
pipelines:
  - {{id: motion0, kind: motion, source: cam0}}
sinks:
  http: {{host: 127.0.0.1, port: {port}, stream_fps: 30}}
"""


async def get_json_when(session, url, predicate, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while True:
        async with session.get(url) as response:
            body = await response.json()
        if predicate(response.status, body):
            return body
        assert time.monotonic() < deadline, f"{url} never became ready: {body}"
        await asyncio.sleep(0.05)


async def test_daemon_serves_status_metrics_and_previews():
    port = free_tcp_port()
    daemon = Daemon(parse_config(config_text(port)))
    await daemon.start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert isinstance(daemon.sinks()["http"], HttpSink)
        async with aiohttp.ClientSession() as session:
            await get_json_when(session, f"{base}/healthz", lambda code, body: code == 200)
            status = await get_json_when(
                session,
                f"{base}/api/status",
                lambda code, body: body["pipelines"][0]["processed"] > 0,
            )
            assert status["sources"][0]["state"] == "streaming"
            http = next(s for s in status["sinks"] if s["name"] == "http")
            assert http["url"] == f"{base}/" and http["handled"] >= 0

            readers = []
            for _ in range(3):
                readers.append(MjpegReader(await session.get(f"{base}/stream/motion0.mjpg")))
            for _ in range(3):
                parts = await asyncio.gather(*(r.next() for r in readers))
                assert len(set(parts)) == 1

            metrics = await (await session.get(f"{base}/metrics")).text()
            assert 'edged_pipeline_stage_seconds_count{pipeline_id="motion0",stage="infer"}' in (
                metrics
            )
            assert "edged_http_stream_viewers 3.0" in metrics
            for reader in readers:
                reader.close()
    finally:
        started = time.monotonic()
        await daemon.stop()
        assert time.monotonic() - started < 3.0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


async def test_port_in_use_is_a_failed_part_not_a_crash():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        daemon = Daemon(parse_config(config_text(port)))
        await daemon.start()
        try:
            assert "http" not in daemon.sinks()
            assert "address" in daemon.failed[("sink", "http")].lower()
            assert daemon.sources()["cam0"] is not None
        finally:
            await daemon.stop()


def test_create_sink_needs_the_daemon():
    section = parse_config(config_text(8080)).sinks.http
    with pytest.raises(ValueError, match="needs the daemon"):
        create_sink("http", section)
