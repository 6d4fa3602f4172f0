"""MJPEG previews: each frame drawn and encoded once however many watch, none when nobody does."""

from __future__ import annotations

import asyncio
import socket
import time

import numpy as np
import pytest
from aiohttp import web
from httpkit import (
    MarkPipeline,
    MjpegReader,
    fake_daemon,
    free_tcp_port,
    grey_frame,
    http_config,
    level_of,
    until,
)

from edged.frames import Frame
from edged.http import broadcast, make_app
from edged.http.keys import BROADCASTS, ENCODER

FRAMES = 6

daemon = pytest.fixture(fake_daemon, name="daemon")


@pytest.fixture
def count_imencode(monkeypatch):
    """Count every cv2.imencode call in the process, whoever makes it."""
    import cv2

    calls = []
    real = cv2.imencode

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(cv2, "imencode", counting)
    return calls


async def open_streams(client, path, n):
    readers = []
    for _ in range(n):
        response = await client.get(path)
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        readers.append(MjpegReader(response))
    return readers


@pytest.mark.parametrize("viewers", [0, 1, 10])
async def test_each_frame_is_encoded_once_however_many_watch(
    aiohttp_client, daemon, count_imencode, viewers
):
    source = daemon.add_source("cam0")
    app = make_app(daemon, http_config(), token=None)
    client = await aiohttp_client(app)
    readers = await open_streams(client, "/stream/cam0.mjpg", viewers)
    for seq in range(1, FRAMES + 1):
        frame = grey_frame(seq)
        source.slot.put(frame)
        parts = await asyncio.gather(*(r.next() for r in readers))
        for jpeg in parts:  # every viewer got this very frame
            assert abs(level_of(jpeg) - frame.image.mean()) < 3
    if not viewers:
        await asyncio.sleep(0.2)  # room for a (wrong) encode to happen; there is no event
        assert app[BROADCASTS].active == 0
    expected = FRAMES if viewers else 0
    assert len(count_imencode) == expected
    assert app[ENCODER].encodes == expected
    status = await (await client.get("/api/status")).json()
    assert status["http"]["encodes"] == expected
    assert status["http"]["viewers"] == viewers


async def test_pipeline_stream_draws_each_result_once_for_ten_viewers(
    aiohttp_client, daemon, count_imencode
):
    daemon.add_source("cam0")
    pipeline = MarkPipeline("marks")
    runner = daemon.add_pipeline(pipeline, "cam0")
    client = await aiohttp_client(make_app(daemon, http_config(), token=None))
    readers = await open_streams(client, "/stream/marks.mjpg", 10)
    for seq in range(1, FRAMES + 1):
        runner.publish(grey_frame(seq))
        parts = await asyncio.gather(*(r.next() for r in readers))
        assert len(set(parts)) == 1  # the same bytes for everybody
    assert pipeline.draws == FRAMES
    assert len(count_imencode) == FRAMES


async def test_pipeline_without_result_yet_shows_plain_frames(aiohttp_client, daemon):
    source = daemon.add_source("cam0")
    pipeline = MarkPipeline("marks")
    daemon.add_pipeline(pipeline, "cam0")
    client = await aiohttp_client(make_app(daemon, http_config(), token=None))
    (reader,) = await open_streams(client, "/stream/marks.mjpg", 1)
    frame = grey_frame(3)
    source.slot.put(frame)
    jpeg = await reader.next()
    assert abs(level_of(jpeg) - frame.image.mean()) < 3
    assert pipeline.draws == 0


async def test_fps_cap_skips_frames_instead_of_queueing(aiohttp_client, daemon, count_imencode):
    source = daemon.add_source("cam0")
    app = make_app(daemon, http_config(stream_fps=5), token=None)
    client = await aiohttp_client(app)
    (reader,) = await open_streams(client, "/stream/cam0.mjpg", 1)
    source.slot.put(grey_frame(1))
    await reader.next()
    started = time.monotonic()
    for seq in range(2, 12):  # ten frames at once: only the newest can be shown next
        source.slot.put(grey_frame(seq))
    jpeg = await reader.next()
    assert time.monotonic() - started >= 0.15  # 5 fps: about 0.2 s between parts
    assert abs(level_of(jpeg) - grey_frame(11).image.mean()) < 3
    assert len(count_imencode) == 2


async def test_late_viewer_gets_the_current_picture_without_a_new_encode(
    aiohttp_client, daemon, count_imencode
):
    source = daemon.add_source("cam0")
    client = await aiohttp_client(make_app(daemon, http_config(), token=None))
    (first,) = await open_streams(client, "/stream/cam0.mjpg", 1)
    source.slot.put(grey_frame(4))
    shown = await first.next()
    (late,) = await open_streams(client, "/stream/cam0.mjpg", 1)
    assert await late.next() == shown
    assert len(count_imencode) == 1


async def test_viewer_that_leaves_stops_the_stream(aiohttp_client, daemon, count_imencode):
    source = daemon.add_source("cam0")
    app = make_app(daemon, http_config(), token=None)
    client = await aiohttp_client(app)
    (reader,) = await open_streams(client, "/stream/cam0.mjpg", 1)
    source.slot.put(grey_frame(1))
    await reader.next()
    reader.close()
    seq = 1
    while app[BROADCASTS].active:  # the next write notices the peer is gone
        seq += 1
        source.slot.put(grey_frame(seq))
        await until(lambda s=seq: len(count_imencode) >= s or not app[BROADCASTS].active)
    encodes = len(count_imencode)
    for more in range(seq + 1, seq + 4):
        source.slot.put(grey_frame(more))
    await asyncio.sleep(0.1)
    assert len(count_imencode) == encodes  # nobody watches: nothing is encoded


async def test_stream_ends_when_its_source_goes_away(aiohttp_client, daemon, monkeypatch):
    monkeypatch.setattr(broadcast, "GONE_GRACE_S", 0.05)
    source = daemon.add_source("cam0")
    app = make_app(daemon, http_config(), token=None)
    client = await aiohttp_client(app)
    (reader,) = await open_streams(client, "/stream/cam0.mjpg", 1)
    source.slot.put(grey_frame(1))
    await reader.next()
    daemon.remove("cam0")
    with pytest.raises(EOFError):
        await reader.next()
    assert app[BROADCASTS].active == 0


async def test_slow_viewer_is_dropped_without_slowing_the_others(aiohttp_client, daemon):
    source = daemon.add_source("cam0")
    app = make_app(daemon, http_config(write_timeout_s=1.0, jpeg_quality=95), token=None)
    client = await aiohttp_client(app)
    fast = await open_streams(client, "/stream/cam0.mjpg", 2)

    # A viewer that asks for the stream and then never reads a byte.
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect((client.host, client.port))
    slow.sendall(b"GET /stream/cam0.mjpg HTTP/1.1\r\nHost: test\r\n\r\n")
    await until(lambda: sum(app[BROADCASTS].viewers().values()) == 3, what="three viewers")

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)  # ~1.5 MB per JPEG
    broadcasts = app[BROADCASTS]
    deadline = time.monotonic() + 20
    seq = 0
    try:
        while broadcasts.dropped_slow == 0:
            assert time.monotonic() < deadline, "the slow viewer was never dropped"
            seq += 1
            image = noise.copy()
            image[:16, :16] = seq % 250
            source.slot.put(Frame("cam0", seq, time.time(), time.monotonic(), image))
            started = time.monotonic()
            await asyncio.gather(*(r.next() for r in fast))
            # the fast viewers never wait for the slow one's write timeout
            assert time.monotonic() - started < 1.0  # the slow one times out after 1 s
    finally:
        slow.close()
    assert all(r.parts == seq for r in fast)  # not one frame skipped
    assert broadcasts.viewers() == {"cam0": 2}
    # and they keep going
    source.slot.put(grey_frame(seq + 1))
    await asyncio.gather(*(r.next() for r in fast))


async def test_shutdown_ends_open_streams_promptly(daemon):
    source = daemon.add_source("cam0")
    app = make_app(daemon, http_config(), token=None)
    runner = web.AppRunner(app, shutdown_timeout=5.0)
    await runner.setup()
    port = free_tcp_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    import aiohttp

    async with aiohttp.ClientSession() as session:
        response = await session.get(f"http://127.0.0.1:{port}/stream/cam0.mjpg")
        reader = MjpegReader(response)
        source.slot.put(grey_frame(1))
        await reader.next()
        started = time.monotonic()
        await runner.cleanup()
        assert time.monotonic() - started < 1.0  # not the 5 s grace period
        with pytest.raises((EOFError, aiohttp.ClientPayloadError)):
            await reader.next()
