"""The orchestrator: builds parts from the config, starts them in order, reloads, stops.

Parts start in the order sinks -> sources -> pipelines and stop in the reverse
order, so results always have somewhere to go and a pipeline never reads from
a source that is gone. A reload (SIGHUP) restarts only the parts whose config
changed; a pipeline also restarts when a source it reads restarts, because it
then reads from a new slot. A part that fails to start is reported, not fatal:
the rest keeps running, and the part is tried again with the backoff sources
use to reconnect (a disk that was full, a broker name not yet resolvable, a
model file copied in late: none of these should need a restart of edged).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Union

from edged import __version__
from edged.backoff import Backoff
from edged.bus import ResultBus
from edged.config import Config, ConfigError, parse_config
from edged.config.edit import (
    EditError,
    FileStamp,
    SaveError,
    StaleFileError,
    stamp_of,
    write_atomically,
)
from edged.config.load import MAX_CONFIG_BYTES, load_config_text
from edged.config.sources import ReconnectConfig
from edged.config.textfile import TextFileError, read_text_file
from edged.engines import EngineError, ModelManager, ModelState
from edged.logs import setup_logging
from edged.pipelines import create_pipeline
from edged.pipelines.runner import PipelineRunner
from edged.signals import EarlySignals
from edged.sinks import Sink, create_sink
from edged.slot import LatestFrameSlot
from edged.sources import Source, capture_spec
from edged.sources.isolation import remove_stale_shm
from edged.systemd import Notifier, SystemdWatchdog, status_line, watchdog_interval_s

__all__ = ["EXIT_UNCLEAN", "Daemon", "run_daemon"]

#: run_daemon's result when parts did not stop in time: the caller exits at once
#: (os._exit), since interpreter shutdown would wait for a hung thread forever.
EXIT_UNCLEAN = -1

log = logging.getLogger(__name__)

Key = Tuple[str, str]  # ("sink" | "source" | "pipeline", id)
ORDER = {"sink": 0, "source": 1, "pipeline": 2}
STOP_PIPELINES_S = 1.2  # the frame in hand finishes; a hung model is abandoned
STOP_SOURCES_S = 1.5  # capture threads join; capture processes are killed
STOP_SINKS_S = 1.8  # queued results are written (spool, file) before connections close


class _Part:
    """A started part: what it was built from and the running object."""

    def __init__(self, key: Key, config: Any, obj: Any):
        self.key = key
        self.config = config
        self.obj = obj


class Daemon:
    def __init__(
        self,
        config: Config,
        config_path: Optional[Union[str, Path]] = None,
        pipeline_factory: Callable[[Any], Any] = create_pipeline,
        config_text: Optional[str] = None,
    ):
        """``config_text`` is the file's text ``config`` was parsed from (read again if None)."""
        self.config = config
        self.config_path = Path(config_path) if config_path else None
        #: The config file's text as last read or written, and its stamp then (API edits).
        self.config_text: Optional[str] = None
        self._stamp: Optional[FileStamp] = None
        if self.config_path is not None:
            if config_text is None:
                config_text = _read_quietly(self.config_path)
            if config_text is not None:
                self._remember(config_text)
        self.pipeline_factory = pipeline_factory
        self.bus = ResultBus()
        self.parts: Dict[Key, _Part] = {}
        self.failed: Dict[Key, str] = {}
        self._retries: Dict[Key, asyncio.Task] = {}  # failed parts waiting to be retried
        self._backoffs: Dict[Key, Backoff] = {}
        self.started_mono = time.monotonic()
        self.reloads = 0
        self.models = ModelManager()
        self._reload_lock = asyncio.Lock()
        self._closing = False
        #: A part did not stop in time (a thread may hang in C code until the process ends).
        self.unclean = False

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        removed = remove_stale_shm()
        if removed:
            log.info("removed %d capture buffer(s) left by an earlier run", removed)
        async with self._reload_lock:
            await self._apply(self.config)

    async def stop(self) -> None:
        """Stop every part (no reload can start parts meanwhile or afterwards)."""
        async with self._reload_lock:
            self._closing = True
            await self._cancel_retries(list(self._retries))
            await self._stop_parts(list(self.parts))
            await self.models.close()

    async def reload(self) -> bool:
        """Re-read the config file; apply it, or keep the running one if it is invalid."""
        async with self._reload_lock:
            if self._closing:
                return False
            if self.config_path is None:
                log.warning("reload requested but edged was not started from a file")
                return False
            try:
                new, text = load_config_text(self.config_path, secrets=True)
            except ConfigError as exc:
                log.error("new config rejected, keeping the running one:\n%s", exc)
                return False
            self._remember(text)
            try:
                await self._apply_reloaded(new)
            except Exception:
                log.exception("reload failed part-way; see the status page for what runs")
                return False
            self.reloads += 1
            log.info("config reloaded from %s", self.config_path)
            return True

    async def edit_config(self, edit: Callable[[Config, str], str], what: str) -> Config:
        """Change the config through ``edit`` (running config, file text -> new text).

        Under the reload lock: the file must still be the one last read
        (``StaleFileError`` otherwise); the new text is validated as a whole
        file (``ConfigError``), written atomically with a backup, and applied
        as a reload would, restarting only what changed. ``edit`` may raise to
        refuse the change; nothing is written then.
        """
        async with self._reload_lock:
            if self._closing:
                raise EditError("edged is stopping", "make the change after it has started again")
            path, text, stamp = self.config_path, self.config_text, self._stamp
            if path is None or text is None or stamp is None:
                raise EditError(
                    "edged was not started from a config file, so a change cannot be saved",
                    "start edged with a config file (edged run -c FILE)",
                )
            loop = asyncio.get_running_loop()
            on_disk = await loop.run_in_executor(None, _stamp_on_disk, path)
            if on_disk.sha256 != stamp.sha256:
                raise StaleFileError(path, stamp, on_disk)
            config = self.config

            # A YAML round trip and a validation take milliseconds: not on the loop.
            def edited() -> Tuple[str, Config]:
                new_text = edit(config, text)
                return new_text, parse_config(new_text, str(path), secrets=True)

            new_text, new = await loop.run_in_executor(None, edited)
            try:
                await loop.run_in_executor(None, write_atomically, path, new_text)
            except OSError as exc:
                log.error("config change through the API not saved: %s", exc)
                raise SaveError(path, exc) from None
            self._remember(new_text)
            log.info("config changed through the API (%s); saved to %s", what, path)
            await self._apply_reloaded(new)
            self.reloads += 1
            return new

    def _remember(self, text: str) -> None:
        assert self.config_path is not None
        self.config_text = text
        self._stamp = stamp_of(self.config_path, text)

    async def _apply_reloaded(self, new: Config) -> None:
        setup_logging(new.logging)
        self.config = new  # parts (re)started by _apply see the new device_id etc.
        await self._apply(new)
        for sink in self.sinks().values():
            hook = getattr(sink, "config_reloaded", None)
            if hook is not None:
                await _maybe_await(hook(new))

    # ------------------------------------------------------------ diffing

    def _desired(self, config: Config) -> Dict[Key, Any]:
        """Every part the config asks for, with the config that defines it."""
        desired: Dict[Key, Any] = {}
        for name in type(config.sinks).model_fields:
            section = getattr(config.sinks, name)
            if section is not None:  # topics and client ids derive from device_id
                desired[("sink", name)] = (section, config.device_id)
        sources = {s.id: s for s in config.sources}
        for source in config.sources:
            desired[("source", source.id)] = source
        for pipeline in config.pipelines:
            inputs = tuple(sources[i] for i in pipeline.source_ids)
            desired[("pipeline", pipeline.id)] = (pipeline, inputs)
        return desired

    async def _apply(self, config: Config) -> None:
        desired = self._desired(config)
        stale = [k for k, p in self.parts.items() if desired.get(k) != p.config]
        await self._stop_parts(stale)
        for key in sorted(desired, key=lambda k: ORDER[k[0]]):
            if key not in self.parts:
                await self._start_part(key, desired[key])
        for key in list(self.failed):
            if key not in desired:
                del self.failed[key]
        await self._cancel_retries([k for k in self._retries if k not in desired])

    async def _start_part(self, key: Key, part_config: Any) -> None:
        kind, ident = key
        obj: Any = None
        pipeline: Any = None
        try:
            if kind == "sink":
                obj = create_sink(ident, part_config[0], daemon=self)
                await obj.start(self.bus)
            elif kind == "source":
                slot = LatestFrameSlot(ident)
                obj = Source(part_config, capture_spec(part_config), slot)
                obj.start()
            else:
                pipeline_config, inputs = part_config
                slots = {s.id: self._slot(s.id) for s in inputs}
                pipeline = self.pipeline_factory(pipeline_config)
                await self._attach_model(ident, pipeline)
                obj = PipelineRunner(pipeline, slots, self.bus, on_stop=self._model_unloader(ident))
                await obj.start()
        except Exception as exc:
            await self._clean_up_failed_start(kind, ident, obj, pipeline)
            reason = f"{type(exc).__name__}: {exc}"
            self._start_failed(key, part_config, reason)
            return
        if key in self.failed:
            attempts = self._attempts(key)
            log.warning("%s %s started after %d failed attempt(s)", kind, ident, attempts)
        self.failed.pop(key, None)
        self._backoffs.pop(key, None)
        self.parts[key] = _Part(key, part_config, obj)
        log.debug("%s %s started", kind, ident)

    def _start_failed(self, key: Key, part_config: Any, reason: str) -> None:
        """Report the failure (once per new reason) and schedule the next attempt."""
        kind, ident = key
        backoff = self._backoffs.get(key)
        if backoff is None:
            backoff = self._backoffs[key] = _backoff_for(part_config)
        delay = backoff.next_delay()
        if self.failed.get(key) != reason:
            log.error(
                "%s %s failed to start: %s; trying again in %.2f s", kind, ident, reason, delay
            )
        else:
            log.debug("%s %s failed to start again: %s", kind, ident, reason)
        self.failed[key] = reason
        old = self._retries.pop(key, None)
        if old is not None and old is not asyncio.current_task():
            old.cancel()
        self._retries[key] = asyncio.ensure_future(self._retry(key, part_config, delay))

    def _attempts(self, key: Key) -> int:
        backoff = self._backoffs.get(key)
        return backoff.attempts if backoff is not None else 0

    async def _retry(self, key: Key, part_config: Any, delay_s: float) -> None:
        """Start a failed part again after ``delay_s``, unless a reload or stop came first."""
        await asyncio.sleep(delay_s)
        async with self._reload_lock:
            if self._retries.get(key) is asyncio.current_task():
                del self._retries[key]
            if self._closing or key in self.parts or key not in self.failed:
                return
            if self._desired(self.config).get(key) != part_config:
                return  # a reload changed or removed it; the reload started what it wants
            await self._start_part(key, part_config)

    async def _cancel_retries(self, keys: List[Key]) -> None:
        tasks = [self._retries.pop(k) for k in keys if k in self._retries]
        for key in keys:
            self._backoffs.pop(key, None)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _clean_up_failed_start(self, kind: str, ident: str, obj: Any, pipeline: Any) -> None:
        """Release what a part that failed half-way had started (threads, executors, models)."""
        try:
            if obj is not None and kind in ("pipeline", "sink"):
                await asyncio.wait_for(obj.stop(), 2.0)
            elif obj is not None:
                await asyncio.get_running_loop().run_in_executor(None, obj.stop)
            elif pipeline is not None:
                pipeline.executor.shutdown(wait=False)
        except Exception:
            log.debug("cleaning up %s %s after a failed start", kind, ident, exc_info=True)
        if kind == "pipeline":
            await self._model_unloader(ident)()

    async def _attach_model(self, pipeline_id: str, pipeline: Any) -> None:
        """Load the pipeline's model through the shared manager (background TensorRT builds).

        When nothing can serve the model until its TensorRT plan is built (no ONNX
        Runtime fallback), this waits for the build: start-up keeps extending
        systemd's start timeout meanwhile.
        """
        request = pipeline.model_request()
        if request is None:
            return
        path, options = request
        if pipeline_id in self.models.names():
            await self.models.unload(pipeline_id)
        handle = await self.models.load(pipeline_id, path, options)
        if not handle.inputs:
            log.info("pipeline %s waits for its TensorRT plan to be built", pipeline_id)
            state = await self.models.wait_until(pipeline_id, ModelState.READY, ModelState.FAILED)
            if state is ModelState.FAILED:
                raise EngineError(self.models.describe(pipeline_id)["reason"])
        pipeline.use_engine(handle)

    def _model_unloader(self, pipeline_id: str) -> Callable[[], Awaitable[None]]:
        async def unload() -> None:
            if pipeline_id in self.models.names():
                await self.models.unload(pipeline_id)

        return unload

    def _slot(self, source_id: str) -> LatestFrameSlot:
        part = self.parts.get(("source", source_id))
        if part is None:
            raise RuntimeError(f"source {source_id!r} is not running")
        return part.obj.slot

    async def _stop_parts(self, keys: List[Key]) -> None:
        """Stop pipelines, then sources (in parallel threads), then sinks.

        Each stage has its own deadline (together under the 5 s a stop may take),
        so a hung model cannot eat the time the sinks need to persist their queues.
        """
        loop = asyncio.get_running_loop()
        by_kind: Dict[str, List[_Part]] = {"pipeline": [], "source": [], "sink": []}
        for key in keys:
            by_kind[key[0]].append(self.parts.pop(key))
        await self._stop_all(by_kind["pipeline"], lambda p: p.obj.stop(), STOP_PIPELINES_S)
        await self._stop_all(
            by_kind["source"],
            lambda p: loop.run_in_executor(None, p.obj.stop, STOP_SOURCES_S - 0.1),
            STOP_SOURCES_S,
        )
        await self._stop_all(by_kind["sink"], lambda p: p.obj.stop(), STOP_SINKS_S)

    async def _stop_all(self, parts: List[_Part], stop: Callable[[_Part], Any], limit_s: float):
        async def one(part: _Part) -> None:
            try:
                await asyncio.wait_for(stop(part), limit_s)
            except asyncio.TimeoutError:
                self.unclean = True
                log.error("%s %s did not stop within %.1f s", *part.key, limit_s)
            except Exception:
                log.exception("error while stopping %s %s", *part.key)

        await asyncio.gather(*(one(p) for p in parts))

    # ------------------------------------------------------------ status

    def sources(self) -> Dict[str, Source]:
        return {k[1]: p.obj for k, p in self.parts.items() if k[0] == "source"}

    def pipelines(self) -> Dict[str, PipelineRunner]:
        return {k[1]: p.obj for k, p in self.parts.items() if k[0] == "pipeline"}

    def sinks(self) -> Dict[str, Sink]:
        return {k[1]: p.obj for k, p in self.parts.items() if k[0] == "sink"}

    def status(self) -> Dict[str, Any]:
        return {
            "version": __version__,
            "device_id": self.config.device_id,
            "uptime_s": round(time.monotonic() - self.started_mono, 1),
            "reloads": self.reloads,
            "sources": [s.status() for s in self.sources().values()],
            "pipelines": [p.status() for p in self.pipelines().values()],
            "sinks": [s.base_status() for s in self.sinks().values()],
            "failed": [{"part": k[0], "id": k[1], "error": e} for k, e in self.failed.items()],
            "models": self.models.list(),
            "bus": self.bus.status(),
        }


def _read_quietly(path: Path) -> Optional[str]:
    try:
        return read_text_file(path, MAX_CONFIG_BYTES)
    except (OSError, TextFileError):
        return None


def _stamp_on_disk(path: Path) -> FileStamp:
    """The file's stamp now; a file that cannot be read gets one that matches nothing."""
    try:
        return stamp_of(path, read_text_file(path, MAX_CONFIG_BYTES))
    except OSError as exc:
        return FileStamp(f"(unreadable: {exc.strerror})", None)
    except TextFileError as exc:
        return FileStamp(f"(unusable: {exc.message})", None)


def _backoff_for(part_config: Any) -> Backoff:
    """The part's own reconnect policy (sources, MQTT), else the sources' default one."""
    main = part_config[0] if isinstance(part_config, tuple) else part_config
    policy = getattr(main, "reconnect", None)
    if not isinstance(policy, ReconnectConfig):
        policy = ReconnectConfig()
    return Backoff(policy.initial_s, policy.max_s, stable_s=policy.stable_s)


async def _maybe_await(value: Any) -> None:
    if asyncio.iscoroutine(value):
        await value


async def run_daemon(
    config_path: Union[str, Path],
    stop_timeout_s: float = 4.5,
    early: Optional[EarlySignals] = None,
) -> int:
    """`edged run`: start, serve until SIGTERM/SIGINT, reload on SIGHUP, stop in time.

    The signal handlers go in first, before the config is read: a SIGTERM
    during start-up then stops the daemon with a log line instead of killing
    it, and a SIGHUP waits for start-up to finish. ``early`` holds what
    arrived even before the loop ran (see edged.signals).
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    hangups = _Hangups()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, hangups.request)
    config, config_text = load_config_text(config_path, secrets=True)
    setup_logging(config.logging)
    for sig in early.take() if early is not None else ():  # now their log lines show
        (hangups.request if sig == signal.SIGHUP else stopping.set)()
    if stopping.is_set():
        log.info("stop requested during start-up; not starting")
        return 0
    daemon = Daemon(config, config_path, config_text=config_text)
    notifier = Notifier()
    async with _extend_start_timeout(notifier):
        await daemon.start()
    reloads: List[asyncio.Future] = []
    hangups.started(lambda: reloads.append(asyncio.ensure_future(_reload(daemon, notifier))))
    watchdog = SystemdWatchdog(
        daemon,
        notifier,
        watchdog_interval_s(),
        stuck_after_s=config.watchdog.stuck_after_s,
        status_every_s=config.watchdog.status_every_s,
    )
    notifier.notify(f"READY=1\nSTATUS={status_line(daemon)}")
    watchdog.start()
    log.info(
        "edged %s running as %s: %d source(s), %d pipeline(s), %d sink(s)%s",
        __version__,
        config.device_id,
        len(daemon.sources()),
        len(daemon.pipelines()),
        len(daemon.sinks()),
        f"; {len(daemon.failed)} part(s) failed to start" if daemon.failed else "",
    )
    await stopping.wait()
    hangups.stopped()
    log.info("stopping")
    notifier.notify("STOPPING=1")
    await watchdog.stop()
    try:
        await asyncio.wait_for(daemon.stop(), stop_timeout_s)
    except asyncio.TimeoutError:
        log.error("parts did not stop within %.1f s; exiting anyway", stop_timeout_s)
        return EXIT_UNCLEAN
    log.info("stopped")
    return EXIT_UNCLEAN if daemon.unclean else 0


async def _reload(daemon: Daemon, notifier: Notifier) -> None:
    monotonic_usec = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
    notifier.notify(f"RELOADING=1\nMONOTONIC_USEC={monotonic_usec}")
    try:
        await daemon.reload()
    except Exception:
        log.exception("reload failed")
    finally:
        notifier.notify(f"READY=1\nSTATUS={status_line(daemon)}")


class _Hangups:
    """SIGHUP means reload; one that comes during start-up is kept until start-up ends,
    and one during shutdown is ignored (the default action would kill the daemon)."""

    def __init__(self) -> None:
        self._reload: Optional[Callable[[], None]] = None
        self._waiting = False
        self._stopped = False

    def request(self) -> None:
        if self._stopped:
            log.info("reload requested while stopping; ignored")
        elif self._reload is None:
            log.info("reload requested during start-up; it follows when start-up ends")
            self._waiting = True
        else:
            self._reload()

    def started(self, reload: Callable[[], None]) -> None:
        self._reload = reload
        if self._waiting:
            self._waiting = False
            reload()

    def stopped(self) -> None:
        self._stopped = True


class _extend_start_timeout:
    """While start-up runs (engines load or build: minutes on a Nano), keep extending
    systemd's start timeout in steps, so a slow but progressing start is not killed."""

    STEP_S = 30.0

    def __init__(self, notifier: Notifier):
        self.notifier = notifier
        self._task: Optional[asyncio.Task] = None

    async def __aenter__(self) -> None:
        if self.notifier.enabled:
            self._task = asyncio.ensure_future(self._extend())

    async def __aexit__(self, *exc: Any) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _extend(self) -> None:
        while True:
            usec = int(self.STEP_S * 2 * 1e6)
            self.notifier.notify(f"EXTEND_TIMEOUT_USEC={usec}\nSTATUS=starting (loading models)")
            await asyncio.sleep(self.STEP_S)
