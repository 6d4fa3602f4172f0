"""The base model every config section inherits from.

Unknown keys are errors (``extra="forbid"``): a misspelt key must not be ignored
silently on a device that runs for months. Numbers must be finite: YAML's
``.nan`` and ``.inf`` are never a meaningful setting, and a NaN slips past
every comparison a validator makes by hand. Config modules import only pydantic
and the standard library, so ``edged check`` runs on any laptop.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["MIN_FPS", "EdgedModel"]

#: The lowest frame rate anywhere in a config: one frame a day. Lower rates are
#: not physical, and 1/rate seconds would overflow the waits that pace frames.
MIN_FPS = 1.0 / 86400


class EdgedModel(BaseModel):
    """Base of all config models: strict about keys and numbers, frozen once validated."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )
