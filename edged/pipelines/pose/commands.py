"""CLI hooks: ``edged export pose`` (checkpoint to ONNX) and ``edged weights`` (what to fetch).

``register(subparsers)`` adds both commands; each parser sets ``func`` to a
callable ``(args) -> int`` exit code. Nothing here imports torch or onnx until
a command runs, so ``edged --help`` stays fast and works without them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from edged.export_command import export_kinds

from .export import INPUT_FORMATS
from .models import ARCHITECTURES, DEFAULT_CMAP_CHANNELS, DEFAULT_PAF_CHANNELS

__all__ = [
    "default_onnx_path",
    "find_manifest",
    "load_manifest",
    "parse_input_size",
    "register",
    "register_pose_export",
]

MANIFEST_NAME = "manifest.json"
#: used when neither --manifest nor ./weights/manifest.json is there: a source checkout
CHECKOUT_MANIFEST = Path(__file__).resolve().parents[3] / "weights" / MANIFEST_NAME


def register(subparsers: Any) -> None:
    """Add ``export pose`` and ``weights`` to the top-level parser."""
    register_pose_export(export_kinds(subparsers))
    _register_weights(subparsers)


def register_pose_export(kinds: Any) -> None:
    """Add ``pose`` under an existing ``export`` parser (other kinds can sit beside it)."""
    p = kinds.add_parser(
        "pose",
        help="export a trt_pose checkpoint (.pth) to ONNX",
        description=(
            "Load a trt_pose checkpoint strictly and write ONNX with input 'input' "
            "(float32 [1,3,H,W], normalised RGB) and outputs 'cmap', 'paf'. Needs torch."
        ),
    )
    p.add_argument("--arch", required=True, choices=sorted(ARCHITECTURES), help="architecture")
    p.add_argument("--checkpoint", required=True, type=Path, help="trt_pose .pth state_dict")
    p.add_argument(
        "--out",
        type=Path,
        help="ONNX file to write (default: the checkpoint's name without _epoch_N, .onnx)",
    )
    p.add_argument(
        "--input-size",
        type=parse_input_size,
        metavar="N|HxW",
        help="input side(s), multiples of 32 (default: the size the checkpoint was trained at)",
    )
    p.add_argument(
        "--fp16", action="store_true", help="store float16 weights; inputs/outputs stay float32"
    )
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: 13)")
    p.add_argument("--cmap-channels", type=int, default=DEFAULT_CMAP_CHANNELS)
    p.add_argument("--paf-channels", type=int, default=DEFAULT_PAF_CHANNELS)
    p.add_argument(
        "--dynamic-batch", action="store_true", help="make the batch axis symbolic ('batch')"
    )
    p.add_argument(
        "--input-format",
        choices=sorted(INPUT_FORMATS),
        default="rgb-float",
        help="rgb-float (default): float32 [1,3,H,W], normalised RGB, as trt_pose; bgr-uint8: "
        "the resized frame as OpenCV holds it (uint8 [1,H,W,3], BGR), normalised inside the "
        "graph, so the GPU does it and the CPU only resizes (TensorRT 8.5 or newer)",
    )
    p.set_defaults(func=run_export_pose)


def _register_weights(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "weights",
        help="list known model files and how to fetch and convert them",
        description="List the weights manifest: where each file comes from, whether it is "
        "here, and the command that converts it.",
    )
    p.add_argument(
        "--manifest", type=Path, help="manifest to read (default: weights/manifest.json)"
    )
    p.set_defaults(func=run_weights)


def parse_input_size(text: str) -> Union[int, Tuple[int, int]]:
    """``"224"`` → 224, ``"256x320"`` → (256, 320) (height x width)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected N or HxW, e.g. 224 or 256x320, got {text!r}")
    height, width = match.groups()
    return int(height) if width is None else (int(height), int(width))


def default_onnx_path(checkpoint: Path) -> Path:
    """``x_224x224_A_epoch_249.pth`` → ``x_224x224_A.onnx``, beside the checkpoint."""
    stem = re.sub(r"_epoch_\d+$", "", checkpoint.stem)
    return checkpoint.with_name(stem + ".onnx")


def run_export_pose(args: argparse.Namespace) -> int:
    """``edged export pose``: 0 when the ONNX file was written, 1 with a message otherwise."""
    from .checkpoints import CheckpointError
    from .export import DEFAULT_OPSET, ExportError, export_pose_onnx
    from .models import TorchNotInstalledError

    out = args.out or default_onnx_path(args.checkpoint)
    try:
        result = export_pose_onnx(
            args.arch,
            args.checkpoint,
            out,
            input_size=args.input_size,
            fp16=args.fp16,
            opset=args.opset or DEFAULT_OPSET,
            cmap_channels=args.cmap_channels,
            paf_channels=args.paf_channels,
            dynamic_batch=args.dynamic_batch,
            input_format=args.input_format,
        )
    except (CheckpointError, ExportError, TorchNotInstalledError, ValueError, OSError) as exc:
        print(f"edged export pose: error: {exc}", file=sys.stderr)
        return 1
    shapes = ", ".join(f"{name} {list(shape)}" for name, shape in result.output_shapes.items())
    print(f"wrote {result.path} (sha256 {result.sha256})")
    print(f"  input {list(result.input_shape)} -> {shapes}")
    print(f"  opset {result.opset}, weights {'float16' if result.fp16 else 'float32'}")
    return 0


def find_manifest(explicit: Optional[Path] = None) -> Path:
    """The manifest to read: ``explicit``, else ./weights/, else the source checkout's."""
    if explicit is not None:
        return explicit
    local = Path("weights") / MANIFEST_NAME
    return local if local.is_file() else CHECKOUT_MANIFEST


def load_manifest(path: Path) -> List[Dict[str, Any]]:
    """The manifest's model entries; ValueError naming the file when it is not usable."""
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise ValueError(f"cannot read weights manifest {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
        raise ValueError(f"{path}: expected an object with a 'models' list of objects")
    return models


def run_weights(args: argparse.Namespace) -> int:
    """``edged weights``: 1 when the manifest is unusable or a file fails its sha256."""
    path = find_manifest(args.manifest)
    try:
        models = load_manifest(path)
    except ValueError as exc:
        print(f"edged weights: error: {exc}", file=sys.stderr)
        return 1
    print(f"weights manifest: {path}")
    ok = True
    for entry in models:
        lines, entry_ok = _describe(entry, path.parent)
        print("\n".join(lines))
        ok = ok and entry_ok
    return 0 if ok else 1


def _describe(entry: Dict[str, Any], directory: Path) -> Tuple[List[str], bool]:
    """A few lines per model: what it is, whether it is here, how to get and convert it."""
    name = str(entry.get("file", "?"))
    facts = [entry.get(k) for k in ("origin", "task", "arch", "size_published")]
    lines = ["", f"{name}  ({', '.join(str(f) for f in facts if f)})"]
    status, ok = _file_status(directory / name, entry.get("sha256"))
    lines.append(f"  here:    {status}")
    if entry.get("url"):
        lines.append(f"  source:  {entry['url']}  (see {entry.get('page', 'the publisher')})")
    for key in ("fetch", "convert", "reproduce"):
        if entry.get(key):
            lines.append(f"  {key + ':':<8} {entry[key]}")
    if entry.get("produces"):
        made = directory / str(entry["produces"])
        lines.append(f"  gives:   {made} ({'present' if made.is_file() else 'not yet'})")
    if entry.get("sha256") is None and entry.get("sha256_note"):
        lines.append(f"  note:    {entry['sha256_note']}")
    return lines, ok


def _file_status(path: Path, expected_sha256: Optional[str]) -> Tuple[str, bool]:
    if not path.is_file():
        return f"missing ({path})", True
    size = f"{path.stat().st_size / 2**20:.1f} MiB"
    if not expected_sha256:
        return f"present ({path}, {size}; no published sha256 to check)", True
    actual = _sha256(path)
    if actual != expected_sha256:
        return f"SHA256 MISMATCH ({path}: {actual}, expected {expected_sha256})", False
    return f"present ({path}, {size}, sha256 ok)", True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
