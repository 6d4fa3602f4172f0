"""Secrets that may come inline, from a file, or from an environment variable.

A password in a world-readable YAML file is a liability, so every secret field
``x`` has two siblings, ``x_file`` and ``x_env``. Resolution is lazy (at use,
not at import or load), so loading a config never reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from pydantic import SecretStr

__all__ = ["SecretError", "check_one_secret_source", "resolve_secret"]


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
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(
                f"{name}_file: cannot read {file!r} ({exc.strerror}); "
                "check the path and that the edged user may read it"
            ) from None
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
