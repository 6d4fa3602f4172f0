"""Export a trt_pose checkpoint to ONNX: the file the engines (ONNX Runtime, TensorRT) run.

The graph has one input ``input`` (float32 [1, 3, H, W], RGB, already normalised
with the ImageNet mean/std) and two outputs ``cmap`` and ``paf`` (float32, at
H/4 x W/4): the names jetson-inference's poseNet expects, so files are
interchangeable with it. Importing this module does not import torch or onnx.

With ``input_format="bgr-uint8"`` the input is instead the resized camera frame
as OpenCV holds it (uint8 [1, H, W, 3], BGR) and the graph does the layout, colour
order and normalisation: on a Jetson the GPU does them under TensorRT, the CPU
only resizes, and a quarter of the bytes cross to the device. Older TensorRT
(before 8.5, e.g. JetPack 4.6's 8.2) refuses uint8 network inputs ("Unsupported
ONNX data type: UINT8"), so the default stays float32.

Exporter: torch's TorchScript-based exporter (``dynamo=False``). It needs nothing
beyond torch and runs on every torch a Jetson has (1.x to 2.x); the newer
``torch.export``-based exporter needs ``onnxscript`` and a recent torch.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import warnings
from pathlib import Path
from typing import Any, Dict, NamedTuple, Tuple, Union

from edged.files import atomic_write, file_sha256

from .checkpoints import PathLike, load_pose_model
from .models import DEFAULT_CMAP_CHANNELS, DEFAULT_PAF_CHANNELS, arch_spec, require_torch

__all__ = [
    "DEFAULT_OPSET",
    "INPUT_FORMATS",
    "INPUT_NAME",
    "OUTPUT_NAMES",
    "ExportError",
    "ExportResult",
    "export_pose_onnx",
    "resolve_input_size",
]

INPUT_NAME = "input"
OUTPUT_NAMES = ("cmap", "paf")
#: opset 13 is understood by TensorRT 8.0+ (JetPack 4.6 and later) and ONNX Runtime
DEFAULT_OPSET = 13
#: the trunks downsample by 32; other sizes would shift cmap/paf against the image
SIZE_MULTIPLE = 32
OUTPUT_STRIDE = 4
#: trt_pose's preprocessing, recorded in the file's metadata
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
#: what the graph's input holds: the normalised tensor (default) or the resized frame itself
INPUT_FORMATS = {
    "rgb-float": "RGB float32 NCHW, (x/255 - mean) / std",
    "bgr-uint8": "BGR uint8 NHWC, the resized frame as OpenCV holds it; normalised in the graph",
}

InputSize = Union[int, Tuple[int, int], None]


class ExportError(RuntimeError):
    """The export itself failed (as opposed to a bad checkpoint or argument)."""


class ExportResult(NamedTuple):
    """What was written, so a caller can log it or record it in a manifest."""

    path: Path
    sha256: str
    arch: str
    input_shape: Tuple[Union[int, str], ...]
    output_shapes: Dict[str, Tuple[Union[int, str], ...]]
    fp16: bool
    opset: int


def resolve_input_size(arch: str, input_size: InputSize = None) -> Tuple[int, int]:
    """(height, width): the architecture's training size by default; multiples of 32."""
    if input_size is None:
        side = arch_spec(arch).input_size
        return side, side
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    for side in (height, width):
        if side < SIZE_MULTIPLE or side % SIZE_MULTIPLE:
            raise ValueError(
                f"input size {height}x{width}: each side must be a positive multiple of "
                f"{SIZE_MULTIPLE} (the trunk's stride), e.g. 224, 256, 352"
            )
    return height, width


def export_pose_onnx(
    arch: str,
    checkpoint: PathLike,
    out: PathLike,
    input_size: InputSize = None,
    fp16: bool = False,
    opset: int = DEFAULT_OPSET,
    cmap_channels: int = DEFAULT_CMAP_CHANNELS,
    paf_channels: int = DEFAULT_PAF_CHANNELS,
    dynamic_batch: bool = False,
    input_format: str = "rgb-float",
) -> ExportResult:
    """Load ``checkpoint`` into ``arch`` (strictly) and write it to ``out`` as checked ONNX.

    ``fp16`` stores weights and computes in float16 while keeping float32 I/O
    (Cast nodes at the edges). ``dynamic_batch`` makes the batch axis symbolic
    ("batch") for pipelines that batch several sources; the default is batch 1.
    ``input_format`` is one of :data:`INPUT_FORMATS` (see the module's docstring).
    ``out`` is replaced atomically: readers see the old file or the new one.
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(
            f"input format {input_format!r}: expected one of {', '.join(INPUT_FORMATS)}"
        )
    height, width = resolve_input_size(arch, input_size)
    require_torch("ONNX export")
    onnx = _require_onnx()
    model = load_pose_model(
        arch, checkpoint, cmap_channels=cmap_channels, paf_channels=paf_channels
    )
    data = _trace_to_onnx(model, height, width, fp16, opset, dynamic_batch, input_format)
    proto = onnx.load_from_string(data)
    _annotate(proto, arch, Path(checkpoint), height, width, fp16, input_format)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ExportError(f"the exported graph failed onnx.checker: {exc}") from exc
    data = proto.SerializeToString()
    out = Path(out)
    atomic_write(out, data)
    return ExportResult(
        path=out,
        sha256=hashlib.sha256(data).hexdigest(),
        arch=arch,
        input_shape=_dims(proto.graph.input[0]),
        output_shapes={o.name: _dims(o) for o in proto.graph.output},
        fp16=fp16,
        opset=opset,
    )


def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise ExportError(
            "the onnx package is needed for export: pip install 'edged[export]'"
        ) from exc
    return onnx


def _trace_to_onnx(
    model: Any,
    height: int,
    width: int,
    fp16: bool,
    opset: int,
    dynamic_batch: bool,
    input_format: str,
) -> bytes:
    """Run torch's TorchScript exporter into memory and return the serialized model."""
    torch = require_torch("ONNX export")
    device = _half_device(torch) if fp16 else "cpu"
    if fp16:
        from .models.halfio import Float32IO

        model = Float32IO(model)
    if input_format == "bgr-uint8":
        from .models.frameinput import BgrUint8Input

        model = BgrUint8Input(model, MEAN, STD)
        example = torch.zeros(1, height, width, 3, dtype=torch.uint8, device=device)
    else:
        example = torch.zeros(1, 3, height, width, device=device)
    model = model.to(device).eval()
    kwargs: Dict[str, Any] = {
        "input_names": [INPUT_NAME],
        "output_names": list(OUTPUT_NAMES),
        "opset_version": opset,
        "do_constant_folding": True,
    }
    if dynamic_batch:
        kwargs["dynamic_axes"] = {n: {0: "batch"} for n in (INPUT_NAME, *OUTPUT_NAMES)}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # torch >= 2.5: choose the TorchScript exporter explicitly
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # torch >= 2.9 flags the TorchScript exporter as deprecated; it is chosen on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            torch.onnx.export(model, (example,), buffer, **kwargs)
        except Exception as exc:
            raise ExportError(f"torch.onnx.export failed (opset {opset}): {exc}") from exc
    return buffer.getvalue()


def _half_device(torch: Any) -> str:
    """Where float16 tracing works: the CPU on recent torch, else a CUDA device."""
    try:
        conv = torch.nn.Conv2d(1, 1, 1).half()
        conv(torch.zeros(1, 1, 1, 1, dtype=torch.float16))
        return "cpu"
    except RuntimeError:
        if torch.cuda.is_available():
            return "cuda"
    raise ExportError(
        f"torch {torch.__version__} cannot run float16 convolutions on the CPU and no CUDA "
        "device is available: export float32 and let TensorRT build the engine in FP16"
    )


def _annotate(
    proto: Any,
    arch: str,
    checkpoint: Path,
    height: int,
    width: int,
    fp16: bool,
    input_format: str,
) -> None:
    """Record how to feed the model, and where it came from, in the file's metadata."""
    props = {
        "edged.arch": arch,
        "edged.input_size": f"{height}x{width}",
        "edged.input_format": INPUT_FORMATS[input_format],
        "edged.mean": ",".join(str(m) for m in MEAN),
        "edged.std": ",".join(str(s) for s in STD),
        "edged.output_stride": str(OUTPUT_STRIDE),
        "edged.fp16_weights": "true" if fp16 else "false",
        "edged.checkpoint": checkpoint.name,
        "edged.checkpoint_sha256": file_sha256(checkpoint),
    }
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = f"trt_pose {arch} exported by edged from {checkpoint.name}"


def _dims(value_info: Any) -> Tuple[Union[int, str], ...]:
    dims = value_info.type.tensor_type.shape.dim
    return tuple(d.dim_param if d.dim_param else d.dim_value for d in dims)
