"""Read engines saved by torch2trt (``*_trt.pth``), as trt_pose's live demo makes them.

trt_pose users already have ``resnet18_baseline_att_224x224_A_epoch_249_trt.pth``
files: ``torch.save(model_trt.state_dict(), ...)`` of a torch2trt ``TRTModule``.
Its ``_on_state_dict`` hook stores, under the module's prefix:

* ``engine``: the serialised TensorRT engine, a ``bytearray``;
* ``input_names`` / ``output_names``: lists giving the positional order;
* newer torch2trt also ``input_flattener`` / ``output_flattener`` (ignored here).

``TRTModule._load_from_state_dict`` reads ``state_dict[prefix + "engine"]`` and
so on; the top-level save has an empty prefix, a wrapped module e.g.
``"module."``. torch is imported lazily and only for this; nothing but the
three keys is used, so no torch2trt install is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping

from .errors import BackendUnavailableError, ModelLoadError

__all__ = ["Torch2TrtFile", "is_torch2trt_path", "load_torch2trt"]

_SUFFIXES = ("_trt.pth", "_trt.pt")


@dataclass(frozen=True)
class Torch2TrtFile:
    """What edged needs from a torch2trt file."""

    plan: bytes
    input_names: List[str]
    output_names: List[str]
    prefix: str


def is_torch2trt_path(path: str) -> bool:
    """torch2trt's naming convention (``*_trt.pth``), which is how users know them."""
    return path.lower().endswith(_SUFFIXES)


def load_torch2trt(path: str) -> Torch2TrtFile:
    """Load the engine bytes and tensor names from a torch2trt state-dict file."""
    state = _torch_load(path)
    if not isinstance(state, Mapping):
        raise ModelLoadError(
            f"{path} holds a {type(state).__name__}, not a torch2trt state dict; save it with "
            "torch.save(model_trt.state_dict(), path)"
        )
    prefix = _find_prefix(path, state)
    plan = state[prefix + "engine"]
    if isinstance(plan, (bytes, bytearray, memoryview)):
        plan = bytes(plan)
    else:
        raise ModelLoadError(
            "{}: key {!r} holds a {}, expected the engine's bytes".format(
                path, prefix + "engine", type(plan).__name__
            )
        )
    return Torch2TrtFile(
        plan,
        _names(path, state, prefix + "input_names"),
        _names(path, state, prefix + "output_names"),
        prefix,
    )


def _torch_load(path: str) -> Any:
    try:
        import torch
    except ImportError:
        raise BackendUnavailableError(
            f"{path} is a torch2trt file and reading it needs PyTorch (not installed); install the "
            "torch wheel for your JetPack, or build a plan from the ONNX model with "
            "edged build-engine"
        ) from None
    try:
        try:
            # A plan plus two lists of strings: the safe loader suffices and
            # refuses pickled code in a file downloaded from somewhere.
            return torch.load(path, map_location="cpu", weights_only=True)
        except TypeError:  # torch < 1.13 has no weights_only
            return torch.load(path, map_location="cpu")
    except FileNotFoundError:
        raise ModelLoadError(f"model file {path} does not exist") from None
    except Exception as exc:
        raise ModelLoadError(
            f"cannot read torch2trt file {path}: {type(exc).__name__}: {_first_line(exc)}; "
            "the file is truncated or not a torch save"
        ) from exc


def _find_prefix(path: str, state: Mapping[str, Any]) -> str:
    """The module prefix under which the three torch2trt keys live."""
    candidates = [
        key[: -len("engine")]
        for key in state
        if isinstance(key, str)
        and key.endswith("engine")
        and key[: -len("engine")] + "input_names" in state
        and key[: -len("engine")] + "output_names" in state
    ]
    if "" in candidates:
        return ""
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ModelLoadError(
            f"{path} is not a torch2trt engine file: no 'engine', 'input_names' and 'output_names' "
            f"keys (found {sorted(map(str, state))[:8]})"
        )
    raise ModelLoadError(
        f"{path} holds several torch2trt engines (prefixes {sorted(candidates)}); "
        "save the one to serve on its own"
    )


def _names(path: str, state: Mapping[str, Any], key: str) -> List[str]:
    value = state[key]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ModelLoadError(f"{path}: {key!r} should be a list of tensor names, got {value!r}")
    return list(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
