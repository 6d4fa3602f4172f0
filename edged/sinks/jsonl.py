"""Append results to a JSON Lines file that rotates by size, with a chosen fsync policy."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, Dict, List, Optional

from edged.config.sinks import JsonlSinkConfig
from edged.results import Result
from edged.sinks.base import Sink

__all__ = ["JsonlSink", "JsonlWriter"]

log = logging.getLogger(__name__)


class JsonlWriter:
    """Blocking writer: one JSON object per line, rotation to path.1…path.N, fsync policy.

    Every line is complete when written (one ``write`` per batch, then flush), so
    a reader or a crash never sees half a record, except possibly the very last
    line after a power cut with ``fsync: never``.
    """

    def __init__(self, config: JsonlSinkConfig):
        self.config = config
        self.path = Path(config.path)
        self._fh: Optional[IO[str]] = None
        self._size = 0
        self._last_sync = time.monotonic()
        self.rotations = 0
        self.written = 0
        self.unserialisable = 0

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        self._size = self._fh.tell()

    def write(self, records: List[Dict[str, Any]]) -> None:
        lines = [line for line in map(self._encode, records) if line is not None]
        text = "".join(lines)
        size = len(text.encode("utf-8"))
        if self._size and self._size + size > self.config.max_bytes:
            self._rotate()
        self._fh.write(text)
        self._fh.flush()
        self._size += size
        self.written += len(lines)
        self._maybe_sync()

    def _encode(self, record: Dict[str, Any]) -> Optional[str]:
        """One JSON line, or None (logged, counted) for a record JSON cannot hold."""
        try:
            return json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            self.unserialisable += 1
            log.error(
                "result of pipeline %s cannot be written as JSON (%s); skipped",
                record.get("pipeline_id", "?"),
                exc,
            )
            return None

    def _maybe_sync(self) -> None:
        policy = self.config.fsync
        now = time.monotonic()
        if policy == "always" or (
            policy == "interval" and now - self._last_sync >= self.config.fsync_interval_s
        ):
            os.fsync(self._fh.fileno())
            self._last_sync = now

    def _rotate(self) -> None:
        self.close()
        backups = self.config.backups
        if backups == 0:
            self.path.unlink()
        else:
            for index in range(backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{index}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self.rotations += 1
        self.open()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            if self.config.fsync != "never":
                os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


class JsonlSink(Sink):
    """The writer on its own thread, fed in batches from the bus."""

    name = "jsonl"

    def __init__(self, config: JsonlSinkConfig):
        self.queue_size = config.queue_size
        super().__init__()
        self.writer = JsonlWriter(config)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sink-jsonl")

    async def open(self) -> None:
        await self._in_thread(self.writer.open)

    async def handle_batch(self, results: List[Result]) -> None:
        records = [r.record() for r in results]
        await self._in_thread(self.writer.write, records)

    async def close(self) -> None:
        await self._in_thread(self.writer.close)
        self._executor.shutdown(wait=True)

    def status(self) -> Dict[str, Any]:
        return {
            "path": str(self.writer.path),
            "written": self.writer.written,
            "rotations": self.writer.rotations,
        }

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
