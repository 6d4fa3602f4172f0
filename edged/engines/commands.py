"""CLI hooks: ``edged build-engine`` (TensorRT plans) and ``edged export triton-repo``.

Without ``--out`` the plan goes into the plan cache under the same key the
daemon computes, so building on the device before starting the daemon means
the model is ``ready`` at start instead of ``warming`` for minutes. With
``--out`` it is written to that file (for shipping to identical devices).

``edged export triton-repo`` writes an ONNX model as a Triton Inference
Server model repository (``edged.engines.triton_repo``), for serving the
models from a GPU server instead of the device.

``register(subparsers)`` adds both to edged's CLI parser; the parsed
namespace's ``func(args)`` returns the exit code: 0 done, 1 the build or the
repository failed, 2 bad usage or TensorRT (tritonclient) missing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

from edged.config.engine import EngineConfig
from edged.export_command import export_kinds

from .build import BuildOptions, build_engine_file, parse_shape_arg
from .errors import BackendUnavailableError, EngineError
from .plans import cache_for, ensure_plan
from .probe import import_pycuda, import_tensorrt
from .triton_repo import DEFAULT_MAX_BATCH, DEFAULT_QUEUE_DELAY_US

__all__ = ["main", "register", "register_triton_repo", "run_build_engine", "run_triton_repo"]

log = logging.getLogger(__name__)

_WORKSPACE_MB = EngineConfig.model_fields["workspace_mb"].default


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``build-engine`` and ``export triton-repo``; return the ``build-engine`` parser."""
    register_triton_repo(export_kinds(subparsers))
    parser = subparsers.add_parser(
        "build-engine",
        help="build a TensorRT plan from an ONNX model (into the plan cache by default)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("model", metavar="MODEL.onnx", help="the ONNX model to build")
    parser.add_argument("--fp16", action="store_true", help="allow FP16 kernels (TensorRT < 11)")
    parser.add_argument("--int8", action="store_true", help="allow INT8 kernels; needs --calib")
    parser.add_argument("--calib", metavar="DIR", help="calibration batches: *.npy or *.npz files")
    parser.add_argument(
        "--workspace",
        type=_positive_int,
        default=_WORKSPACE_MB,
        metavar="MB",
        help="builder scratch memory in MiB (default %(default)s)",
    )
    parser.add_argument(
        "--shape",
        action="append",
        default=[],
        type=_shape,
        metavar="NAME:MIN,OPT,MAX",
        help="profile for a dynamic input, e.g. image:1x3x224x224,2x3x224x224,4x3x224x224 "
        "(repeatable)",
    )
    parser.add_argument("--out", metavar="PLAN", help="write the plan here instead of the cache")
    parser.add_argument(
        "--cache-dir", metavar="DIR", help="plan cache directory (default: edged's)"
    )
    parser.add_argument(
        "--force", action="store_true", help="rebuild even when a cached plan exists"
    )
    parser.set_defaults(func=run_build_engine)
    return parser


def run_build_engine(args: argparse.Namespace) -> int:
    """Run the command; return the process exit code."""
    if args.int8 and not args.calib:
        return _fail(2, "--int8 needs --calib DIR (a directory of sample input batches)")
    try:
        import_tensorrt()
        if not args.out:
            import_pycuda()  # the cache key names the GPU
    except BackendUnavailableError as exc:
        return _fail(2, str(exc))
    options = BuildOptions(
        fp16=args.fp16,
        int8=args.int8,
        calibration_dir=args.calib,
        workspace_mb=args.workspace,
        shapes=dict(args.shape),
    )
    try:
        if args.out:
            path = build_engine_file(args.model, args.out, options)
            print(path)
            return 0
        result = ensure_plan(
            args.model, options, cache=cache_for(args.cache_dir), rebuild=args.force
        )
    except (EngineError, OSError) as exc:
        return _fail(1, str(exc))
    assert result is not None
    print(result.path)
    if not result.built:
        print("(already cached; --force rebuilds)", file=sys.stderr)
    return 0


def register_triton_repo(kinds: Any) -> argparse.ArgumentParser:
    """Add ``triton-repo`` under an ``export`` parser's kinds."""
    parser = kinds.add_parser(
        "triton-repo",
        help="write an ONNX model as a Triton Inference Server model repository",
        description="Write DIR/NAME/config.pbtxt (ONNX Runtime backend, inputs and outputs "
        "from the graph, dynamic batching, GPU instances, TensorRT accelerator) and "
        "DIR/NAME/VERSION/model.onnx, for `tritonserver --model-repository=DIR`. "
        "Needs onnx and tritonclient (pip install 'edged[triton]').",
    )
    parser.add_argument("model", type=Path, metavar="MODEL.onnx", help="the ONNX model")
    parser.add_argument("--name", required=True, help="model name (and its directory)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="repository")
    parser.add_argument(
        "--max-batch",
        type=_int_at_least(0),
        metavar="B",
        help=f"max_batch_size: > 0 needs a dynamic batch axis; 0 turns batching off "
        f"(default: {DEFAULT_MAX_BATCH} for a dynamic-batch model, else 0)",
    )
    parser.add_argument(
        "--instances",
        type=_int_at_least(1),
        default=1,
        metavar="K",
        help="model instances on the GPU (default %(default)s)",
    )
    parser.add_argument(
        "--fp16", action="store_true", help="TensorRT accelerator precision FP16 (default FP32)"
    )
    parser.add_argument(
        "--version",
        type=_int_at_least(1),
        default=1,
        metavar="V",
        help="version directory (default %(default)s)",
    )
    parser.add_argument(
        "--queue-delay-us",
        type=_int_at_least(0),
        default=DEFAULT_QUEUE_DELAY_US,
        metavar="US",
        help="dynamic batching: longest wait to fill a batch (default %(default)s)",
    )
    parser.set_defaults(func=run_triton_repo)
    return parser


def run_triton_repo(args: argparse.Namespace) -> int:
    """``edged export triton-repo``: 0 written, 1 the model cannot be, 2 a package missing."""
    from .triton_repo import MissingPackageError, TritonRepoError, write_model_repository

    prefix = "edged export triton-repo:"
    try:
        result = write_model_repository(
            args.model,
            args.out,
            args.name,
            max_batch_size=args.max_batch,
            instances=args.instances,
            fp16=args.fp16,
            version=args.version,
            queue_delay_us=args.queue_delay_us,
        )
    except MissingPackageError as exc:
        print(f"{prefix} {exc}", file=sys.stderr)
        return 2
    except (TritonRepoError, OSError) as exc:
        print(f"{prefix} error: {exc}", file=sys.stderr)
        return 1
    batching = f"max_batch_size {result.max_batch_size}"
    if result.max_batch_size == 0:
        batching += " (no batching: dims include the batch axis)"
    elif result.max_batch_size > 1:
        batching += f", dynamic batching (queue delay {args.queue_delay_us} us)"
    print(f"wrote {result.model_path}")
    print(f"wrote {result.config_path}")
    print(
        f"  {batching}; {args.instances} GPU instance(s); "
        f"TensorRT accelerator {'FP16' if args.fp16 else 'FP32'}"
    )
    for kind, tensors in (("input", result.inputs), ("output", result.outputs)):
        for t in tensors:
            shape = ",".join(str(d) if d != "" else "?" for d in t.shape)
            print(f"  {kind} {t.name}: {t.data_type} [{shape}] in the ONNX graph")
    print(f"  serve: tritonserver --model-repository={args.out}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Stand-alone entry point: ``python -m edged.engines.commands build-engine ...``."""
    parser = argparse.ArgumentParser(prog="edged")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


def _fail(code: int, message: str) -> int:
    print(f"edged build-engine: {message}", file=sys.stderr)
    return code


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of MiB, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _shape(text: str) -> Tuple[str, Any]:
    try:
        return parse_shape_arg(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
