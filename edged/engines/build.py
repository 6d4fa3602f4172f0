"""Build a TensorRT plan from an ONNX model with the TensorRT builder API.

Handles the builder API of every TensorRT edged meets, by capability where
the API offers one:

* 8.x: networks need the ``EXPLICIT_BATCH`` creation flag; the workspace is
  ``config.max_workspace_size`` before 8.4 and ``set_memory_pool_limit`` after;
* 10.x: explicit batch is the only mode and the flag is deprecated, so it is
  not passed; the workspace is ``set_memory_pool_limit(MemoryPoolType.WORKSPACE)``;
* 11.x: networks are strongly typed and ``BuilderFlag.FP16``/``INT8`` are gone.
  Asking for them is an ``EngineBuildError`` that says to convert the ONNX
  model to FP16 (or Q/DQ INT8) first, instead of a bare ``AttributeError``.

Inputs with dynamic dimensions need an optimisation profile. When only the
batch dimension is dynamic and no range was given, edged builds for batch 1
(what a live pipeline sends); any other dynamic dimension needs ``--shape``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .cache import atomic_write
from .errors import EngineBuildError
from .probe import import_tensorrt

__all__ = ["BuildOptions", "build_engine_file", "build_plan", "parse_shape_arg"]

log = logging.getLogger(__name__)

Shape = Tuple[int, ...]
ShapeRange = Tuple[Shape, Shape, Shape]


@dataclass(frozen=True)
class BuildOptions:
    """Builder settings; also the ``flags`` part of the plan cache key."""

    fp16: bool = False
    int8: bool = False
    calibration_dir: Optional[str] = None
    workspace_mb: int = 512
    shapes: Mapping[str, ShapeRange] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Any) -> BuildOptions:
        """From an ``EngineConfig`` (duck-typed so this module needs no pydantic)."""
        shapes = {
            name: (tuple(r.min), tuple(r.opt), tuple(r.max)) for name, r in config.shapes.items()
        }
        return cls(config.fp16, config.int8, config.calibration_dir, config.workspace_mb, shapes)

    def cache_flags(self) -> Dict[str, Any]:
        """Everything here that changes the plan, in JSON-able form."""
        return {
            "fp16": self.fp16,
            "int8": self.int8,
            "calibration": _dir_fingerprint(self.calibration_dir) if self.int8 else None,
            "workspace_mb": self.workspace_mb,
            "shapes": {k: [list(s) for s in v] for k, v in sorted(self.shapes.items())},
        }


def _dir_fingerprint(path: Optional[str]) -> Optional[str]:
    """Names and sizes of the calibration files: new data means a new plan."""
    if not path or not os.path.isdir(path):
        return None
    digest = hashlib.sha256()
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if entry.is_file():
            digest.update(f"{entry.name}:{entry.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def parse_shape_arg(text: str) -> Tuple[str, ShapeRange]:
    """Parse ``name:MIN,OPT,MAX`` (each like ``1x3x224x224``); one shape means all three."""
    name, sep, spec = text.rpartition(":")
    parts = spec.split(",")
    if not sep or not name or len(parts) not in (1, 3):
        raise ValueError(
            "expected NAME:MIN,OPT,MAX such as image:1x3x224x224,2x3x224x224,4x3x224x224, "
            f"got {text!r}"
        )
    try:
        shapes = [tuple(int(d) for d in re.split(r"[xX]", p.strip())) for p in parts]
    except ValueError:
        raise ValueError(f"shape dimensions must be integers joined by 'x', got {text!r}") from None
    if len(shapes) == 1:
        shapes = shapes * 3
    lo, opt, hi = shapes
    if not len(lo) == len(opt) == len(hi) or not all(
        1 <= a <= b <= c for a, b, c in zip(lo, opt, hi)
    ):
        raise ValueError(f"need min <= opt <= max per dimension with equal ranks, got {text!r}")
    return name, (lo, opt, hi)


def build_plan(onnx_path: Union[str, Path], options: BuildOptions, trt: Any = None) -> bytes:
    """Build and serialise a plan for ``onnx_path``; raise ``EngineBuildError`` on failure."""
    trt = trt if trt is not None else import_tensorrt()
    path = str(onnx_path)
    _check_precision_support(trt, options)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    _parse(parser, path)
    config = builder.create_builder_config()
    _set_workspace(trt, config, options.workspace_mb * 2**20)
    profile = _profile(builder, network, options.shapes, path)
    if profile is not None:
        config.add_optimization_profile(profile)
    if options.fp16:
        if getattr(builder, "platform_has_fast_fp16", True) is False:
            log.warning("this GPU has no fast FP16; building with --fp16 anyway")
        config.set_flag(trt.BuilderFlag.FP16)
    if options.int8:
        return _build_int8(trt, builder, network, config, profile, options, path)
    return _serialize(builder, network, config, path)


def _build_int8(
    trt: Any,
    builder: Any,
    network: Any,
    config: Any,
    profile: Any,
    options: BuildOptions,
    path: str,
) -> bytes:
    """INT8 needs a calibrator with device buffers, so a CUDA context is current throughout."""
    from .calibration import calibration_context

    inputs = _network_inputs(network)
    config.set_flag(trt.BuilderFlag.INT8)
    cache_file = str(Path(path).with_suffix(".calib"))
    with calibration_context(trt, options.calibration_dir, inputs, cache_file) as calibrator:
        config.int8_calibrator = calibrator
        if profile is not None and hasattr(config, "set_calibration_profile"):
            config.set_calibration_profile(profile)
        return _serialize(builder, network, config, path)


def _serialize(builder: Any, network: Any, config: Any, path: str) -> bytes:
    if hasattr(builder, "build_serialized_network"):
        plan = builder.build_serialized_network(network, config)
    else:  # TensorRT 7.x
        engine = builder.build_engine(network, config)
        plan = engine.serialize() if engine is not None else None
    if plan is None:
        raise EngineBuildError(
            f"TensorRT failed to build {path} (its errors are logged above); common causes are a "
            "workspace too small for the model (raise --workspace), an operator TensorRT does "
            "not support (simplify the model with onnxsim or re-export with another opset), or "
            "too little free memory (stop the daemon while building)"
        )
    return bytes(plan)


def _check_precision_support(trt: Any, options: BuildOptions) -> None:
    version = getattr(trt, "__version__", "?")
    if options.fp16 and not hasattr(trt.BuilderFlag, "FP16"):
        raise EngineBuildError(
            f"TensorRT {version} builds strongly typed networks only and has no FP16 builder flag. "
            "Convert the ONNX model to FP16 first (python -m modelopt.onnx.autocast "
            "--onnx_path MODEL.onnx, or onnxconverter-common's float16 conversion) and build "
            "that model without --fp16"
        )
    if options.int8 and not (
        hasattr(trt.BuilderFlag, "INT8") and hasattr(trt, "IInt8EntropyCalibrator2")
    ):
        raise EngineBuildError(
            f"TensorRT {version} has no INT8 calibration (strongly typed networks only). "
            "Quantise the ONNX model with Q/DQ nodes (NVIDIA ModelOpt) and build it without --int8"
        )


def _network_flags(trt: Any) -> int:
    """``EXPLICIT_BATCH`` for TensorRT < 10; from 10 on it is the only mode and deprecated."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    if flag is None or _major(trt) >= 10:
        return 0
    return 1 << int(flag)


def _major(trt: Any) -> int:
    match = re.match(r"(\d+)", str(getattr(trt, "__version__", "0")))
    return int(match.group(1)) if match else 0


def _set_workspace(trt: Any, config: Any, nbytes: int) -> None:
    if hasattr(config, "set_memory_pool_limit") and hasattr(trt, "MemoryPoolType"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, nbytes)
    else:  # TensorRT < 8.4
        config.max_workspace_size = nbytes


def _parse(parser: Any, path: str) -> None:
    if not os.path.isfile(path):
        raise EngineBuildError(f"ONNX model {path} does not exist")
    if hasattr(parser, "parse_from_file"):
        ok = parser.parse_from_file(path)  # also finds external weight files
    else:
        with open(path, "rb") as fh:
            ok = parser.parse(fh.read())
    if not ok:
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        fix = (
            "Check it with onnx.checker, or simplify it with onnxsim / re-export with an "
            "older opset"
        )
        if any("UINT8" in error.upper() for error in errors):
            fix = (
                "This TensorRT takes no uint8 network inputs (TensorRT before 8.5): export the "
                "model with a float32 input (edged export pose without --input-format bgr-uint8)"
            )
        raise EngineBuildError(
            "TensorRT could not parse {}: {}. {}".format(
                path, "; ".join(errors) or "no details", fix
            )
        )


def _network_inputs(network: Any) -> List[Tuple[str, Shape]]:
    found = []
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        found.append((tensor.name, tuple(int(d) for d in tensor.shape)))
    return found


def _profile(builder: Any, network: Any, shapes: Mapping[str, ShapeRange], path: str) -> Any:
    """One optimisation profile covering every dynamic input, or None if all are static."""
    dynamic = [(n, s) for n, s in _network_inputs(network) if -1 in s]
    unknown = sorted(set(shapes) - {n for n, _ in _network_inputs(network)})
    if unknown:
        raise EngineBuildError(
            f"--shape names {unknown} are not inputs of {path} "
            f"(inputs: {[n for n, _ in _network_inputs(network)]})"
        )
    if not dynamic:
        return None
    profile = builder.create_optimization_profile()
    for name, shape in dynamic:
        lo, opt, hi = shapes.get(name) or _batch_only(name, shape, path)
        if len(lo) != len(shape) or any(d != -1 and d != x for d, x in zip(shape, hi)):
            raise EngineBuildError(
                f"--shape for {name!r} does not fit the model's shape {shape} (got max {hi})"
            )
        profile.set_shape(name, lo, opt, hi)
    return profile


def _batch_only(name: str, shape: Shape, path: str) -> ShapeRange:
    if -1 in shape[1:]:
        raise EngineBuildError(
            f"input {name!r} of {path} has dynamic dimensions {shape} besides the batch; "
            f"give their range with --shape {name}:MIN,OPT,MAX "
            "(e.g. 1x3x224x224,1x3x224x224,1x3x448x448)"
        )
    one = (1, *shape[1:])
    return (one, one, one)


def build_engine_file(
    onnx_path: Union[str, Path], out_path: Union[str, Path], options: BuildOptions
) -> Path:
    """Build a plan and write it atomically to ``out_path``."""
    plan = build_plan(onnx_path, options)
    atomic_write(out_path, plan)
    return Path(out_path)
