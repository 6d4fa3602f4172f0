"""Reading trt_pose checkpoints, and saying precisely why one does not fit.

The official release files are plain ``state_dict``s written by ``torch.save``.
People routinely point tools at the wrong file: the other architecture, the
``*_trt.pth`` engine that torch2trt writes next to it, or the HTML page Google
Drive serves instead of a large download. Each of these gets its own message,
because "Error(s) in loading state_dict" with 900 key names helps nobody.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .models import ARCHITECTURES, arch_spec, build_model, require_torch

__all__ = [
    "CheckpointError",
    "TorchTrtEngineError",
    "check_state_dict",
    "load_pose_model",
    "read_state_dict",
    "shapes_of",
]

log = logging.getLogger(__name__)

PathLike = Union[str, Path]
Shape = Tuple[int, ...]

#: how many key names an error message lists before "(+N more)"
LIST_LIMIT = 5
#: wrappers training scripts put around a state_dict
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")


class CheckpointError(ValueError):
    """A file is missing, is not a checkpoint, or does not fit the architecture."""


class TorchTrtEngineError(CheckpointError):
    """The file is a torch2trt TensorRT engine, not trainable weights."""


def read_state_dict(path: PathLike) -> Mapping[str, Any]:
    """Load a checkpoint file as ``{key: tensor}`` on the CPU, without running pickled code.

    The mapping is returned as loaded (an OrderedDict keeps its ``_metadata``,
    which ``load_state_dict`` consults for per-module format versions).
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise CheckpointError(f"checkpoint {path} {what}")
    obj = _torch_load(path)
    state = _unwrap(obj, path)
    if _is_torch2trt(state):
        raise TorchTrtEngineError(_engine_message(path))
    return state


def _is_torch2trt(state: Mapping[str, Any]) -> bool:
    return "engine" in state and ("input_names" in state or "output_names" in state)


def _torch_load(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True`` where this torch has it (1.13+)."""
    torch = require_torch("reading a PyTorch checkpoint")
    kwargs: Dict[str, Any] = {"map_location": "cpu"}
    if "weights_only" in inspect.signature(torch.load).parameters:
        kwargs["weights_only"] = True
    else:
        log.warning("torch %s cannot load weights-only; unpickling %s", torch.__version__, path)
    try:
        return torch.load(str(path), **kwargs)
    except Exception as exc:
        raise CheckpointError(_unreadable_message(path, exc)) from exc


def _unreadable_message(path: Path, exc: BaseException) -> str:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    message = f"{path} is not a PyTorch checkpoint edged can read ({first_line})"
    hint = _sniff_hint(path)
    if hint is None and "weights only" in str(exc).lower():
        hint = (
            "edged loads checkpoints with weights_only=True and never runs pickled code; "
            "trt_pose's release files are plain state_dicts and load that way. A file that "
            "pickles whole objects must be re-saved as model.state_dict() first"
        )
    return f"{message}\nhint: {hint}" if hint else message


def _sniff_hint(path: Path) -> Optional[str]:
    """Guess from the name and first bytes what the file is instead."""
    if path.name.endswith("_trt.pth"):
        return (
            "a *_trt.pth file is usually a TensorRT engine saved by torch2trt, not a "
            "checkpoint: export ONNX from the original *_epoch_*.pth checkpoint instead"
        )
    with path.open("rb") as f:
        head = f.read(64).lstrip()
    if head[:1] == b"<":
        return (
            "the file is an HTML/XML page; Google Drive serves a confirmation page instead "
            "of large files to scripts: download it in a browser (or with gdown)"
        )
    if path.suffix == ".onnx" or head[:1] == b"\x08":
        return "this looks like an ONNX model, which is already exported: use it as the model"
    if not head:
        return "the file is empty (an interrupted download?)"
    return None


def _engine_message(path: Path) -> str:
    return (
        f"{path} is a TensorRT engine saved by torch2trt (keys engine, input_names, "
        "output_names), not a checkpoint: use it with backend tensorrt on the device it "
        "was built for, or export ONNX from the original *_epoch_*.pth checkpoint"
    )


def _unwrap(obj: Any, path: Path) -> Mapping[str, Any]:
    """Accept a bare state_dict, or one wrapped under ``state_dict``/``model`` by a trainer."""
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(k, str) for k in inner):
                return inner
        if all(isinstance(k, str) for k in obj):
            return obj
    raise CheckpointError(
        f"{path} holds a {type(obj).__name__}, not a state_dict (a mapping of names to tensors)"
    )


def shapes_of(state: Mapping[str, Any]) -> Dict[str, Shape]:
    """Key → shape; non-tensor values get the shape ``()`` (they will not match anyway)."""
    return {k: tuple(getattr(v, "shape", ())) for k, v in state.items()}


def check_state_dict(
    found: Mapping[str, Shape], expected: Mapping[str, Shape], arch: str, source: str
) -> None:
    """Raise :class:`CheckpointError` unless ``found`` has exactly the expected keys and shapes.

    Works on shapes only (no torch), so the message logic is testable anywhere.
    """
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong = [k for k in expected if k in found and tuple(found[k]) != tuple(expected[k])]
    if not (missing or unexpected or wrong):
        return
    lines = [f"checkpoint {source} does not fit {arch}:"]
    if missing:
        lines.append(f"  missing keys ({len(missing)} of {len(expected)}): {_first(missing)}")
    if unexpected:
        lines.append(f"  unexpected keys ({len(unexpected)}): {_first(unexpected)}")
    if wrong:
        shown = [f"{k} {tuple(found[k])} != model {tuple(expected[k])}" for k in wrong]
        lines.append(f"  shape mismatches ({len(wrong)}): {_first(shown)}")
    lines += [f"hint: {h}" for h in _mismatch_hints(found, expected, arch)]
    raise CheckpointError("\n".join(lines))


def _first(items: Sequence[str]) -> str:
    shown = ", ".join(items[:LIST_LIMIT])
    rest = len(items) - LIST_LIMIT
    return f"{shown} (+{rest} more)" if rest > 0 else shown


def _mismatch_hints(
    found: Mapping[str, Shape], expected: Mapping[str, Shape], arch: str
) -> List[str]:
    hints = []
    for other in ARCHITECTURES.values():
        if other.name != arch and any(k.startswith(other.backbone_prefix) for k in found):
            hints.append(
                f"the keys look like a {other.name} checkpoint ({other.backbone_prefix}*): "
                f"try --arch {other.name}"
            )
    if found and all(k.startswith("module.") for k in found):
        hints.append("every key starts with 'module.' (saved from DataParallel): strip that prefix")
    channels = _head_channels(found)
    if channels and channels != _head_channels(expected):
        hints.append(
            f"the checkpoint predicts {channels[0]} cmap and {channels[1]} paf channels: "
            f"if that is intended (another task), pass --cmap-channels {channels[0]} "
            f"--paf-channels {channels[1]}"
        )
    return hints


def _head_channels(shapes: Mapping[str, Shape]) -> Optional[Tuple[int, int]]:
    cmap, paf = shapes.get("1.cmap_conv.weight"), shapes.get("1.paf_conv.weight")
    if cmap and paf:
        return cmap[0], paf[0]
    return None


def load_pose_model(arch: str, checkpoint: PathLike, **model_kwargs: Any) -> Any:
    """Build ``arch`` and load ``checkpoint`` into it with strict=True; returns it in eval mode."""
    arch_spec(arch)
    state = read_state_dict(checkpoint)
    model = build_model(arch, **model_kwargs)
    check_state_dict(shapes_of(state), shapes_of(model.state_dict()), arch, str(checkpoint))
    model.load_state_dict(state, strict=True)
    return model.eval()
