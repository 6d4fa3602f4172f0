"""Read the small text files a config consists of: the YAML file and secret files.

``Path.read_text`` trusts the path: a FIFO blocks for ever, ``/dev/zero`` never
ends, a 4 GB log file given by mistake fills memory, and bytes that are not
UTF-8 raise a ``UnicodeDecodeError`` that ends as a traceback. Here each of
these becomes a ``TextFileError`` that says what the file is and what to do.
"""

from __future__ import annotations

import codecs
import os
import stat
from typing import Optional, Union

__all__ = ["TextFileError", "read_text_file"]

_CHUNK = 64 * 1024

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class TextFileError(ValueError):
    """A file that cannot be used as text: ``str()`` says why, ``hint`` what to do."""

    def __init__(self, message: str, hint: str, line: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.line = line


def read_text_file(path: Union[str, os.PathLike], max_bytes: int) -> str:
    """The file's text; raises OSError (cannot open) or TextFileError (not usable text)."""
    # O_NONBLOCK: opening a FIFO that has no writer would otherwise wait for one.
    fd = os.open(os.fspath(path), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        _check_regular(os.fstat(fd).st_mode)
        data = _read_at_most(fd, max_bytes)
    finally:
        os.close(fd)
    return decode_text(data)


def _check_regular(mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise TextFileError(f"it is {kind}, not a regular file", "give the path of the file itself")


def _read_at_most(fd: int, max_bytes: int) -> bytes:
    """Read to the end, refusing more than ``max_bytes`` (also if the file grows meanwhile)."""
    chunks = []
    size = 0
    while True:
        chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise TextFileError(
                f"it is larger than {max_bytes} bytes, the most that is read",
                "check the path: this file should be a few kilobytes",
            )


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark); anything else is a TextFileError."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise TextFileError("it is UTF-16 text", "save it as UTF-8", 1)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TextFileError(
            f"it is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})",
            "save it as UTF-8",
            line,
        ) from None
