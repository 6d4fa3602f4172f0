"""The model manager: load, list and unload models at runtime, by name.

Each model goes ``loading`` -> ``warming`` -> ``ready``, or to ``failed``
with a reason. Pipelines get a ``SwappableEngine`` handle right away and keep
it; what serves behind it can change:

* ONNX Runtime, a TensorRT plan file, or an ONNX model whose plan is already
  cached: opened, warmed up, ``ready`` within seconds;
* an ONNX model on TensorRT with no cached plan: the plan builds in a
  background thread (5-20 minutes on a Jetson Nano). Meanwhile the model is
  ``warming`` and, by default (``fallback_while_building``), already served
  by ONNX Runtime: the same model gives the same outputs, only slower, which
  beats a device that shows nothing for its first quarter of an hour. When
  the plan is built and warmed up it is swapped in and the model is
  ``ready``. With the fallback off, calls raise ``EngineNotReadyError`` until
  then. A failed build with the fallback serving leaves the model ``ready``
  on ONNX Runtime with the failure as its reason (and a warning in the log).

The async methods run blocking work (hashing, session creation, plan
deserialisation, warmup) in the loop's default executor, never on the loop.
State lives under one lock, so the background builder thread, the loop and
the HTTP layer can all read and change it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Union

from edged.config.engine import EngineConfig

from .base import Engine
from .digest import model_sha256
from .errors import EngineClosedError, EngineError, EngineNotReadyError
from .factory import (
    model_kind,
    open_onnxruntime,
    open_tensorrt_file,
    open_triton,
    select_backend,
    tensorrt_from_onnx,
)
from .probe import TensorRTStatus, probe_tensorrt
from .swappable import SwappableEngine

__all__ = ["ModelManager", "ModelState"]

log = logging.getLogger(__name__)


class ModelState(str, enum.Enum):
    """Where a model is in its life."""

    LOADING = "loading"
    WARMING = "warming"
    READY = "ready"
    FAILED = "failed"


class _Entry:
    """Book-keeping for one model; fields change only under the manager's lock."""

    def __init__(
        self, name: str, path: str, options: EngineConfig, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.name = name
        self.path = path
        self.options = options
        self.loop = loop
        self.state = ModelState.LOADING
        self.reason = "loading"
        self.backend: Optional[str] = None
        self.selection = ""  # why that backend: kept apart from the changing state reason
        self.handle: Optional[SwappableEngine] = None
        self.since = time.monotonic()
        self.cancelled = threading.Event()
        self.changed = asyncio.Event()
        self.builder: Optional[threading.Thread] = None


class ModelManager:
    """Loads models by name and tracks their state; an async context manager."""

    def __init__(self, *, probe: Callable[[], TensorRTStatus] = probe_tensorrt) -> None:
        self._probe = probe
        self._lock = threading.Lock()
        self._entries: Dict[str, _Entry] = {}

    async def __aenter__(self) -> ModelManager:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- loading -----------------------------------------------------------------

    async def load(
        self, name: str, model_path: Union[str, os.PathLike], options: Optional[EngineConfig] = None
    ) -> SwappableEngine:
        """Load ``model_path`` as ``name``; return its handle once something serves it.

        Returns while a TensorRT plan still builds in the background (state
        ``warming``). Raises the ``EngineError`` when loading fails; the model
        then stays listed as ``failed`` with that reason until unloaded or
        loaded again.
        """
        loop = asyncio.get_running_loop()
        entry = _Entry(name, os.fspath(model_path), options or EngineConfig(), loop)
        with self._lock:
            existing = self._entries.get(name)
            if existing is not None and existing.state is not ModelState.FAILED:
                raise EngineError(
                    f"model {name!r} is already loaded ({existing.state.value}); unload it first"
                )
            self._entries[name] = entry
        await loop.run_in_executor(None, self._load_blocking, entry)
        assert entry.handle is not None
        return entry.handle

    def _load_blocking(self, entry: _Entry) -> None:
        # runs in the loop's default executor
        try:
            self._open(entry)
        except Exception as exc:
            self._set(entry, ModelState.FAILED, str(exc))
            log.error("model %r failed to load: %s", entry.name, exc)
            if entry.handle is not None:
                entry.handle.close()
            raise

    def _open(self, entry: _Entry) -> None:
        backend, reason = select_backend(entry.path, entry.options.backend, probe=self._probe)
        with self._lock:
            entry.backend, entry.selection = backend, reason
        log.info("model %r: backend %s (%s)", entry.name, backend, reason)
        if backend == "triton":  # the model lives on the server: no local file to hash
            engine: Optional[Engine] = open_triton(entry.path, entry.options, name=entry.name)
            assert engine is not None
            entry.handle = SwappableEngine(entry.path, name=entry.name, sha256=engine.sha256)
        else:
            engine = self._open_local(entry, backend)
            if engine is None:
                return  # its TensorRT plan builds in the background
        engine.selection_reason = reason
        self._warm_and_serve(entry, engine, reason)

    def _open_local(self, entry: _Entry, backend: str) -> Optional[Engine]:
        """ONNX Runtime, a TensorRT plan file, or a cached plan; None when a build started."""
        sha = model_sha256(entry.path)
        entry.handle = SwappableEngine(entry.path, name=entry.name, sha256=sha)
        if backend == "onnxruntime":
            return open_onnxruntime(entry.path, entry.options, name=entry.name, sha256=sha)
        if model_kind(entry.path) != "onnx":
            return open_tensorrt_file(entry.path, name=entry.name, sha256=sha)
        engine = tensorrt_from_onnx(
            entry.path, entry.options, name=entry.name, sha256=sha, lookup_only=True
        )
        if engine is None:
            self._start_build(entry, sha)
        return engine

    def _warm_and_serve(self, entry: _Entry, engine: Engine, reason: str) -> None:
        """Warm ``engine`` up, route the model's calls to it, close what served before."""
        try:
            self._set(
                entry,
                ModelState.WARMING,
                f"warming up ({entry.options.warmup_iters} calls)",
                only_from=(ModelState.LOADING,),
            )
            engine.warmup(entry.options.warmup_iters, entry.options.warmup_shapes)
            if entry.cancelled.is_set():
                raise EngineClosedError(f"model {entry.name!r} was unloaded while loading")
            assert entry.handle is not None
            previous = entry.handle.serve(engine)
        except BaseException:
            engine.close()
            raise
        if previous is not None:
            previous.close()
        self._set(entry, ModelState.READY, reason)

    def _start_build(self, entry: _Entry, sha: str) -> None:
        """Serve ONNX Runtime (if allowed) and build the TensorRT plan in a thread."""
        self._set(entry, ModelState.WARMING, "building TensorRT plan")
        handle = entry.handle
        assert handle is not None
        if entry.options.fallback_while_building:
            self._serve_fallback(entry, handle, sha)
        handle.not_ready_reason = f"model {entry.name!r} is waiting for its TensorRT plan to build"
        entry.builder = threading.Thread(
            target=self._build, args=(entry, sha), name=f"build-{entry.name}", daemon=True
        )
        entry.builder.start()

    def _serve_fallback(self, entry: _Entry, handle: SwappableEngine, sha: str) -> None:
        """Serve the ONNX model on ONNX Runtime until the plan is ready; failing is not fatal."""
        fallback: Optional[Engine] = None
        try:
            fallback = open_onnxruntime(entry.path, entry.options, name=entry.name, sha256=sha)
            fallback.selection_reason = "ONNX Runtime serves while the TensorRT plan builds"
            fallback.warmup(entry.options.warmup_iters, entry.options.warmup_shapes)
            handle.serve(fallback)
        except EngineError as exc:
            log.warning("model %r: no ONNX Runtime fallback while building (%s)", entry.name, exc)
            if fallback is not None:
                fallback.close()

    def _build(self, entry: _Entry, sha: str) -> None:
        # runs on the build-<name> thread
        started = time.monotonic()
        try:
            engine = tensorrt_from_onnx(entry.path, entry.options, name=entry.name, sha256=sha)
            assert engine is not None
            log.info(
                "model %r: TensorRT plan ready after %.0f s", entry.name, time.monotonic() - started
            )
            engine.selection_reason = entry.selection
            self._warm_and_serve(entry, engine, entry.selection)
        except Exception as exc:
            if entry.cancelled.is_set():
                log.info("model %r: unloaded while its TensorRT plan was building", entry.name)
                return
            self._build_failed(entry, exc)

    def _build_failed(self, entry: _Entry, exc: Exception) -> None:
        handle = entry.handle
        serving = handle.target if handle is not None else None
        if serving is not None:
            reason = f"TensorRT build failed ({exc}); serving ONNX Runtime"
            log.warning("model %r: %s", entry.name, reason)
            self._set(entry, ModelState.READY, reason)
        else:
            log.error("model %r: TensorRT build failed: %s", entry.name, exc)
            if handle is not None:  # before the state change wakes anyone
                handle.not_ready_reason = f"model {entry.name!r} failed: {exc}"
            self._set(entry, ModelState.FAILED, f"TensorRT build failed: {exc}")

    # --- state -------------------------------------------------------------------

    def _set(self, entry: _Entry, state: ModelState, reason: str, only_from: tuple = ()) -> None:
        with self._lock:
            if only_from and entry.state not in only_from:
                return
            if entry.state is state and entry.reason == reason:
                return
            entry.state, entry.reason, entry.since = state, reason, time.monotonic()
        log.info("model %r: %s (%s)", entry.name, state.value, reason)
        try:
            entry.loop.call_soon_threadsafe(_notify, entry)
        except RuntimeError:  # loop closed: nobody is waiting any more
            pass

    def _entry(self, name: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(name)
        if entry is None:
            raise EngineNotReadyError(f"no model named {name!r} is loaded (loaded: {self.names()})")
        return entry

    def names(self) -> List[str]:
        """Names of all models, in load order."""
        with self._lock:
            return list(self._entries)

    def get(self, name: str) -> SwappableEngine:
        """The handle of model ``name`` (it raises ``EngineNotReadyError`` while nothing serves)."""
        entry = self._entry(name)
        if entry.handle is None:
            raise EngineNotReadyError(f"model {name!r} is {entry.state.value}: {entry.reason}")
        return entry.handle

    def state(self, name: str) -> ModelState:
        """Current state of model ``name``."""
        return self._entry(name).state

    def describe(self, name: str) -> Dict[str, Any]:
        """State, reason and the engine's ``describe()``: the status API's view of a model."""
        entry = self._entry(name)
        with self._lock:
            info: Dict[str, Any] = {
                "name": entry.name,
                "model": entry.path,
                "state": entry.state.value,
                "reason": entry.reason,
                "planned_backend": entry.backend,
                "selection": entry.selection,
                "state_age_s": round(time.monotonic() - entry.since, 3),
            }
        handle = entry.handle
        info["engine"] = handle.describe() if handle is not None and not handle.closed else None
        return info

    def list(self) -> List[Dict[str, Any]]:
        """``describe()`` of every model."""
        found = []
        for name in self.names():
            try:
                found.append(self.describe(name))
            except EngineNotReadyError:  # unloaded meanwhile
                continue
        return found

    async def wait_until(
        self, name: str, *states: ModelState, timeout_s: Optional[float] = None
    ) -> ModelState:
        """Wait until model ``name`` reaches one of ``states``; return the state reached."""
        entry = self._entry(name)
        wanted = states or (ModelState.READY, ModelState.FAILED)

        async def reached() -> ModelState:
            while entry.state not in wanted:
                await entry.changed.wait()
            return entry.state

        return await asyncio.wait_for(reached(), timeout_s)

    # --- unloading ---------------------------------------------------------------

    async def unload(self, name: str) -> None:
        """Stop serving model ``name`` and release it (a running build is abandoned)."""
        with self._lock:
            entry = self._entries.pop(name, None)
        if entry is None:
            raise EngineNotReadyError(f"no model named {name!r} is loaded")
        entry.cancelled.set()
        if entry.handle is not None:
            await asyncio.get_running_loop().run_in_executor(None, entry.handle.close)
        log.info("model %r unloaded", name)

    async def close(self) -> None:
        """Unload every model, newest first."""
        for name in reversed(self.names()):
            try:
                await self.unload(name)
            except EngineNotReadyError:
                continue


def _notify(entry: _Entry) -> None:
    # runs on the event loop: wake every waiter, then arm a fresh event
    event, entry.changed = entry.changed, asyncio.Event()
    event.set()
