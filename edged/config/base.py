"""The base model every config section inherits from.

Unknown keys are errors (``extra="forbid"``): a misspelt key must not be ignored
silently on a device that runs for months. Numbers must be finite: YAML's
``.nan`` and ``.inf`` are never a meaningful setting, and a NaN slips past
every comparison a validator makes by hand. Config modules import only pydantic
and the standard library, so ``edged check`` runs on any laptop.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["MIN_FPS", "EdgedModel", "word_for_bool"]

#: The lowest frame rate anywhere in a config: one frame a day. Lower rates are
#: not physical, and 1/rate seconds would overflow the waits that pace frames.
MIN_FPS = 1.0 / 86400


class EdgedModel(BaseModel):
    """Base of all config models: strict about keys and numbers, frozen once validated."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )


def word_for_bool(value: Any, true: str = "on", false: str = "off") -> Any:
    """A boolean back as the word it was written as, for a ``Literal`` of words.

    The config file is read as YAML 1.1, where a hand-written ``on``, ``off``,
    ``yes`` or ``no`` is a boolean: a field that takes ``"on"``/``"off"`` maps
    it back in a ``mode="before"`` validator. Anything else passes unchanged.
    """
    if value is True:
        return true
    if value is False:
        return false
    return value
