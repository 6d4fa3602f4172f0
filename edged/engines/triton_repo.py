"""Write an ONNX model as an NVIDIA Triton Inference Server model repository.

The layout Triton loads (``tritonserver --model-repository=DIR``)::

    DIR/NAME/config.pbtxt
    DIR/NAME/VERSION/model.onnx

``config.pbtxt`` is built as Triton's own ``ModelConfig`` protobuf message
(from ``tritonclient``) and written with protobuf's text format, so it is
valid by construction. It names the ONNX Runtime backend, every graph input
and output with its Triton data type and dims (read from the ONNX graph),
dynamic batching when more than one request may share a batch, the GPU
instance group, and the backend's TensorRT execution accelerator.

Batching: with ``max_batch_size`` > 0 Triton owns the first axis, so every
input and output must have a symbolic first axis and the dims leave it out;
with 0 the dims are the full shapes. onnx and tritonclient are imported only
when a repository is written, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

from edged.files import atomic_write

__all__ = [
    "DEFAULT_MAX_BATCH",
    "DEFAULT_QUEUE_DELAY_US",
    "GraphTensor",
    "MissingPackageError",
    "RepositoryResult",
    "TritonRepoError",
    "build_model_config",
    "read_graph_io",
    "write_model_repository",
]

#: max_batch_size for a model whose batch axis is symbolic, when none is asked for
DEFAULT_MAX_BATCH = 8
#: how long Triton's dynamic batcher may hold a request to fill a batch
DEFAULT_QUEUE_DELAY_US = 500
#: the ONNX Runtime backend's TensorRT builder scratch memory (the backend's own default)
TRT_WORKSPACE_BYTES = 1 << 30
MODEL_FILENAME = "model.onnx"
CONFIG_FILENAME = "config.pbtxt"

INSTALL_HINT = "pip install 'edged[triton]'"

#: ONNX TensorProto element types (their numbers) -> Triton DataType names
_ONNX_TO_TRITON = {
    1: "TYPE_FP32",  # FLOAT
    2: "TYPE_UINT8",
    3: "TYPE_INT8",
    4: "TYPE_UINT16",
    5: "TYPE_INT16",
    6: "TYPE_INT32",
    7: "TYPE_INT64",
    8: "TYPE_STRING",
    9: "TYPE_BOOL",
    10: "TYPE_FP16",
    11: "TYPE_FP64",  # DOUBLE
    12: "TYPE_UINT32",
    13: "TYPE_UINT64",
    16: "TYPE_BF16",
}

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

PathLike = Union[str, Path]
Dim = Union[int, str]  # an int is a fixed size; a str names a symbolic axis ("" if unnamed)


class TritonRepoError(ValueError):
    """The model cannot be written as asked; the message says what to change."""


class MissingPackageError(TritonRepoError):
    """onnx or tritonclient is not installed; the message says how to install them."""


@dataclass(frozen=True)
class GraphTensor:
    """One graph input or output: its name, Triton data type and ONNX shape."""

    name: str
    data_type: str
    shape: Tuple[Dim, ...]

    @property
    def batch_is_dynamic(self) -> bool:
        return bool(self.shape) and isinstance(self.shape[0], str)


@dataclass(frozen=True)
class RepositoryResult:
    """What :func:`write_model_repository` wrote."""

    model_dir: Path
    model_path: Path
    config_path: Path
    max_batch_size: int
    inputs: Tuple[GraphTensor, ...]
    outputs: Tuple[GraphTensor, ...]


def read_graph_io(model: PathLike) -> Tuple[List[GraphTensor], List[GraphTensor]]:
    """The graph's real inputs (initializers listed as inputs left out) and its outputs."""
    onnx = _import("onnx", "onnx")
    from onnx.external_data_helper import uses_external_data

    path = Path(model)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except OSError as exc:
        raise TritonRepoError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # onnx raises DecodeError and friends for a file that is not ONNX
        raise TritonRepoError(f"{path} is not an ONNX model: {exc}") from None
    graph = proto.graph
    if any(uses_external_data(t) for t in graph.initializer):
        raise TritonRepoError(
            f"{path} keeps its weights in external data files; save it as one file "
            "(onnx.save_model(model, path, save_as_external_data=False)) and try again"
        )
    initializers = {t.name for t in graph.initializer}
    inputs = [_tensor(v, path) for v in graph.input if v.name not in initializers]
    outputs = [_tensor(v, path) for v in graph.output]
    if not inputs or not outputs:
        raise TritonRepoError(f"{path}: the graph has no inputs or no outputs")
    return inputs, outputs


def build_model_config(
    name: str,
    inputs: Sequence[GraphTensor],
    outputs: Sequence[GraphTensor],
    max_batch_size: int,
    instances: int = 1,
    fp16: bool = False,
    queue_delay_us: int = DEFAULT_QUEUE_DELAY_US,
) -> Any:
    """A ``tritonclient.grpc.model_config_pb2.ModelConfig`` for the ONNX Runtime backend."""
    pb = _model_config_pb2()
    config = pb.ModelConfig(name=name, backend="onnxruntime", max_batch_size=max_batch_size)
    for field, tensors in ((config.input, inputs), (config.output, outputs)):
        for tensor in tensors:
            entry = field.add(name=tensor.name, data_type=pb.DataType.Value(tensor.data_type))
            dims = _triton_dims(tensor.shape, batched=max_batch_size > 0)
            if dims:
                entry.dims.extend(dims)
            else:  # Triton wants rank >= 1: a scalar per request is [1], reshaped to []
                entry.dims.append(1)
                entry.reshape.SetInParent()
    if max_batch_size > 1:
        config.dynamic_batching.max_queue_delay_microseconds = queue_delay_us
    config.instance_group.add(count=instances, kind=pb.ModelInstanceGroup.KIND_GPU)
    trt = config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
    trt.parameters["precision_mode"] = "FP16" if fp16 else "FP32"
    trt.parameters["max_workspace_size_bytes"] = str(TRT_WORKSPACE_BYTES)
    return config


def write_model_repository(
    model: PathLike,
    out: PathLike,
    name: str,
    max_batch_size: Optional[int] = None,
    instances: int = 1,
    fp16: bool = False,
    version: int = 1,
    queue_delay_us: int = DEFAULT_QUEUE_DELAY_US,
) -> RepositoryResult:
    """Write ``out/name/config.pbtxt`` and ``out/name/version/model.onnx`` (a copy of ``model``).

    ``max_batch_size`` None picks :data:`DEFAULT_MAX_BATCH` for a model whose
    batch axis is symbolic on every input and output, else 0. Both files are
    replaced atomically, the model first; other versions in the directory stay.
    """
    _check_args(name, max_batch_size, instances, version, queue_delay_us)
    _model_config_pb2()  # fail on a missing tritonclient before reading anything
    path = Path(model)
    if not path.is_file():
        raise TritonRepoError(f"model file not found: {path}")
    inputs, outputs = read_graph_io(path)
    fixed = [t for t in inputs + outputs if not t.batch_is_dynamic]
    if max_batch_size is None:
        max_batch_size = 0 if fixed else DEFAULT_MAX_BATCH
    elif max_batch_size > 0 and fixed:
        shown = ", ".join(f"{t.name} {_show(t.shape)}" for t in fixed)
        raise TritonRepoError(
            f"--max-batch {max_batch_size} needs a symbolic (dynamic) first axis on every "
            f"input and output, but {path.name} has fixed ones: {shown}; re-export with "
            "--dynamic-batch (edged export pose --dynamic-batch ...) or use --max-batch 0"
        )
    config = build_model_config(
        name, inputs, outputs, max_batch_size, instances, fp16, queue_delay_us
    )
    from google.protobuf import text_format

    model_dir = Path(out) / name
    model_path = model_dir / str(version) / MODEL_FILENAME
    config_path = model_dir / CONFIG_FILENAME
    data = path.read_bytes()
    header = (
        f"# written by edged export triton-repo from {path.name!r} "
        f"(sha256 {hashlib.sha256(data).hexdigest()})\n"
    )
    atomic_write(model_path, data)
    atomic_write(config_path, (header + text_format.MessageToString(config)).encode("utf-8"))
    return RepositoryResult(
        model_dir, model_path, config_path, max_batch_size, tuple(inputs), tuple(outputs)
    )


def _check_args(
    name: str, max_batch_size: Optional[int], instances: int, version: int, delay: int
) -> None:
    if not _NAME.fullmatch(name):
        raise TritonRepoError(
            f"model name {name!r}: use letters, digits, '_', '.' and '-' "
            "(it is also the directory name), not starting with '.' or '-'"
        )
    if max_batch_size is not None and max_batch_size < 0:
        raise TritonRepoError(f"--max-batch must be >= 0, got {max_batch_size}")
    if instances < 1:
        raise TritonRepoError(f"--instances must be >= 1, got {instances}")
    if version < 1:  # Triton ignores version directories named 0 or starting with 0
        raise TritonRepoError(f"--version must be >= 1, got {version}")
    if delay < 0:
        raise TritonRepoError(f"the queue delay must be >= 0 microseconds, got {delay}")


def _tensor(value: Any, path: Path) -> GraphTensor:
    if not value.type.HasField("tensor_type"):
        raise TritonRepoError(f"{path}: {value.name!r} is not a tensor; Triton cannot serve it")
    tensor_type = value.type.tensor_type
    data_type = _ONNX_TO_TRITON.get(tensor_type.elem_type)
    if data_type is None:
        raise TritonRepoError(
            f"{path}: {value.name!r} has ONNX element type {tensor_type.elem_type}, "
            "which Triton has no data type for"
        )
    if not tensor_type.HasField("shape"):
        raise TritonRepoError(
            f"{path}: {value.name!r} has no shape in the graph; Triton needs its rank "
            "(run onnx.shape_inference on the model, or export it with shapes)"
        )
    shape = tuple(_dim(d) for d in tensor_type.shape.dim)
    return GraphTensor(value.name, data_type, shape)


def _dim(dim: Any) -> Dim:
    if dim.HasField("dim_value") and dim.dim_value > 0:
        return int(dim.dim_value)
    return str(dim.dim_param)  # symbolic, or unknown ("")


def _triton_dims(shape: Tuple[Dim, ...], batched: bool) -> List[int]:
    dims = shape[1:] if batched else shape
    return [d if isinstance(d, int) else -1 for d in dims]


def _show(shape: Tuple[Dim, ...]) -> str:
    return "[" + ",".join(str(d) if d != "" else "?" for d in shape) + "]"


def _model_config_pb2() -> Any:
    return _import("tritonclient.grpc.model_config_pb2", "tritonclient")


def _import(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingPackageError(
            f"writing a Triton model repository needs {package} ({exc}); {INSTALL_HINT}"
        ) from None
