"""Test helpers: free ports, deadlines, running a Source inside an asyncio test, and a fake
RTSP server that answers every request with one status (or never)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Callable, List

from edged.config.sources import ReconnectConfig, SyntheticSourceConfig
from edged.frames import Frame
from edged.slot import LatestFrameSlot
from edged.sources import CaptureSpec, Source, capture_spec


def fast_reconnect(**overrides: Any) -> ReconnectConfig:
    values = {"initial_s": 0.2, "max_s": 1.0, "stable_s": 5.0}
    values.update(overrides)
    return ReconnectConfig(**values)


def make_source(config: Any, spec: CaptureSpec = None) -> Source:  # type: ignore[assignment]
    slot = LatestFrameSlot(config.id)
    return Source(config, spec or capture_spec(config), slot)


def synthetic_config(source_id: str = "syn", rate: float = 50.0) -> SyntheticSourceConfig:
    return SyntheticSourceConfig(id=source_id, kind="synthetic", width=64, height=48, rate=rate)


async def collect(source: Source, count: int, timeout_s: float) -> List[Frame]:
    """Read ``count`` frames through a slot reader (the way a pipeline does)."""
    reader = source.slot.reader()
    frames: List[Frame] = []
    try:

        async def gather() -> None:
            while len(frames) < count:
                frame = await reader.next()
                if frame is None:
                    return
                frames.append(frame)

        await asyncio.wait_for(gather(), timeout_s)
    finally:
        reader.close()
    return frames


async def until(predicate: Callable[[], bool], timeout_s: float) -> float:
    """Await a condition on state that a capture thread updates; returns seconds waited."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``predicate`` until true or the deadline (only for outside processes)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


class FakeRtsp:
    """A loopback TCP server that answers every RTSP request with ``status``, or never."""

    def __init__(self, status: str = "") -> None:
        self.status = status
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.accepted = 0
        self._conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        buffer = b""
        while self.status:
            try:
                data = conn.recv(4096)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b"\r\n\r\n" in buffer:
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                text = head.decode("latin-1")
                self.requests.append(text)
                cseq = next(
                    (
                        ln.split(":", 1)[1].strip()
                        for ln in text.split("\r\n")
                        if ln.lower().startswith("cseq:")
                    ),
                    "1",
                )
                reply = (
                    f"RTSP/1.0 {self.status}\r\nCSeq: {cseq}\r\n"
                    'WWW-Authenticate: Basic realm="cam"\r\nContent-Length: 0\r\n\r\n'
                )
                try:
                    conn.sendall(reply.encode())
                except OSError:
                    return

    def close(self) -> None:
        self.sock.close()
        for conn in self._conns:
            conn.close()
