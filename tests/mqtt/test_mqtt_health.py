"""The daemon in-process with the MQTT and HTTP sinks: a sink that fails to start is
retried, and /healthz tells when the sink failed, the broker has been away past its
grace period, or the spool cannot be written."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Dict

import aiohttp
import pytest
from mqttkit import fill_spool_disk, free_spool_disk

from edged.config import parse_config
from edged.daemon import Daemon

from sourcekit import free_tcp_port, until

pytest.importorskip("cv2")

CONFIG = """
device_id: health
sources:
  - {{id: cam0, kind: synthetic, width: 64, height: 48, rate: 30}}
pipelines:
  - {{id: motion0, kind: motion, source: cam0}}
sinks:
  mqtt:
    host: 127.0.0.1
    port: {broker}
    spool: {spool}
    spool_sync: normal
    connect_timeout_s: 2
    reconnect: {{initial_s: 0.05, max_s: 0.2}}
    stats_interval_s: 0
  http: {{host: 127.0.0.1, port: {http}, link_grace_s: 0.5}}
"""


async def health_when(
    url: str, predicate: Callable[[int, Dict[str, Any]], bool], timeout_s: float = 15.0
) -> Dict[str, Any]:
    """Poll /healthz (an outside view, no event to await) until ``predicate`` holds."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(url) as response:
                body = await response.json()
            if predicate(response.status, body):
                return body
            assert time.monotonic() < deadline, body
            await asyncio.sleep(0.05)


def mentions(text: str) -> Callable[[int, Dict[str, Any]], bool]:
    return lambda code, body: code == 503 and any(text in r for r in body["reasons"])


async def on_spool(daemon: Daemon, action: Callable[[Any], None]) -> None:
    """Run ``action`` on the running sink's spool connection, on the spool's thread."""
    sink = daemon.sinks()["mqtt"]
    db = sink.outbox.spool._db
    await asyncio.get_running_loop().run_in_executor(sink._spool_executor, action, db)


async def test_a_failed_sink_is_retried_and_healthz_reports_sink_trouble(broker, tmp_path):
    blocker = tmp_path / "spooldir"
    blocker.write_text("a file where the spool's directory must go")
    port = free_tcp_port()
    text = CONFIG.format(broker=broker.port, spool=blocker / "spool.db", http=port)
    daemon = Daemon(parse_config(text))
    url = f"http://127.0.0.1:{port}/healthz"
    await daemon.start()
    try:
        assert "mqtt" not in daemon.sinks()
        await health_when(url, mentions("sink mqtt failed to start"))
        blocker.unlink()  # the cause is gone: the next attempt starts the sink
        await until(lambda: "mqtt" in daemon.sinks(), 10)
        await health_when(url, lambda code, body: code == 200)

        broker.stop()
        await health_when(url, mentions("sink mqtt: not connected for"))
        await on_spool(daemon, fill_spool_disk)  # while the spool grows: it must write
        await health_when(url, mentions("sink mqtt: cannot write its spool"))
        await on_spool(daemon, free_spool_disk)
        broker.start()
        await health_when(url, lambda code, body: code == 200)
    finally:
        await daemon.stop()
    assert not daemon._retries
