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
    """A secret that was configured but cannot be used: unreadable, unset, or empty.

    ``field`` is the config field that names it (``password_file``), ``message``
    what is wrong and ``hint`` the fix; ``str()`` joins the three, so the config
    loader can place the field under its section and line.
    """

    def __init__(self, field: str, message: str, hint: str):
        super().__init__(f"{field}: {message}; {hint}")
        self.field = field
        self.message = message
        self.hint = hint


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
    """Return the secret's value, or None when none of the three ways is set.

    A secret that is set but empty is an error, not "no secret": an empty token
    file is a provisioning step that went wrong, and a server or a login with an
    empty secret would be open or refused without saying why.
    """
    if inline is not None:
        return _not_empty(name, inline.get_secret_value(), "it", "set it or remove the field")
    if file:
        value = _read_secret_file(name, file)
        return _not_empty(f"{name}_file", value, repr(file), "write the secret into the file")
    if env:
        value = os.environ.get(env)
        if value is None:
            raise SecretError(
                f"{name}_env",
                f"environment variable {env!r} is not set",
                f"set it (e.g. in the systemd unit's EnvironmentFile) or use {name}_file",
            )
        return _not_empty(f"{name}_env", value, f"environment variable {env!r}", "give it a value")
    return None


def _not_empty(field: str, value: str, what: str, hint: str) -> str:
    if not value.strip():
        raise SecretError(field, f"{what} is empty", hint)
    return value


def _read_secret_file(name: str, file: str) -> str:
    """The file's text, stripped; a FIFO, a huge file or non-UTF-8 bytes are a SecretError."""
    try:
        return read_text_file(file, MAX_SECRET_BYTES).strip()
    except OSError as exc:
        raise SecretError(
            f"{name}_file",
            f"cannot read {file!r} ({exc.strerror})",
            "check the path and that the edged user may read it",
        ) from None
    except TextFileError as exc:
        raise SecretError(f"{name}_file", f"cannot use {file!r}: {exc.message}", exc.hint) from None
