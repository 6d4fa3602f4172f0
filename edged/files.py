"""Small file-system helpers shared by the parts that write files other parts read."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Optional, Union

__all__ = ["atomic_write", "file_sha256", "fsync_dir"]

_CHUNK = 1 << 20


def file_sha256(path: Union[str, os.PathLike]) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks to bound memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(
    path: Union[str, Path],
    data: bytes,
    *,
    mode: Optional[int] = None,
    backup: Optional[Union[str, Path]] = None,
    make_parents: bool = True,
) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one.

    The data goes to a temporary file in the same directory, named by
    ``mkstemp`` (so no two writers, threads or processes, ever share one), is
    fsynced, given ``mode`` (default: what ``open`` gives a new file, 0o666
    less the umask) and renamed over ``path``. With ``backup``, the old file
    (if there is one) is first copied there the same way, keeping its mode.
    The new file keeps the old one's owner and group where the process may set them.
    Any failure removes the temporary files and leaves ``path`` as it was.
    ``make_parents`` creates missing directories first.
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_copy(path, data, 0o666 & ~_umask() if mode is None else mode)
    try:
        _keep_owner(tmp, path)
        if backup is not None and path.exists():
            backup = Path(backup)
            old_mode = os.stat(path).st_mode & 0o7777
            old = _temporary_copy(backup, path.read_bytes(), old_mode)
            _replace(old, backup)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    fsync_dir(path.parent)


def _temporary_copy(path: Path, data: bytes, mode: int) -> str:
    """A new temporary file beside ``path`` holding ``data``, on disk, with ``mode``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _keep_owner(tmp: str, path: Path) -> None:
    """Give the new file the old one's owner and group, where this process may (a daemon
    running as root must not turn an administrator's config file into root's)."""
    try:
        old = os.stat(path)
    except FileNotFoundError:
        return
    new = os.stat(tmp)
    if (old.st_uid, old.st_gid) != (new.st_uid, new.st_gid):
        with contextlib.suppress(PermissionError):
            os.chown(tmp, old.st_uid, old.st_gid)


def _replace(tmp: str, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not atomic across threads)
    os.umask(mask)
    return mask


def fsync_dir(directory: Path) -> None:
    """Persist the rename itself (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(str(directory), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
