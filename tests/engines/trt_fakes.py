"""Contract fakes of the ``tensorrt`` and ``pycuda.driver`` APIs that edged uses.

No machine in CI has TensorRT or a CUDA driver, so these fakes stand in for
them in the *contract tests*. They implement only the calls edged makes, in
the spelling of each API generation, and they are strict where the real
libraries crash: copying more bytes than a device buffer holds, using memory
without a current CUDA context, executing with unbound tensors, or freeing
twice all raise ``FakeCudaError`` instead of corrupting memory. Every call
edged makes is appended to a shared ``CallLog`` so tests can check ordering
(H2D before execute before D2H before synchronise, all inside push/pop).

Generations (``make_tensorrt(version)``):

* ``"8.2.1"``: bindings API only (JetPack 4.6), ``max_workspace_size``;
* ``"8.6.1"``: both APIs, ``set_memory_pool_limit``;
* ``"10.3.0"``: tensor API only, EXPLICIT_BATCH deprecated;
* ``"11.0.0"``: tensor API only, no FP16/INT8 builder flags, no calibrators.

A fake plan is ``b"FAKEPLAN" + JSON`` describing inputs (shape with -1 for
dynamic dims, dtype, profile) and outputs computed from an input by a named
op: ``affine`` (x * 2 + 1, same shape) or ``sum`` (sum over spatial dims to
shape (N, C), float32). Anything else fails to deserialise, as a plan from
another TensorRT version does.
"""

from __future__ import annotations

import json
import threading
import types
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

PLAN_MAGIC = b"FAKEPLAN"


class FakeCudaError(RuntimeError):
    """What a real driver would turn into a crash or a CUDA error."""


class CallLog(list):
    """Ordered record of the calls edged made: tuples ``(what, *details)``."""

    def names(self) -> List[str]:
        return [entry[0] for entry in self]

    def count(self, name: str) -> int:  # type: ignore[override]
        return sum(1 for entry in self if entry[0] == name)


# --------------------------------------------------------------------------- pycuda


class _HostAllocation(bytearray):
    """Backs ``pagelocked_empty`` arrays; ``free()`` like pycuda's HostAllocation."""

    def __init__(self, size: int, driver: FakeCuda) -> None:
        super().__init__(size)
        self.driver = driver
        self.freed = False

    def free(self) -> None:
        if self.freed:
            raise FakeCudaError("pinned host buffer freed twice")
        self.driver._require_context("free host memory")
        self.freed = True
        self.driver.log.append(("free_host", len(self)))
        self.driver.live_host.discard(id(self))


class _DeviceAllocation:
    def __init__(self, driver: FakeCuda, address: int, size: int) -> None:
        self.driver, self.address, self.size = driver, address, size
        self.freed = False

    def __int__(self) -> int:
        return self.address

    def free(self) -> None:
        if self.freed:
            raise FakeCudaError(f"device buffer 0x{self.address:x} freed twice")
        self.driver._require_context("free device memory")
        self.freed = True
        del self.driver.memory[self.address]
        self.driver.log.append(("free_device", self.address))


class FakeCuda(types.ModuleType):
    """A ``pycuda.driver`` stand-in with one fake GPU and byte-accurate device memory."""

    def __init__(
        self, log: CallLog, *, devices: int = 1, gpu: str = "Fake Orin", cc=(8, 7)
    ) -> None:
        super().__init__("pycuda.driver")
        self.log = log
        self.devices = devices
        self.gpu_name, self.cc = gpu, cc
        self.memory: Dict[int, bytearray] = {}
        self.live_host: set = set()
        self.stack = threading.local()
        self._next = 0x10000
        self.contexts_retained = 0
        driver = self

        class Device:
            @staticmethod
            def count() -> int:
                return driver.devices

            def __init__(self, index: int) -> None:
                if index >= driver.devices:
                    raise FakeCudaError("invalid device ordinal")
                self.index = index

            def name(self) -> str:
                return driver.gpu_name

            def compute_capability(self) -> Tuple[int, int]:
                return driver.cc

            def retain_primary_context(self) -> Any:
                driver.contexts_retained += 1
                driver.log.append(("retain_context",))
                return Context()

        class Context:
            def __init__(self) -> None:
                self.detached = False

            def push(self) -> None:
                if self.detached:
                    raise FakeCudaError("push of a released context")
                driver._stack().append(self)
                driver.log.append(("push",))

            def pop(self) -> None:
                stack = driver._stack()
                if not stack:
                    raise FakeCudaError("pop with no current context")
                stack.pop()
                driver.log.append(("pop",))

            def detach(self) -> None:
                if self.detached:
                    raise FakeCudaError("context released twice")
                self.detached = True
                driver.contexts_retained -= 1
                driver.log.append(("detach",))

        class Stream:
            _handles = iter(range(0x5000, 0x6000))

            def __init__(self) -> None:
                driver._require_context("create a stream")
                self.handle = next(Stream._handles)
                driver.log.append(("stream", self.handle))

            def synchronize(self) -> None:
                driver._require_context("synchronise a stream")
                driver.log.append(("sync", self.handle))

        self.Device, self.Context, self.Stream = Device, Context, Stream

    # helpers ---------------------------------------------------------------

    def _stack(self) -> list:
        if not hasattr(self.stack, "items"):
            self.stack.items = []
        return self.stack.items

    def _require_context(self, what: str) -> None:
        if not self._stack():
            raise FakeCudaError(f"cannot {what}: no CUDA context is current on this thread")

    def read(self, address: int, nbytes: int) -> bytes:
        buf = self.memory[address]
        if nbytes > len(buf):
            raise FakeCudaError(f"read of {nbytes} bytes from a {len(buf)}-byte device buffer")
        return bytes(buf[:nbytes])

    def write(self, address: int, data: bytes) -> None:
        buf = self.memory.get(address)
        if buf is None:
            raise FakeCudaError(f"write to unallocated device address 0x{address:x}")
        if len(data) > len(buf):
            raise FakeCudaError(f"write of {len(data)} bytes into a {len(buf)}-byte device buffer")
        buf[: len(data)] = data

    # pycuda.driver API -----------------------------------------------------

    def init(self) -> None:
        self.log.append(("init",))

    def mem_alloc(self, nbytes: int) -> _DeviceAllocation:
        self._require_context("allocate device memory")
        address = self._next
        self._next += (nbytes + 0xFF) & ~0xFF or 0x100
        self.memory[address] = bytearray(nbytes)
        self.log.append(("mem_alloc", address, nbytes))
        return _DeviceAllocation(self, address, nbytes)

    def pagelocked_empty(self, shape: Any, dtype: Any) -> np.ndarray:
        self._require_context("allocate pinned memory")
        dtype = np.dtype(dtype)
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else (int(shape),)
        count = int(np.prod(shape))
        backing = _HostAllocation(count * dtype.itemsize, self)
        self.live_host.add(id(backing))
        self.log.append(("pagelocked_empty", shape, dtype.name))
        return np.ndarray(shape, dtype, buffer=backing)

    def _check_pinned(self, array: np.ndarray) -> None:
        base = array
        while isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        if not isinstance(base, _HostAllocation):
            raise FakeCudaError("async copy from pageable memory (not from pagelocked_empty)")
        if base.freed:
            raise FakeCudaError("async copy with a freed pinned buffer")
        if not array.flags.c_contiguous:
            raise FakeCudaError("async copy from a non-contiguous host array")

    def memcpy_htod_async(self, dest: Any, src: np.ndarray, stream: Any = None) -> None:
        self._require_context("copy host to device")
        self._check_pinned(src)
        self.write(int(dest), src.tobytes())
        self.log.append(("htod", int(dest), src.nbytes, getattr(stream, "handle", None)))

    def memcpy_dtoh_async(self, dest: np.ndarray, src: Any, stream: Any = None) -> None:
        self._require_context("copy device to host")
        self._check_pinned(dest)
        data = self.read(int(src), dest.nbytes)
        dest.reshape(-1).view(np.uint8)[:] = np.frombuffer(data, dtype=np.uint8)
        self.log.append(("dtoh", int(src), dest.nbytes, getattr(stream, "handle", None)))

    def memcpy_htod(self, dest: Any, src: np.ndarray) -> None:
        self._require_context("copy host to device")
        self.write(int(dest), np.ascontiguousarray(src).tobytes())
        self.log.append(("htod_sync", int(dest), src.nbytes))


# --------------------------------------------------------------------------- plans


def make_plan(
    inputs: Sequence[Dict[str, Any]],
    outputs: Sequence[Dict[str, Any]],
    *,
    implicit_batch: bool = False,
    max_batch_size: int = 1,
) -> bytes:
    """Serialise a fake plan. Input: name, shape, dtype, profile; output: name, op, source."""
    spec = {
        "inputs": list(inputs),
        "outputs": list(outputs),
        "implicit_batch": implicit_batch,
        "max_batch_size": max_batch_size,
    }
    return PLAN_MAGIC + json.dumps(spec).encode()


def simple_plan(batch_range=(1, 2, 4), channels: int = 3, size: int = 4) -> bytes:
    """One dynamic-batch input ``input`` -> ``scaled`` (affine) and ``pooled`` (sum)."""
    lo, opt, hi = batch_range
    rest = [channels, size, size]
    return make_plan(
        [
            {
                "name": "input",
                "shape": [-1, *rest],
                "dtype": "float32",
                "profile": [[lo, *rest], [opt, *rest], [hi, *rest]],
            }
        ],
        [
            {"name": "scaled", "op": "affine", "source": "input"},
            {"name": "pooled", "op": "sum", "source": "input"},
        ],
    )


def _out_shape(op: str, in_shape: Sequence[int]) -> Tuple[int, ...]:
    return tuple(in_shape) if op == "affine" else tuple(in_shape[:2])


def _compute(op: str, x: np.ndarray) -> np.ndarray:
    if op == "affine":
        return x * 2 + 1
    return x.sum(axis=tuple(range(2, x.ndim)), dtype=np.float32)


# --------------------------------------------------------------------------- tensorrt


def make_tensorrt(version: str, cuda: FakeCuda, log: CallLog) -> types.ModuleType:
    """A fake ``tensorrt`` module of the given generation (see module docstring)."""
    major, minor = (int(p) for p in version.split(".")[:2])
    has_tensor_api = (major, minor) >= (8, 5)
    has_binding_api = major < 10
    has_pool_limit = (major, minor) >= (8, 4)
    weak_typing = major < 11

    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.log = log
    trt.build_gate = None  # a threading.Event a test can use to hold the builder
    trt.build_fails = False
    trt.builds = 0

    class DataType:
        FLOAT = "FLOAT"
        HALF = "HALF"
        INT32 = "INT32"
        INT8 = "INT8"
        BOOL = "BOOL"
        BF16 = "BF16"

    np_of = {
        "FLOAT": np.float32,
        "HALF": np.float16,
        "INT32": np.int32,
        "INT8": np.int8,
        "BOOL": np.bool_,
    }
    trt_of = {
        "float32": "FLOAT",
        "float16": "HALF",
        "int32": "INT32",
        "int8": "INT8",
        "bool": "BOOL",
    }

    def nptype(dtype: str) -> Any:
        if dtype not in np_of:
            raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
        return np_of[dtype]

    class Logger:
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def __init__(self, severity: int = 2) -> None:
            self.severity = severity

    class TensorIOMode:
        NONE, INPUT, OUTPUT = "NONE", "INPUT", "OUTPUT"

    trt.DataType, trt.nptype, trt.Logger = DataType, nptype, Logger
    if has_tensor_api:
        trt.TensorIOMode = TensorIOMode

    class _Tensor:
        def __init__(self, spec: Dict[str, Any], is_input: bool, index: int) -> None:
            self.name = spec["name"]
            self.is_input = is_input
            self.index = index
            self.spec = spec

    class ICudaEngine:
        def __init__(self, spec: Dict[str, Any]) -> None:
            self._spec = spec
            self._implicit = spec.get("implicit_batch", False)
            by_name = {i["name"]: i for i in spec["inputs"]}
            tensors = [_Tensor(s, True, k) for k, s in enumerate(spec["inputs"])]
            for s in spec["outputs"]:
                src = by_name[s["source"]]
                dtype = src["dtype"] if s["op"] == "affine" else "float32"
                full = dict(s, dtype=dtype, shape=list(_out_shape(s["op"], src["shape"])))
                tensors.append(_Tensor(full, False, len(tensors)))
            self._tensors = tensors
            self._by_name = {t.name: t for t in tensors}
            log.append(("create_engine",))

        def __del__(self) -> None:
            log.append(("destroy", "engine"))

        def _static_shape(self, t: _Tensor) -> Tuple[int, ...]:
            shape = tuple(t.spec["shape"])
            return shape[1:] if self._implicit else shape

        def create_execution_context(self) -> IExecutionContext:
            return IExecutionContext(self._spec, self._tensors, self._implicit)

        num_optimization_profiles = 1

    class IExecutionContext:
        def __init__(self, spec: Dict[str, Any], tensors: List[_Tensor], implicit: bool) -> None:
            # Holds the description only, not the engine: destruction order is edged's.
            self._tensors = tensors
            self._by_name = {t.name: t for t in tensors}
            self._implicit = implicit
            self._shapes: Dict[str, Tuple[int, ...]] = {}
            self._addresses: Dict[str, int] = {}
            log.append(("create_context",))

        def __del__(self) -> None:
            log.append(("destroy", "context"))

        def _set_shape(self, name: str, shape: Sequence[int]) -> bool:
            t = self._by_name[name]
            lo, _, hi = t.spec["profile"]
            shape = tuple(int(d) for d in shape)
            if len(shape) != len(lo) or not all(a <= s <= b for a, s, b in zip(lo, shape, hi)):
                return False
            self._shapes[name] = shape
            log.append(("set_shape", name, shape))
            return True

        def _shape_of(self, name: str) -> Tuple[int, ...]:
            t = self._by_name[name]
            if t.is_input:
                return self._shapes.get(name, tuple(t.spec["shape"]))
            src = self._shapes.get(t.spec["source"])
            if src is None:
                return tuple(t.spec["shape"])
            return _out_shape(t.spec["op"], src)

        def _run(self, addresses: Dict[str, int], batch: Optional[int] = None) -> bool:
            cuda._require_context("execute")
            arrays = {}
            for t in self._tensors:
                if addresses.get(t.name, 0) == 0:
                    raise FakeCudaError(f"tensor {t.name!r} has no address bound")
            for t in self._tensors:
                if not t.is_input:
                    continue
                shape = self._shape_of(t.name) if batch is None else (batch, *t.spec["shape"][1:])
                if -1 in shape:
                    raise FakeCudaError(f"input {t.name!r} shape not specified")
                dtype = np.dtype(t.spec["dtype"])
                nbytes = int(np.prod(shape)) * dtype.itemsize
                data = cuda.read(addresses[t.name], nbytes)
                arrays[t.name] = np.frombuffer(data, dtype=dtype).reshape(shape)
            for t in self._tensors:
                if t.is_input:
                    continue
                result = _compute(t.spec["op"], arrays[t.spec["source"]])
                result = result.astype(np.dtype(t.spec["dtype"]), copy=False)
                cuda.write(addresses[t.name], np.ascontiguousarray(result).tobytes())
            return True

    def _binding_api(engine_cls: type, context_cls: type) -> None:
        engine_cls.num_bindings = property(lambda self: len(self._tensors))
        engine_cls.has_implicit_batch_dimension = property(lambda self: self._implicit)
        engine_cls.max_batch_size = property(lambda self: self._spec.get("max_batch_size", 1))
        engine_cls.get_binding_name = lambda self, i: self._tensors[i].name
        engine_cls.binding_is_input = lambda self, i: self._tensors[i].is_input
        engine_cls.get_binding_shape = lambda self, i: self._static_shape(self._tensors[i])
        engine_cls.get_binding_dtype = lambda self, i: trt_of[self._tensors[i].spec["dtype"]]
        engine_cls.get_binding_index = lambda self, name: self._by_name[name].index

        def get_profile_shape(self: Any, profile: int, binding: Any) -> Any:
            t = self._by_name[binding] if isinstance(binding, str) else self._tensors[binding]
            log.append(("get_profile_shape", profile, binding))
            return [tuple(s) for s in t.spec["profile"]]

        engine_cls.get_profile_shape = get_profile_shape

        def set_binding_shape(self: Any, index: int, shape: Sequence[int]) -> bool:
            return self._set_shape(self._tensors[index].name, shape)

        def get_binding_shape(self: Any, index: int) -> Tuple[int, ...]:
            return self._shape_of(self._tensors[index].name)

        def execute_async_v2(self: Any, bindings: Sequence[int], stream_handle: int) -> bool:
            log.append(("execute_async_v2", stream_handle))
            return self._run({t.name: bindings[t.index] for t in self._tensors})

        def execute_async(
            self: Any, batch: int, bindings: Sequence[int], stream_handle: int
        ) -> bool:
            log.append(("execute_async", batch, stream_handle))
            return self._run({t.name: bindings[t.index] for t in self._tensors}, batch=batch)

        context_cls.set_binding_shape = set_binding_shape
        context_cls.get_binding_shape = get_binding_shape
        context_cls.execute_async_v2 = execute_async_v2
        context_cls.execute_async = execute_async

    def _tensor_api(engine_cls: type, context_cls: type) -> None:
        engine_cls.num_io_tensors = property(lambda self: len(self._tensors))
        engine_cls.get_tensor_name = lambda self, i: self._tensors[i].name
        engine_cls.get_tensor_mode = lambda self, name: (
            TensorIOMode.INPUT if self._by_name[name].is_input else TensorIOMode.OUTPUT
        )
        engine_cls.get_tensor_shape = lambda self, name: tuple(self._by_name[name].spec["shape"])
        engine_cls.get_tensor_dtype = lambda self, name: trt_of[self._by_name[name].spec["dtype"]]
        if major >= 10:

            def get_tensor_profile_shape(self: Any, name: str, profile: int) -> Any:
                log.append(("get_tensor_profile_shape", name, profile))
                return [tuple(s) for s in self._by_name[name].spec["profile"]]

            engine_cls.get_tensor_profile_shape = get_tensor_profile_shape

        def set_input_shape(self: Any, name: str, shape: Sequence[int]) -> bool:
            return self._set_shape(name, shape)

        def get_tensor_shape(self: Any, name: str) -> Tuple[int, ...]:
            return self._shape_of(name)

        def set_tensor_address(self: Any, name: str, address: int) -> bool:
            self._addresses[name] = int(address)
            log.append(("set_tensor_address", name, int(address)))
            return True

        def execute_async_v3(self: Any, stream_handle: int) -> bool:
            log.append(("execute_async_v3", stream_handle))
            return self._run(self._addresses)

        context_cls.set_input_shape = set_input_shape
        context_cls.get_tensor_shape = get_tensor_shape
        context_cls.set_tensor_address = set_tensor_address
        context_cls.execute_async_v3 = execute_async_v3

    if has_binding_api:
        _binding_api(ICudaEngine, IExecutionContext)
    if has_tensor_api:
        _tensor_api(ICudaEngine, IExecutionContext)

    class Runtime:
        def __init__(self, logger: Logger) -> None:
            log.append(("create_runtime",))

        def __del__(self) -> None:
            log.append(("destroy", "runtime"))

        def deserialize_cuda_engine(self, plan: Any) -> Optional[ICudaEngine]:
            cuda._require_context("deserialise an engine")
            data = bytes(plan)
            log.append(("deserialize", len(data)))
            if not data.startswith(PLAN_MAGIC):
                return None  # what TensorRT does for a foreign or corrupt plan
            try:
                spec = json.loads(data[len(PLAN_MAGIC) :])
            except ValueError:
                return None
            if spec.get("implicit_batch") and not has_binding_api:
                return None
            return ICudaEngine(spec)

    trt.Runtime = Runtime
    _add_builder(trt, log, major, has_pool_limit, weak_typing)
    return trt


# --------------------------------------------------------------------------- builder


def _version(trt: types.ModuleType) -> Tuple[int, int]:
    major, minor = trt.__version__.split(".")[:2]
    return int(major), int(minor)


def _add_builder(
    trt: types.ModuleType, log: CallLog, major: int, has_pool_limit: bool, weak_typing: bool
) -> None:
    class BuilderFlag:
        GPU_FALLBACK = "GPU_FALLBACK"

    if weak_typing:
        BuilderFlag.FP16 = "FP16"
        BuilderFlag.INT8 = "INT8"

    class NetworkDefinitionCreationFlag:
        STRONGLY_TYPED = 1

    if major < 11:
        NetworkDefinitionCreationFlag.EXPLICIT_BATCH = 0

    class MemoryPoolType:
        WORKSPACE = "WORKSPACE"

    trt.BuilderFlag = BuilderFlag
    trt.NetworkDefinitionCreationFlag = NetworkDefinitionCreationFlag
    if has_pool_limit:
        trt.MemoryPoolType = MemoryPoolType

    if weak_typing:

        class IInt8EntropyCalibrator2:
            def __init__(self) -> None:
                log.append(("calibrator_init",))

        trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2

    class _ITensor:
        def __init__(self, name: str, shape: Sequence[int]) -> None:
            self.name, self.shape = name, tuple(shape)

    class INetworkDefinition:
        def __init__(self, flags: int) -> None:
            self.flags = flags
            self.inputs: List[_ITensor] = []
            self.outputs: List[str] = []

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        def get_input(self, i: int) -> _ITensor:
            return self.inputs[i]

    class _ParserError:
        def __init__(self, text: str) -> None:
            self.text = text

        def __str__(self) -> str:
            return self.text

    class OnnxParser:
        def __init__(self, network: INetworkDefinition, logger: Any) -> None:
            self.network = network
            self.errors: List[_ParserError] = []

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, i: int) -> _ParserError:
            return self.errors[i]

        def parse_from_file(self, path: str) -> bool:
            import onnx

            log.append(("parse_from_file", path))
            try:
                model = onnx.load(path)
            except Exception as exc:
                self.errors.append(_ParserError(f"ModelImporter: failed to parse: {exc}"))
                return False
            inits = {i.name for i in model.graph.initializer}
            for value in model.graph.input:
                if value.name in inits:
                    continue
                uint8 = value.type.tensor_type.elem_type == onnx.TensorProto.UINT8
                if uint8 and _version(trt) < (8, 5):  # the real parser's words (TensorRT 8.2)
                    self.errors.append(_ParserError("Unsupported ONNX data type: UINT8 (2)"))
                    return False
                dims = [
                    d.dim_value if d.HasField("dim_value") else -1
                    for d in value.type.tensor_type.shape.dim
                ]
                self.network.inputs.append(_ITensor(value.name, dims))
            self.network.outputs = [o.name for o in model.graph.output]
            return True

    class IOptimizationProfile:
        def __init__(self) -> None:
            self.shapes: Dict[str, Tuple[Any, Any, Any]] = {}

        def set_shape(self, name: str, lo: Any, opt: Any, hi: Any) -> None:
            self.shapes[name] = (tuple(lo), tuple(opt), tuple(hi))
            log.append(("profile_set_shape", name, tuple(lo), tuple(opt), tuple(hi)))

    class IBuilderConfig:
        def __init__(self) -> None:
            self.flags: List[str] = []
            self.profiles: List[IOptimizationProfile] = []
            self.int8_calibrator: Any = None
            self._workspace: Optional[int] = None

        def set_flag(self, flag: str) -> None:
            self.flags.append(flag)
            log.append(("set_flag", flag))

        def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
            self.profiles.append(profile)
            return len(self.profiles) - 1

    if has_pool_limit:

        def set_memory_pool_limit(self: Any, pool: str, size: int) -> None:
            log.append(("set_memory_pool_limit", pool, size))

        IBuilderConfig.set_memory_pool_limit = set_memory_pool_limit
    else:

        def _set_ws(self: Any, value: int) -> None:
            log.append(("max_workspace_size", value))

        IBuilderConfig.max_workspace_size = property(lambda self: 0, _set_ws)

    class Builder:
        def __init__(self, logger: Any) -> None:
            log.append(("create_builder",))

        if weak_typing:
            platform_has_fast_fp16 = True

        def create_network(self, flags: int = 0) -> INetworkDefinition:
            log.append(("create_network", flags))
            return INetworkDefinition(flags)

        def create_builder_config(self) -> IBuilderConfig:
            return IBuilderConfig()

        def create_optimization_profile(self) -> IOptimizationProfile:
            return IOptimizationProfile()

        def build_serialized_network(
            self, network: INetworkDefinition, config: IBuilderConfig
        ) -> Any:
            log.append(("build_serialized_network",))
            if trt.build_gate is not None:
                trt.build_gate.wait(30)
            trt.builds += 1
            if trt.build_fails:
                return None
            calibrator = config.int8_calibrator
            if calibrator is not None:
                names = [t.name for t in network.inputs]
                while calibrator.get_batch(names) is not None:
                    log.append(("calibration_batch",))
            inputs = []
            for t in network.inputs:
                shape = list(t.shape)
                prof = config.profiles[0].shapes.get(t.name) if config.profiles else None
                profile = [list(s) for s in prof] if prof else [shape, shape, shape]
                inputs.append(
                    {"name": t.name, "shape": shape, "dtype": "float32", "profile": profile}
                )
            outputs = [
                {"name": name, "op": "affine", "source": network.inputs[0].name}
                for name in network.outputs
            ]
            return bytearray(make_plan(inputs, outputs))

    trt.Builder = Builder
    trt.OnnxParser = OnnxParser
