"""Secrets that may come inline, from a file, or from an environment variable.

A password in a world-readable YAML file is a liability, so every secret field
``x`` has two siblings, ``x_file`` and ``x_env``. Resolution is lazy (at use,
not at import or load), so loading a config never reads the environment.
"""

from __future__ import annotations

import os
from typing import Optional

from pydantic import SecretStr

from edged.config.textfile import TextFileError, read_text_file

__all__ = ["MAX_SECRET_BYTES", "SecretError", "check_one_secret_source", "resolve_secret"]

#: A password or token is short; a larger file is the wrong file.
MAX_SECRET_BYTES = 64 * 1024


class SecretError(ValueError):
    """A secret that was configured but cannot be read."""


def check_one_secret_source(
    name: str, inline: Optional[SecretStr], file: Optional[str], env: Optional[str]
) -> None:
    """Refuse a secret given two ways: which one wins would be a guess."""
    given = [n for n, v in ((name, inline), (f"{name}_file", file), (f"{name}_env", env)) if v]
    if len(given) > 1:
        raise ValueError(f"{' and '.join(given)} are all set; keep exactly one of them")


def resolve_secret(
    name: str, inline: Optional[SecretStr], file: Optional[str], env: Optional[str]
) -> Optional[str]:
    """Return the secret's value, or None when none of the three ways is set."""
    if inline is not None:
        return inline.get_secret_value()
    if file:
        return _read_secret_file(name, file)
    if env:
        value = os.environ.get(env)
        if value is None:
            raise SecretError(
                f"{name}_env: environment variable {env!r} is not set; "
                "set it (e.g. in the systemd unit's EnvironmentFile) or use "
                f"{name}_file"
            )
        return value
    return None


def _read_secret_file(name: str, file: str) -> str:
    """The file's text, stripped; a FIFO, a huge file or non-UTF-8 bytes are a SecretError."""
    try:
        return read_text_file(file, MAX_SECRET_BYTES).strip()
    except OSError as exc:
        raise SecretError(
            f"{name}_file: cannot read {file!r} ({exc.strerror}); "
            "check the path and that the edged user may read it"
        ) from None
    except TextFileError as exc:
        raise SecretError(f"{name}_file: cannot use {file!r}: {exc.message}; {exc.hint}") from None
