"""``edged build-engine``: build a TensorRT plan from an ONNX model, ahead of time.

Without ``--out`` the plan goes into the plan cache under the same key the
daemon computes, so building on the device before starting the daemon means
the model is ``ready`` at start instead of ``warming`` for minutes. With
``--out`` it is written to that file (for shipping to identical devices).

``register(subparsers)`` adds the subcommand to edged's CLI parser; the
parsed namespace's ``func(args)`` returns the exit code: 0 built, 1 the build
failed, 2 bad usage or TensorRT missing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, List, Optional, Tuple

from edged.config.engine import EngineConfig

from .build import BuildOptions, build_engine_file, parse_shape_arg
from .errors import BackendUnavailableError, EngineError
from .plans import cache_for, ensure_plan
from .probe import import_pycuda, import_tensorrt

__all__ = ["main", "register", "run_build_engine"]

log = logging.getLogger(__name__)

_WORKSPACE_MB = EngineConfig.model_fields["workspace_mb"].default


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``build-engine`` to an ``argparse`` subparsers object."""
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


def _shape(text: str) -> Tuple[str, Any]:
    try:
        return parse_shape_arg(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
