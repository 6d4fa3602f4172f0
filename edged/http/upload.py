"""Try-it uploads: ``POST /api/infer/{pipeline_id}`` runs one image through a pipeline.

The body is either the image itself (``Content-Type: image/jpeg`` etc.) or a
``multipart/form-data`` form with a file field. It is size-limited, its type
checked, its pixel count read from the header before decoding, and decoded off
the loop. The pipeline runs it on its own thread, between live frames, as a
Frame from source ``upload``. The answer is the result as JSON, or with
``?annotate=1`` the image with the result drawn on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Optional, Tuple

from aiohttp import BodyPartReader, web

from edged.frames import Frame
from edged.http.errors import json_error, too_large
from edged.http.images import (
    ACCEPTED_TYPES,
    BadImage,
    ImageTooLarge,
    check_image,
    decode_image,
)
from edged.http.keys import CONFIG, ENCODER, UPLOADS
from edged.http.lookup import pipeline_or_404
from edged.http.targets import Picture, overlay_of

__all__ = ["FORM_OVERHEAD", "infer", "read_upload"]

log = logging.getLogger(__name__)

UPLOAD_SOURCE_ID = "upload"
FILE_FIELDS = ("image", "file")
CHUNK = 64 * 1024
#: Room for a multipart form's boundaries and headers around the file.
FORM_OVERHEAD = 64 * 1024


async def infer(request: web.Request) -> web.StreamResponse:
    """One upload, its slot taken before its body is read: bodies in memory are bounded by
    the slots (``Uploads.limit`` x ``max_upload_bytes``), not by how many clients send."""
    runner = pipeline_or_404(request)
    config = request.app[CONFIG]
    uploads = request.app[UPLOADS]
    if uploads.in_flight >= uploads.limit:
        raise json_error(
            web.HTTPServiceUnavailable,
            f"{uploads.in_flight} uploads are being processed; try again in a moment",
            headers={"Retry-After": "1"},
        )
    uploads.in_flight += 1
    try:
        data, filename = await read_upload(request, config.max_upload_bytes)
        try:
            check_image(data, config.max_upload_pixels)
        except BadImage as exc:
            raise json_error(web.HTTPBadRequest, str(exc)) from None
        except ImageTooLarge as exc:
            raise too_large(str(exc), config.max_upload_pixels, 0) from None
        return await _run(request, runner, data, filename)
    finally:
        uploads.in_flight -= 1


async def _run(
    request: web.Request, runner: object, data: bytes, filename: Optional[str]
) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    config = request.app[CONFIG]
    encoder = request.app[ENCODER]
    uploads = request.app[UPLOADS]
    pipeline = runner.pipeline  # type: ignore[attr-defined]
    try:
        image = await loop.run_in_executor(
            encoder.executor, decode_image, data, config.max_upload_pixels
        )
    except BadImage as exc:
        raise json_error(web.HTTPBadRequest, str(exc)) from None
    except ImageTooLarge as exc:
        raise too_large(str(exc), config.max_upload_pixels, 0) from None
    uploads.seq += 1
    meta = {"filename": filename} if filename else {}
    frame = Frame(UPLOAD_SOURCE_ID, uploads.seq, time.time(), time.monotonic(), image, meta)
    try:
        result = await loop.run_in_executor(pipeline.executor, pipeline.process, frame)
    except RuntimeError as exc:
        if "shutdown" in str(exc):  # the pipeline stopped (reload) while we waited
            raise json_error(
                web.HTTPServiceUnavailable, f"pipeline {pipeline.id} is restarting"
            ) from None
        raise json_error(
            web.HTTPUnprocessableEntity, f"pipeline {pipeline.id} failed on this image: {exc}"
        ) from None
    except Exception as exc:
        log.info("upload to pipeline %s failed: %s: %s", pipeline.id, type(exc).__name__, exc)
        raise json_error(
            web.HTTPUnprocessableEntity,
            f"pipeline {pipeline.id} failed on this image: {type(exc).__name__}: {exc}",
        ) from None
    uploads.done += 1
    if request.query.get("annotate", "") in ("1", "true", "yes"):
        jpeg = await encoder.render_now(Picture(result, frame, result, overlay_of(pipeline)))
        return web.Response(
            body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"}
        )
    body = {"result": result.record(), "summary": pipeline.summary(result)}
    if filename:
        body["filename"] = filename
    return web.json_response(body, dumps=_dumps)


def _dumps(obj: object) -> str:
    return json.dumps(obj, default=str, allow_nan=False)


async def read_upload(request: web.Request, limit: int) -> Tuple[bytes, Optional[str]]:
    """The uploaded image's bytes and file name; 413 past ``limit``, 415 for other types."""
    length = request.content_length
    ctype = request.content_type
    if ctype == "multipart/form-data":
        if length is not None and length > limit + FORM_OVERHEAD:
            raise _too_large(limit, length)
        return await _read_form(request, limit)
    if length is not None and length > limit:
        raise _too_large(limit, length)
    if ctype not in ACCEPTED_TYPES:
        raise _unsupported(ctype)
    data = await _read_stream(request.content, limit)
    return data, None


async def _read_form(request: web.Request, limit: int) -> Tuple[bytes, Optional[str]]:
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise json_error(web.HTTPBadRequest, "nested multipart bodies are not accepted")
        if part.name not in FILE_FIELDS and part.filename is None:
            await part.release()
            continue
        ctype = (part.headers.get("Content-Type") or "application/octet-stream").split(";")[0]
        if ctype.strip().lower() not in ACCEPTED_TYPES:
            raise _unsupported(ctype)
        data = bytearray()
        while True:
            chunk = await part.read_chunk(CHUNK)
            if not chunk:
                break
            data += chunk
            if len(data) > limit:
                raise _too_large(limit, len(data))
        return bytes(data), part.filename
    raise json_error(
        web.HTTPBadRequest, f"the form has no file field (name it one of: {', '.join(FILE_FIELDS)})"
    )


async def _read_stream(stream: object, limit: int) -> bytes:
    data = bytearray()
    while True:
        chunk = await stream.read(CHUNK)  # type: ignore[attr-defined]
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > limit:
            raise _too_large(limit, len(data))


def _too_large(limit: int, size: int) -> web.HTTPException:
    return too_large(f"the upload is larger than {limit} bytes (max_upload_bytes)", limit, size)


def _unsupported(ctype: str) -> web.HTTPException:
    return json_error(
        web.HTTPUnsupportedMediaType,
        f"content type {ctype or '(none)'!r} is not an image; send image/jpeg, image/png, "
        "image/bmp, image/webp, or a multipart form with a file field",
    )
