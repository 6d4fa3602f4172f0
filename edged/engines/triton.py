"""The Triton backend: a model served by an inference server that speaks KServe v2.

The edge device keeps capture, parsing, MQTT and the preview; the tensors go to
a GPU server (NVIDIA Triton, or KServe / Seldon MLServer, which speak the same
open inference protocol) through NVIDIA's own client, ``tritonclient``. To the
pipelines it is one more ``Engine``: inputs and outputs come from the server's
model metadata, calls are validated before they leave the device, and the base
class keeps the metrics.

A server that cannot be reached, or does not answer within ``timeout_s``, is not a
broken model: calls raise ``EngineUnavailableError`` and the pipeline waits and
retries with backoff (its status says why) while the rest of the daemon runs. At
load time the same condition fails the load with the reason, and the daemon retries
the pipeline with backoff, as for a camera that is not there yet.

gRPC sends tensors as raw bytes. Over HTTP, Triton's binary-data extension is used
when the server lists it (``binary: auto``); Seldon MLServer does not, and gets JSON.

All client calls run on the engine's single worker thread: tritonclient's HTTP
client is built on gevent, whose connections belong to the thread that made them.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar, Union

import numpy as np

from edged.config.triton import TritonConfig

from .base import Engine
from .digest import model_sha256
from .errors import (
    BackendUnavailableError,
    EngineClosedError,
    EngineUnavailableError,
    InferenceError,
    ModelLoadError,
)
from .tensors import Dim, TensorSpec

__all__ = ["TritonEngine", "remote_model_name"]

T = TypeVar("T")

#: KServe v2 datatypes -> numpy dtypes
DATATYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
#: gRPC status codes that mean "the server is not there (now)", not "the request is wrong"
_UNAVAILABLE_CODES = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "RESOURCE_EXHAUSTED")


def remote_model_name(model_path: Union[str, os.PathLike], config: TritonConfig) -> str:
    """The model's name on the server: ``model_name``, else the file's stem."""
    return config.model_name or Path(os.fspath(model_path)).name.split(".")[0]


class TritonEngine(Engine):
    """One model on a KServe v2 server, through ``tritonclient`` (gRPC or HTTP)."""

    backend = "triton"

    def __init__(
        self,
        model_path: Union[str, os.PathLike],
        config: TritonConfig,
        *,
        name: Optional[str] = None,
        sha256: Optional[str] = None,
    ) -> None:
        self.config = config
        self.model_name = remote_model_name(model_path, config)
        self.where = f"{'grpcs' if config.ssl else 'grpc'}://{config.url}"
        if config.protocol == "http":
            self.where = f"{'https' if config.ssl else 'http'}://{config.url}"
        super().__init__(
            model_path, name=name, sha256=sha256 or _identity(model_path, config, self.model_name)
        )
        self._module = _import_client(config.protocol)
        self._headers = config.request_headers()
        if config.protocol == "grpc":  # gRPC metadata keys must be lower case
            self._headers = {k.lower(): v for k, v in self._headers.items()}
        self._client: Any = None
        self._binary = True
        self._server_max_batch: Optional[int] = None
        self.calls = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        try:
            inputs, outputs, server = self._on_worker(self._connect)
        except BaseException:
            self.close()
            raise
        self._server = server
        self._set_io(inputs, outputs)
        self.log.info(
            "model %r on %s (%s %s), %s tensors",
            self.model_name,
            self.where,
            server.get("name", "?"),
            server.get("version", "?"),
            "binary" if self._binary else "JSON",
        )

    # --- connecting --------------------------------------------------------------

    def _connect(self) -> Tuple[List[TensorSpec], List[TensorSpec], Dict[str, Any]]:
        """Open the client, check server and model, read the model's tensors (worker thread)."""
        try:
            self._client = self._make_client()
        except (OSError, ValueError) as exc:  # a TLS file missing or unreadable, a bad url
            raise ModelLoadError(
                f"cannot set up the client for {self.where}: {_first_line(exc)}; check "
                "engine.triton's url, ca_file, cert_file and key_file"
            ) from exc
        server = self._ask("reach the server", self._server_metadata)
        ready = self._ask(
            "ask whether the model is ready",
            lambda: self._client.is_model_ready(
                self.model_name, self.config.model_version, **self._call_kwargs()
            ),
        )
        if not ready:
            raise ModelLoadError(self._no_such_model())
        metadata = self._ask("read the model's metadata", self._model_metadata)
        inputs = [_spec(self.model_name, t) for t in metadata.get("inputs", [])]
        outputs = [_spec(self.model_name, t) for t in metadata.get("outputs", [])]
        if not inputs or not outputs:
            raise ModelLoadError(
                f"model {self.model_name!r} on {self.where} lists no inputs or outputs in its "
                "metadata; edged needs both to validate calls"
            )
        self._server_max_batch = self._max_batch_size()
        extensions = server.get("extensions", [])
        if self.config.protocol == "http":
            self._binary = self.config.binary == "on" or (
                self.config.binary == "auto" and "binary_tensor_data" in extensions
            )
        return inputs, outputs, server

    def _max_batch_size(self) -> Optional[int]:
        """Triton's ``max_batch_size`` from the model's config; None where the server has no
        config extension (MLServer, KServe) or the model does not batch."""
        try:
            answer = self._as_json("get_model_config", self.model_name, self.config.model_version)
        except Exception:
            return None
        return max_batch_of(answer.get("config", answer))  # gRPC wraps it in "config"

    @property
    def max_batch(self) -> Optional[int]:
        """The first axis's own limit, and the server's ``max_batch_size`` where it has one
        (the metadata shows a batching model's first axis as -1: a pipeline gathering
        frames from many cameras must not send more than the server takes)."""
        limits = [m for m in (super().max_batch, self._server_max_batch) if m is not None]
        return min(limits) if limits else None

    def _make_client(self) -> Any:
        config, module = self.config, self._module
        for field in ("ca_file", "cert_file", "key_file"):
            path = getattr(config, field)
            if path and not os.path.isfile(path):
                raise FileNotFoundError(f"engine.triton.{field} {path}: no such file")
        if config.protocol == "grpc":
            return module.InferenceServerClient(
                config.url,
                ssl=config.ssl,
                root_certificates=config.ca_file,
                private_key=config.key_file,
                certificate_chain=config.cert_file,
            )
        kwargs: Dict[str, Any] = {
            "connection_timeout": config.timeout_s,
            "network_timeout": config.timeout_s,
            "ssl": config.ssl,
        }
        if config.ssl:
            import ssl

            options: Dict[str, Any] = {}
            if config.cert_file:
                options.update(certfile=config.cert_file, keyfile=config.key_file)
            kwargs["ssl_options"] = options
            # verify the server (tritonclient's own default context does not)
            kwargs["ssl_context_factory"] = lambda cafile=None: ssl.create_default_context(
                cafile=config.ca_file or cafile
            )
        return module.InferenceServerClient(config.url, **kwargs)

    def _call_kwargs(self) -> Dict[str, Any]:
        kwargs: Dict[str, Any] = {"headers": self._headers or None}
        if self.config.protocol == "grpc":
            kwargs["client_timeout"] = self.config.timeout_s
        return kwargs

    def _as_json(self, method: str, *args: Any) -> Any:
        """A setup call's answer as dicts and lists (the gRPC client gives protobufs unless
        asked for JSON; the HTTP client always gives JSON)."""
        as_json = {"as_json": True} if self.config.protocol == "grpc" else {}
        return getattr(self._client, method)(*args, **as_json, **self._call_kwargs())

    def _server_metadata(self) -> Dict[str, Any]:
        return self._as_json("get_server_metadata")

    def _model_metadata(self) -> Dict[str, Any]:
        return self._as_json("get_model_metadata", self.model_name, self.config.model_version)

    def _ask(self, what: str, call: Callable[[], T]) -> T:
        """Run a setup call; a server not there is ``BackendUnavailableError``, a refusal
        ``ModelLoadError``, each saying what edged tried and what to check."""
        try:
            return call()
        except Exception as exc:
            detail = _first_line(exc)
            if _is_unavailable(exc):
                raise BackendUnavailableError(
                    f"cannot {what} at {self.where}: {detail}. {self._reach_hint(detail)}"
                ) from exc
            if _status(exc) == "NOT_FOUND" or "not found" in detail.lower():
                raise ModelLoadError(self._no_such_model(detail)) from exc
            raise ModelLoadError(f"{self.where} refused to {what}: {detail}") from exc

    def _reach_hint(self, detail: str) -> str:
        lowered = detail.lower()
        tls_words = ("ssl", "tls", "handshake", "certificate")
        if self.config.ssl and any(word in lowered for word in tls_words):
            return (
                "TLS failed: does the server speak TLS on this port, and is its certificate "
                "signed by ca_file (or a system CA) for this host name?"
            )
        if self.config.ssl:
            return "Is the server up, and does it speak TLS on this port (ssl: true)?"
        return (
            f"Is the server up and listening there ({self.config.protocol}: Triton's default "
            f"port is {'8001' if self.config.protocol == 'grpc' else '8000'})? edged retries."
        )

    def _no_such_model(self, detail: str = "not ready") -> str:
        version = f" version {self.config.model_version}" if self.config.model_version else ""
        known = self._known_models()
        listing = f"; the server has: {', '.join(known)}" if known else ""
        return (
            f"model {self.model_name!r}{version} is not ready on {self.where} ({detail}){listing}. "
            "Set engine.triton.model_name to the name in the server's model repository "
            "(edged export triton-repo writes one)"
        )

    def _known_models(self) -> List[str]:
        try:
            index = self._as_json("get_model_repository_index")
            if isinstance(index, dict):  # gRPC: {"models": [...]}, HTTP: the list
                index = index.get("models", [])
            return sorted({str(m.get("name")) for m in index if m.get("name")})
        except Exception:
            return []  # the listing is a courtesy; not every server has the extension

    # --- running -----------------------------------------------------------------

    def _on_worker(self, call: Callable[[], T]) -> T:
        """Run ``call`` on the engine's worker thread (there already: directly)."""
        if threading.get_ident() == self._worker_ident:
            return call()
        try:
            future = self.executor.submit(call)
        except RuntimeError as exc:  # closed between the check and the submit
            raise EngineClosedError(f"engine {self.name!r} is closed") from exc
        return future.result()

    def _run(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return self._on_worker(lambda: self._infer(inputs))

    def _infer(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        module, binary = self._module, self._binary
        request = []
        sent = 0
        for spec in self.inputs:
            array = np.ascontiguousarray(inputs[spec.name])
            tensor = module.InferInput(spec.name, list(array.shape), _datatype(array.dtype))
            if self.config.protocol == "grpc":
                tensor.set_data_from_numpy(array)
            else:
                tensor.set_data_from_numpy(array, binary_data=binary)
            request.append(tensor)
            sent += array.nbytes
        if self.config.protocol == "grpc":
            wanted = [module.InferRequestedOutput(o.name) for o in self.outputs]
        else:
            wanted = [module.InferRequestedOutput(o.name, binary_data=binary) for o in self.outputs]
        try:
            result = self._client.infer(
                self.model_name,
                request,
                model_version=self.config.model_version,
                outputs=wanted,
                **self._call_kwargs(),
            )
        except Exception as exc:
            detail = _first_line(exc)
            if _is_unavailable(exc):
                raise EngineUnavailableError(
                    f"Triton server {self.where} did not answer for model {self.model_name!r} "
                    f"(timeout {self.config.timeout_s:g} s): {detail}"
                ) from exc
            if _status(exc) in ("NOT_FOUND", "404"):  # it served the model at load time
                raise EngineUnavailableError(
                    f"Triton server {self.where} has no model {self.model_name!r} now (restarted "
                    f"and still loading it, or it was unloaded): {detail}"
                ) from exc
            raise InferenceError(
                f"Triton server {self.where} refused a call to {self.model_name!r}: {detail}"
            ) from exc
        outputs = {}
        for spec in self.outputs:
            array = result.as_numpy(spec.name)
            if array is None:
                raise InferenceError(
                    f"Triton server {self.where} returned no {spec.name!r} for {self.model_name!r}"
                )
            outputs[spec.name] = array
            self.bytes_received += array.nbytes
        self.bytes_sent += sent
        self.calls += 1
        return outputs

    def close(self) -> None:
        """Close the client on the worker thread that made it, then the engine.

        The HTTP client is gevent's: its connections and the thread's event hub (two file
        descriptors) belong to the worker thread and are freed only there. A daemon whose
        server stays away for a day reconnects thousands of times; each must leave nothing.
        """
        with self._state_lock:
            executor = None if self._closed else self._executor
        if executor is not None:
            if threading.get_ident() == self._worker_ident:
                self._close_client()
            else:
                try:
                    executor.submit(self._close_client).result()
                except RuntimeError:  # the executor was shut down meanwhile
                    pass
        super().close()

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:
                self.log.debug("closing the Triton client", exc_info=True)
        if self.config.protocol == "http":
            _destroy_gevent_hub()

    def _release(self) -> None:
        client, self._client = self._client, None  # close() frees it on the worker; a fallback
        if client is not None:
            try:
                client.close()
            except Exception:
                self.log.debug("closing the Triton client", exc_info=True)

    def _describe_backend(self) -> Dict[str, Any]:
        calls = max(1, self.calls)
        return {
            "server": self.where,
            "server_name": f"{self._server.get('name', '?')} {self._server.get('version', '')}",
            "model_name": self.model_name,
            "model_version": self.config.model_version or "latest",
            "protocol": self.config.protocol,
            "tensors": "binary" if self._binary else "json",
            "timeout_s": self.config.timeout_s,
            "max_batch_size": self._server_max_batch,
            "bytes_per_call": {
                "sent": self.bytes_sent // calls,
                "received": self.bytes_received // calls,
            },
        }


def max_batch_of(config: Mapping[str, Any]) -> Optional[int]:
    """``max_batch_size`` of a Triton model configuration (JSON form); None when it is 0
    (the model does not batch: its first axis is whatever its shape says)."""
    try:
        value = int(config.get("max_batch_size") or 0)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def _destroy_gevent_hub() -> None:
    """Free this thread's gevent hub and its loop (tritonclient's HTTP client made them)."""
    try:
        import gevent

        gevent.get_hub().destroy(destroy_loop=True)
    except Exception:  # no hub, or gevent not installed: nothing to free
        pass


def _import_client(protocol: str) -> Any:
    try:
        if protocol == "grpc":
            import tritonclient.grpc as module
        else:
            import tritonclient.http as module
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend: triton ({protocol}) needs NVIDIA's client: pip install 'edged[triton]' "
            f"({exc})"
        ) from exc
    return module


def _identity(model_path: Union[str, os.PathLike], config: TritonConfig, name: str) -> str:
    """The local file's sha256 when there is one (the same model served here and there),
    else a digest of where the model lives (no file on the device)."""
    if os.path.isfile(model_path):
        return model_sha256(model_path)
    where = f"triton:{config.protocol}:{config.url}/{name}/{config.model_version}"
    return hashlib.sha256(where.encode()).hexdigest()


def _spec(model: str, tensor: Mapping[str, Any]) -> TensorSpec:
    datatype = str(tensor.get("datatype"))
    dtype = DATATYPES.get(datatype)
    if dtype is None:
        raise ModelLoadError(
            f"model {model!r}: tensor {tensor.get('name')!r} has datatype {datatype}, which "
            f"edged does not send or read (it handles {', '.join(DATATYPES)})"
        )
    shape: Tuple[Dim, ...] = tuple(int(d) if int(d) > 0 else None for d in tensor.get("shape", []))
    return TensorSpec(str(tensor["name"]), shape, np.dtype(dtype))


def _datatype(dtype: np.dtype) -> str:
    for name, candidate in DATATYPES.items():
        if np.dtype(candidate) == dtype:
            return name
    raise InferenceError(f"no KServe v2 datatype for numpy {dtype}")


def _status(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    text = str(status() if callable(status) else status or "")
    return text.rsplit(".", 1)[-1]


def _is_unavailable(exc: BaseException) -> bool:
    """The server is not there or too slow, as opposed to refusing the request."""
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    if type(exc).__name__ == "Timeout":  # gevent's, raised by the HTTP client
        return True
    status = _status(exc)
    if status in _UNAVAILABLE_CODES or status in ("502", "503", "504"):  # 502: a proxy's
        return True
    text = str(exc).lower()
    return "connection refused" in text or "timed out" in text or "failed to connect" in text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
