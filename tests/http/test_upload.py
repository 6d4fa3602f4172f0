"""Try-it uploads: POST /api/infer/{pipeline_id} with an image."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from aiohttp import FormData, MultipartWriter
from httpkit import MarkPipeline, fake_daemon, http_config, level_of

from edged.config.pipelines import MotionPipelineConfig
from edged.http import make_app
from edged.http.images import BadImage, decode_image
from edged.pipelines.motion import MotionPipeline

daemon = pytest.fixture(fake_daemon, name="daemon")


def png(width: int = 32, height: int = 24, level: int = 200) -> bytes:
    ok, buf = cv2.imencode(".png", np.full((height, width, 3), level, np.uint8))
    assert ok
    return buf.tobytes()


def jpeg(width: int = 32, height: int = 24, level: int = 200) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((height, width, 3), level, np.uint8))
    assert ok
    return buf.tobytes()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims a size; its data would never get decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def jpeg_bomb(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims ``width``x``height``, hidden behind a stray byte.

    libjpeg skips the stray byte before the first quantisation table and decodes
    the full claimed size; a header reader that stops there sees no size at all.
    """
    data = bytearray(jpeg())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    dqt = data.find(b"\xff\xdb")
    return bytes(data[:dqt]) + b"\x00" + bytes(data[dqt:])


@pytest.fixture
async def client(aiohttp_client, daemon):
    daemon.add_source("cam0")
    daemon.add_pipeline(MarkPipeline("marks"), "cam0")
    daemon.add_pipeline(
        MotionPipeline(MotionPipelineConfig(id="motion0", kind="motion", source="cam0")), "cam0"
    )
    app = make_app(
        daemon, http_config(max_upload_bytes=4096, max_upload_pixels=100_000), token=None
    )
    return await aiohttp_client(app)


async def test_image_gives_the_pipelines_json_result(client):
    response = await client.post(
        "/api/infer/marks", data=png(), headers={"Content-Type": "image/png"}
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    result = body["result"]
    assert result["pipeline_id"] == "marks"
    assert result["source_id"] == "upload"
    assert (result["width"], result["height"]) == (32, 24)
    assert result["bright"] == 32 * 24 * 3
    assert body["summary"] == {"bright": 32 * 24 * 3}


async def test_annotate_returns_the_drawn_jpeg(client):
    response = await client.post(
        "/api/infer/marks?annotate=1", data=jpeg(level=20), headers={"Content-Type": "image/jpeg"}
    )
    assert response.status == 200
    assert response.content_type == "image/jpeg"
    data = await response.read()
    assert level_of(data) > 20 + 10  # the drawn white box


async def test_motion_pipeline_accepts_an_upload(client):
    response = await client.post(
        "/api/infer/motion0", data=jpeg(), headers={"Content-Type": "image/jpeg"}
    )
    assert response.status == 200
    assert (await response.json())["result"]["motion"] is False


async def test_form_upload_like_a_browser(client):
    form = FormData()
    form.add_field("note", "ignored")
    form.add_field("image", png(), filename="shot.png", content_type="image/png")
    response = await client.post("/api/infer/marks", data=form)
    assert response.status == 200, await response.text()
    assert (await response.json())["filename"] == "shot.png"


async def test_non_image_upload_is_400_with_a_reason(client):
    response = await client.post(
        "/api/infer/marks", data=b"hello, not a picture", headers={"Content-Type": "image/png"}
    )
    assert response.status == 400
    assert "not a JPEG, PNG, BMP or WebP image" in (await response.json())["error"]
    form = FormData()
    form.add_field(
        "image", b"%PDF-1.4 ...", filename="doc.pdf", content_type="application/octet-stream"
    )
    response = await client.post("/api/infer/marks", data=form)
    assert response.status == 400


async def test_truncated_image_is_400(client):
    data = jpeg()
    cut = data.find(b"\xff\xc0") + 40  # the size is readable, the pixels are missing
    response = await client.post(
        "/api/infer/marks", data=data[:cut], headers={"Content-Type": "image/jpeg"}
    )
    assert response.status == 400
    assert "cannot be decoded" in (await response.json())["error"]
    response = await client.post(
        "/api/infer/marks", data=data[:60], headers={"Content-Type": "image/jpeg"}
    )
    assert response.status == 400
    assert "does not state the image's size" in (await response.json())["error"]


async def test_empty_upload_is_400(client):
    response = await client.post(
        "/api/infer/marks", data=b"", headers={"Content-Type": "image/png"}
    )
    assert response.status == 400


async def test_oversize_upload_is_413(client):
    big = b"\xff\xd8\xff" + bytes(10_000)
    response = await client.post(
        "/api/infer/marks", data=big, headers={"Content-Type": "image/jpeg"}
    )
    assert response.status == 413
    assert "4096 bytes" in (await response.json())["error"]


async def test_oversize_form_upload_is_413(client):
    form = FormData()
    form.add_field(
        "image", b"\xff\xd8\xff" + bytes(10_000), filename="a.jpg", content_type="image/jpeg"
    )
    response = await client.post("/api/infer/marks", data=form)
    assert response.status == 413


async def test_decompression_bomb_is_refused_before_decoding(client):
    response = await client.post(
        "/api/infer/marks",
        data=png_header_only(50_000, 50_000),
        headers={"Content-Type": "image/png"},
    )
    assert response.status == 413
    assert "50000x50000" in (await response.json())["error"]


async def test_jpeg_whose_size_cannot_be_read_is_refused_undecoded(client):
    response = await client.post(
        "/api/infer/marks", data=jpeg_bomb(2000, 2000), headers={"Content-Type": "image/jpeg"}
    )
    assert response.status == 400
    error = (await response.json())["error"]
    assert "does not state the image's size" in error and "2000x2000" not in error


def test_decode_image_never_decodes_an_image_of_unknown_size():
    # Without the header check libjpeg decodes all 2000x2000 pixels first.
    with pytest.raises(BadImage, match="does not state the image's size"):
        decode_image(jpeg_bomb(2000, 2000), 100_000)


async def test_cross_origin_upload_is_refused_without_a_token(client):
    form = FormData()
    form.add_field("image", png(), filename="shot.png", content_type="image/png")
    response = await client.post(
        "/api/infer/marks", data=form, headers={"Origin": "http://evil.example"}
    )
    assert response.status == 403
    assert "cross-origin request refused" in (await response.json())["error"]
    for origin in ("null", "http://127.0.0.1.evil.example"):
        refused = await client.post(
            "/api/infer/marks", data=png(), headers={"Content-Type": "image/png", "Origin": origin}
        )
        assert refused.status == 403


async def test_same_origin_and_script_uploads_are_accepted(client):
    own = f"http://{client.host}:{client.port}"
    for headers in ({"Origin": own}, {}):
        response = await client.post(
            "/api/infer/marks", data=png(), headers={"Content-Type": "image/png", **headers}
        )
        assert response.status == 200, await response.text()


async def test_wrong_content_type_is_415(client):
    response = await client.post(
        "/api/infer/marks", data=png(), headers={"Content-Type": "text/plain"}
    )
    assert response.status == 415
    assert "text/plain" in (await response.json())["error"]


async def test_form_without_a_file_is_400(client):
    with MultipartWriter("form-data") as form:
        form.append("no file here").set_content_disposition("form-data", name="note")
    response = await client.post("/api/infer/marks", data=form)
    assert response.status == 400
    assert "no file field" in (await response.json())["error"]


async def test_upload_slots_are_taken_before_bodies_are_read(client):
    """Slow senders hold the two upload slots while their bodies trickle in; a third upload
    is 503 at once instead of a third body being read into memory (D15)."""
    import asyncio

    from edged.http.keys import UPLOADS

    release = asyncio.Event()

    async def trickle():
        yield png()[:20]
        await release.wait()

    slow = [
        asyncio.ensure_future(
            client.post("/api/infer/marks", data=trickle(), headers={"Content-Type": "image/png"})
        )
        for _ in range(2)
    ]
    uploads = client.server.app[UPLOADS]
    for _ in range(200):
        if uploads.in_flight == 2:
            break
        await asyncio.sleep(0.02)
    assert uploads.in_flight == 2
    third = await client.post("/api/infer/marks", data=png(), headers={"Content-Type": "image/png"})
    assert third.status == 503 and third.headers["Retry-After"] == "1"
    release.set()
    for response in await asyncio.gather(*slow):
        assert response.status == 400  # the 20 bytes sent are no image
    assert uploads.in_flight == 0
