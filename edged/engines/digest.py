"""File digests: the identity of a model file.

The status API shows a sha256 prefix so an operator can tell which weights a
device runs, and the plan cache keys TensorRT plans by the model's digest.
Hashing happens once, when a model is loaded, never on the event loop.
"""

from __future__ import annotations

import os
from typing import Union

from edged.files import file_sha256

from .errors import ModelLoadError

__all__ = ["file_sha256", "model_sha256"]


def model_sha256(path: Union[str, os.PathLike]) -> str:
    """``file_sha256`` of a model; a missing or unreadable file is a ``ModelLoadError``."""
    shown = os.fspath(path)
    try:
        return file_sha256(path)
    except FileNotFoundError:
        raise ModelLoadError(
            f"model file {shown} does not exist; check the pipeline's 'model' path"
        ) from None
    except IsADirectoryError:
        raise ModelLoadError(f"model path {shown} is a directory, not a model file") from None
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {shown}: {exc}") from exc
