"""Where a TensorRT plan for an ONNX model comes from: the cache, or the builder.

Shared by the ``build-engine`` command, the engine factory and the model
manager, so all three agree on the cache key and never build the same plan
twice at once: an in-process lock per key plus a file lock for other
processes (e.g. ``edged build-engine`` run while the daemon is up).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Union

from .build import BuildOptions, build_plan
from .cache import PlanCache, PlanKey, default_cache_dir
from .digest import file_sha256
from .probe import gpu_info, import_pycuda, import_tensorrt, l4t_release

__all__ = ["PlanResult", "cache_for", "ensure_plan", "invalidate", "model_stem", "plan_key"]

log = logging.getLogger(__name__)

_key_locks: Dict[str, threading.Lock] = {}
_key_locks_guard = threading.Lock()


@dataclass(frozen=True)
class PlanResult:
    """A plan ready to deserialise, where it lives, and whether it was just built."""

    plan: bytes
    path: Path
    key: PlanKey
    built: bool


def cache_for(cache_dir: Optional[str]) -> PlanCache:
    """The configured cache directory, or the default one."""
    return PlanCache(Path(cache_dir) if cache_dir else default_cache_dir())


def plan_key(model_sha256: str, options: BuildOptions, device: int = 0) -> PlanKey:
    """The cache key for building ``model_sha256`` with ``options`` on this machine."""
    trt = import_tensorrt()
    gpu = gpu_info(import_pycuda(), device)
    return PlanKey(
        model_sha256=model_sha256,
        tensorrt=str(trt.__version__),
        gpu=gpu.name,
        compute_capability=gpu.sm,
        l4t=l4t_release(),
        flags=options.cache_flags(),
    )


def model_stem(onnx_path: Union[str, Path]) -> str:
    """Readable part of a cached plan's file name."""
    return Path(onnx_path).name.split(".")[0] or "model"


def ensure_plan(
    onnx_path: Union[str, Path],
    options: BuildOptions,
    *,
    cache: Optional[PlanCache] = None,
    sha256: Optional[str] = None,
    rebuild: bool = False,
    builder: Callable[[Union[str, Path], BuildOptions], bytes] = build_plan,
    lookup_only: bool = False,
) -> Optional[PlanResult]:
    """Return the cached plan for ``onnx_path``, building and caching it if needed.

    ``lookup_only`` returns None instead of building (the model manager uses
    it to decide between loading now and building in the background);
    ``rebuild`` ignores a cached plan (after it failed to deserialise).
    """
    cache = cache or cache_for(None)
    key = plan_key(sha256 or file_sha256(onnx_path), options)
    stem = model_stem(onnx_path)
    path = cache.plan_path(key, stem)
    if lookup_only:
        data = cache.load(key, stem)
        return PlanResult(data, path, key, False) if data is not None else None
    with _lock_for(key.digest()), cache.locked(key, stem):
        data = None if rebuild else cache.load(key, stem)
        if data is not None:
            log.info("using cached TensorRT plan %s", path)
            return PlanResult(data, path, key, False)
        log.info("building TensorRT plan for %s (this takes minutes on a Jetson)", onnx_path)
        data = builder(onnx_path, options)
        return PlanResult(data, cache.store(key, stem, data), key, True)


def invalidate(
    result: PlanResult, onnx_path: Union[str, Path], cache: PlanCache, reason: str
) -> None:
    """Drop a cached plan that TensorRT refused."""
    cache.invalidate(result.key, model_stem(onnx_path), reason)


def _lock_for(digest: str) -> threading.Lock:
    with _key_locks_guard:
        return _key_locks.setdefault(digest, threading.Lock())
