"""Drives a pipeline on the event loop: newest frame in, result onto the bus."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence

from edged.backoff import Backoff
from edged.bus import ResultBus
from edged.engines.errors import EngineUnavailableError
from edged.frames import Frame
from edged.pipelines.base import PartialBatchError, Pipeline
from edged.pipelines.gather import FrameGatherer
from edged.results import Result
from edged.slot import LatestFrameSlot, SlotReader
from edged.supervise import Supervised

__all__ = ["PipelineRunner"]

log = logging.getLogger(__name__)

#: Frames failing back to back before the task is treated as crashed (and restarted).
MAX_CONSECUTIVE_ERRORS = 3
#: Waits between tries while the engine's server is unreachable: 0.5 s, doubling to 30 s.
ENGINE_RETRY_INITIAL_S = 0.5
ENGINE_RETRY_MAX_S = 30.0


class PipelineRunner:
    """One supervised task per source the pipeline reads; stages run on its executor.

    With ``batch:`` in the pipeline's config there is one task instead, which gathers
    the newest frame of each source (:class:`FrameGatherer`) and hands them to
    ``process_batch`` together; results go onto the bus in the batch's order.

    Stopping is a drain: the frame being processed finishes and its result is
    published before the task ends. While the engine's server cannot be reached
    (``EngineUnavailableError``) the state is ``waiting``: the newest frame is tried
    again with backoff, nothing counts as a crash, and ``last_error`` says why.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        slots: Dict[str, LatestFrameSlot],
        bus: ResultBus,
        on_stop: Optional[Callable[[], Awaitable[None]]] = None,
    ):
        self.pipeline = pipeline
        self._on_stop = on_stop
        self.slots = slots
        self.bus = bus
        self.state = "stopped"
        self.last_error: Optional[str] = None
        self.last_progress_mono: Optional[float] = None
        #: Monotonic time the frame now being processed was handed over; None when idle.
        self.busy_since: Optional[float] = None
        self._stopping = asyncio.Event()
        self._consecutive_errors = 0
        self._tasks: List[Supervised] = []
        self._readers: Dict[str, SlotReader] = {}
        self._engine_backoff = Backoff(ENGINE_RETRY_INITIAL_S, ENGINE_RETRY_MAX_S)
        self.batch = getattr(pipeline.config, "batch", None)
        self.batches = 0
        self.batched_frames = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.state = "starting"
        try:
            await loop.run_in_executor(self.pipeline.executor, self.pipeline.open)
        except Exception as exc:
            self.state = "failed"
            self.last_error = f"{type(exc).__name__}: {exc}"
            raise
        self.state = "running"
        if self.batch is not None:
            name = f"pipeline {self.pipeline.id} on {'+'.join(self.slots)}"
            task = Supervised(name, self._run_batched)
            self._tasks.append(task)
            task.start()
            return
        for source_id, slot in self.slots.items():
            name = f"pipeline {self.pipeline.id} on {source_id}"
            task = Supervised(name, lambda s=source_id, sl=slot: self._run(s, sl))
            self._tasks.append(task)
            task.start()

    async def stop(self, timeout_s: float = 2.0) -> None:
        self._stopping.set()
        waits = [t.wait(timeout_s) for t in self._tasks]
        await asyncio.gather(*waits)
        for task in self._tasks:
            await task.cancel()
        for reader in self._readers.values():
            reader.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.pipeline.executor, self.pipeline.close)
        self.pipeline.executor.shutdown(wait=False)
        if self._on_stop is not None:
            await self._on_stop()
        self.state = "stopped"

    def _reader(self, source_id: str) -> SlotReader:
        """This source's reader, kept across restarts of the task so skips keep counting."""
        reader = self._readers.get(source_id)
        if reader is None:
            reader = self._readers[source_id] = self.slots[source_id].reader()
        return reader

    async def _run(self, source_id: str, slot: LatestFrameSlot) -> None:
        """One source's frames, each run on its own as soon as the last is done."""
        reader = self._reader(source_id)
        await self._serve(reader.next, self._process_one)

    async def _run_batched(self) -> None:
        """Gather the newest frames of all sources, run them as one call, publish in order."""
        readers = [self._reader(source_id) for source_id in self.slots]
        gatherer = FrameGatherer(readers, self.batch.max, self.batch.wait_ms / 1000.0)
        await self._serve(gatherer.next_batch, self._process_batch)

    async def _serve(
        self,
        take: Callable[[], Awaitable[Any]],
        handle: Callable[[Any, asyncio.Future], Awaitable[None]],
    ) -> None:
        """Take work (a frame, a batch) and handle it until stopped or the sources end."""
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                taking = asyncio.ensure_future(take())
                await asyncio.wait({taking, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not taking.done():
                    taking.cancel()
                    return
                work = taking.result()
                if work is None:
                    return  # the source(s) ended (files without loop)
                await handle(work, stop)
        finally:
            stop.cancel()

    async def _process_one(self, frame: Frame, stop: asyncio.Future) -> None:
        await self._call([frame], lambda: [self.pipeline.process(frame)], stop)

    async def _process_batch(self, frames: List[Frame], stop: asyncio.Future) -> None:
        if await self._call(frames, lambda: self.pipeline.process_batch(frames), stop):
            self.batches += 1
            self.batched_frames += len(frames)

    async def _call(
        self, frames: List[Frame], call: Callable[[], List[Result]], stop: asyncio.Future
    ) -> bool:
        """Run ``call`` on the pipeline's thread and publish its results; else wait for the
        engine or count the failed frames (results of a batch's good frames still go out).
        True when every frame gave a result."""
        loop = asyncio.get_running_loop()
        self.busy_since = time.monotonic()
        try:
            results = await loop.run_in_executor(self.pipeline.executor, call)
        except PartialBatchError as exc:
            if exc.results:  # the engine works: one camera's bad frames must not stop the rest
                self._publish(exc.results)
            error, failed = exc.error, exc.failed
        except Exception as exc:
            error, failed = exc, frames
        else:
            self._publish(results)
            return True
        finally:
            self.busy_since = None
        if isinstance(error, EngineUnavailableError):
            await self._wait_for_engine(error, stop)
        else:
            self._frames_failed(failed, error)  # raises once failures repeat
        return False

    def _publish(self, results: List[Result]) -> None:
        """A call succeeded: the engine is back, the error streak ends, results go out."""
        self._engine_back()
        self._consecutive_errors = 0
        self._publish_partial(results)

    def _publish_partial(self, results: List[Result]) -> None:
        """Results onto the bus (of a batch: those that succeeded, though others failed)."""
        for result in results:
            self.pipeline.processed += 1
            self.pipeline.last_result = result
            self.bus.publish(result)
        if results:
            self.last_progress_mono = time.monotonic()

    async def _wait_for_engine(self, exc: EngineUnavailableError, stop: asyncio.Future) -> None:
        """The server is away: say so, then wait (stop cuts it short) before the next try."""
        delay = self._engine_backoff.next_delay()
        if self.state != "waiting":
            log.warning("pipeline %s waits for its engine: %s", self.pipeline.id, exc)
        self.state = "waiting"
        self.last_error = f"waiting for the engine ({exc}); next try in {delay:.1f} s"
        await asyncio.wait({stop}, timeout=delay)

    def _engine_back(self) -> None:
        self._engine_backoff.succeeded()
        if self.state == "waiting":
            self.state = "running"
            log.info("pipeline %s: its engine answers again", self.pipeline.id)

    def _frames_failed(self, frames: Sequence[Frame], exc: Exception) -> None:
        """A bad frame (or batch) is skipped and counted; several calls in a row crash the task.

        The supervisor then restarts it with backoff, so a model that fails on
        every frame neither spins nor floods the log. A failed batch counts each of
        its frames as an error, and one call towards the crash.
        """
        before = self.pipeline.errors
        self.pipeline.errors += len(frames)
        self._consecutive_errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self._consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
            self._consecutive_errors = 0
            raise exc
        if before == 0 or before // 100 != self.pipeline.errors // 100:
            log.warning(
                "pipeline %s: %s failed (%d so far): %s",
                self.pipeline.id,
                ", ".join(f"frame {f.seq} of {f.source_id}" for f in frames),
                self.pipeline.errors,
                self.last_error,
            )

    def status(self) -> Dict[str, Any]:
        pipeline = self.pipeline
        last = pipeline.last_result
        return {
            "id": pipeline.id,
            "kind": pipeline.kind,
            "sources": list(self.slots),
            "state": self.state,
            "processed": pipeline.processed,
            "errors": pipeline.errors,
            "restarts": sum(t.restarts for t in self._tasks),
            "skipped_frames": sum(r.skipped for r in self._readers.values()),
            **self._batch_status(),
            "last_error": self.last_error,
            "timings_ms": {k: round(v, 3) for k, v in (last.timings_ms if last else {}).items()},
            "last_result": pipeline.summary(last) if last else None,
            **pipeline.describe(),
        }

    def _batch_status(self) -> Dict[str, Any]:
        """Batching's setting and what it achieved: frames per gathered batch on average."""
        if self.batch is None:
            return {}
        mean = self.batched_frames / self.batches if self.batches else None
        return {
            "batch": {
                "max": self.batch.max,
                "wait_ms": self.batch.wait_ms,
                "batches": self.batches,
                "mean_frames": round(mean, 2) if mean is not None else None,
            }
        }
