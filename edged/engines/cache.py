"""The plan cache: TensorRT plans built from ONNX models, reused across restarts.

A plan is only valid for the exact TensorRT version and GPU it was built on,
and building one takes minutes on a Jetson, so plans are cached under a key
of everything that changes the result: the ONNX model's sha256, the TensorRT
version, GPU name and compute capability, the L4T release when there is one,
and the build flags. Change any of them and a new plan is built; the old one
stays until someone clears the cache (plans are tens of MB; edged does not
guess which are unused).

Writes are atomic (temporary file, fsync, rename, fsync of the directory): a
power cut while writing leaves the previous state, never half a plan with the
final name. A sidecar ``.json`` records the key and the plan's own sha256, so
a plan damaged on disk is detected, logged and rebuilt rather than loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Union

from edged.files import atomic_write

try:  # POSIX only; on other systems the in-process lock still applies
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_CACHE_DIR",
    "PlanCache",
    "PlanKey",
    "atomic_write",
    "default_cache_dir",
]

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = "/var/cache/edged/engines"


@dataclass(frozen=True)
class PlanKey:
    """Everything a built plan depends on."""

    model_sha256: str
    tensorrt: str
    gpu: str
    compute_capability: str
    l4t: Optional[str]
    flags: Dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        """Stable hex digest of the key (JSON with sorted keys)."""
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_cache_dir(
    system_dir: Optional[Union[str, Path]] = None, environ: Optional[Dict[str, str]] = None
) -> Path:
    """``/var/cache/edged/engines`` when writable, else the user's cache directory.

    The system directory is what the systemd unit's ``CacheDirectory=`` gives
    the daemon; a developer running edged by hand falls back to
    ``$XDG_CACHE_HOME/edged/engines`` or ``~/.cache/edged/engines``.
    """
    env = os.environ if environ is None else environ
    candidate = Path(system_dir if system_dir is not None else DEFAULT_CACHE_DIR)
    if _writable_dir(candidate):
        return candidate
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path(env.get("HOME") or Path.home()) / ".cache"
    return base / "edged" / "engines"


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(str(path), os.W_OK | os.X_OK)


class PlanCache:
    """Plans on disk under ``root``, named ``<model>-<key digest[:16]>.plan``."""

    def __init__(self, root: Union[str, Path]) -> None:
        self.root = Path(root)

    def plan_path(self, key: PlanKey, model_name: str) -> Path:
        return self.root / (f"{model_name}-{key.digest()[:16]}.plan")

    def load(self, key: PlanKey, model_name: str) -> Optional[bytes]:
        """The cached plan for ``key``, or None when absent or damaged (then removed)."""
        path = self.plan_path(key, model_name)
        meta_path = path.with_suffix(".json")
        if not path.exists():
            return None
        try:
            data = path.read_bytes()
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self.invalidate(key, model_name, f"unreadable ({exc})")
            return None
        if (
            meta.get("plan_sha256") != hashlib.sha256(data).hexdigest()
            or meta.get("key") != key.digest()
        ):
            self.invalidate(key, model_name, "its checksum does not match (damaged on disk)")
            return None
        return data

    def store(self, key: PlanKey, model_name: str, plan: bytes) -> Path:
        """Write ``plan`` and its sidecar atomically; return the plan's path."""
        path = self.plan_path(key, model_name)
        meta = {
            "key": key.digest(),
            "plan_sha256": hashlib.sha256(plan).hexdigest(),
            "plan_bytes": len(plan),
            **asdict(key),
        }
        atomic_write(path, bytes(plan))
        atomic_write(path.with_suffix(".json"), json.dumps(meta, indent=2, sort_keys=True).encode())
        log.info("cached TensorRT plan %s (%.1f MiB)", path, len(plan) / 2**20)
        return path

    def invalidate(self, key: PlanKey, model_name: str, reason: str) -> None:
        """Remove a bad cached plan, with a warning saying why; it will be rebuilt."""
        path = self.plan_path(key, model_name)
        log.warning("cached TensorRT plan %s is %s; removing it and rebuilding", path, reason)
        for victim in (path, path.with_suffix(".json")):
            with contextlib.suppress(FileNotFoundError):
                victim.unlink()

    @contextlib.contextmanager
    def locked(self, key: PlanKey, model_name: str) -> Iterator[None]:
        """Hold an exclusive file lock for ``key`` so two processes never build it twice."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock_path = self.plan_path(key, model_name).with_suffix(".lock")
        with open(lock_path, "a+b") as fh:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
