"""``GET /stream/{id}.mjpg``: one viewer of a broadcast, written until it goes away.

The handler only writes parts the broadcaster already encoded. A write that
does not finish within ``write_timeout_s`` (the client stopped reading, a
stalled link) gets this viewer cut off by the broadcaster's watchdog; the
others never wait for it. A peer that disconnects surfaces as an OSError on
the next write and ends the handler quietly.
"""

from __future__ import annotations

import functools
import logging
import time

from aiohttp import web

from edged.http.broadcast import BOUNDARY
from edged.http.keys import BROADCASTS, STREAMS
from edged.http.lookup import target_or_404

__all__ = ["stream"]

log = logging.getLogger(__name__)

STREAM_HEADERS = {
    "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
    "Cache-Control": "no-cache, no-store, must-revalidate, private",
    "Pragma": "no-cache",
    "X-Accel-Buffering": "no",
}


async def stream(request: web.Request) -> web.StreamResponse:
    key = target_or_404(request)
    broadcasts = request.app[BROADCASTS]
    peer = request.remote or "?"
    response = web.StreamResponse(headers=STREAM_HEADERS)
    viewer = broadcasts.join(key, peer)
    viewer.abort = functools.partial(_abort, request)
    request.app[STREAMS].add(viewer)
    log.debug("viewer %s watches %s", peer, key.label)
    try:
        await response.prepare(request)
        while True:
            part = await viewer.next()
            if part is None:
                break
            viewer.writing_since = time.monotonic()
            await response.write(part)
            viewer.writing_since = None
            viewer.sent += 1
    except OSError:  # ConnectionResetError and friends: the peer went away (or was cut)
        log.debug("viewer %s of %s went away", peer, key.label)
    finally:
        broadcasts.leave(viewer)
    return response


def _abort(request: web.Request) -> None:
    """Cut a viewer whose write hangs: its pending write then fails with an OSError."""
    transport = request.transport
    if transport is not None:
        transport.abort()
