"""Where a pipeline's model runs when it runs on a Triton server (``engine.triton``).

Any server that speaks the KServe v2 open inference protocol works: NVIDIA Triton,
KServe, Seldon MLServer. Imports only pydantic and the standard library.
"""

from __future__ import annotations

from typing import Any, Dict, Literal, Optional

from pydantic import Field, SecretStr, field_validator, model_validator

from edged.config.base import EdgedModel, word_for_bool
from edged.config.secrets import check_one_secret_source, resolve_secret

__all__ = ["TritonConfig", "check_triton_section"]


class TritonConfig(EdgedModel):
    """A KServe v2 inference server and the model on it."""

    url: str = Field(
        ...,
        description="host:port of the server, without a scheme: Triton listens on 8001 for "
        "gRPC and 8000 for HTTP",
    )
    protocol: Literal["grpc", "http"] = Field(
        "grpc", description="gRPC (binary tensors, the faster) or HTTP"
    )
    model_name: Optional[str] = Field(
        None, description="the model's name on the server; default: the model file's stem"
    )
    model_version: str = Field("", description="version on the server; empty = the latest")
    timeout_s: float = Field(
        5.0, gt=0, le=600, description="a call that takes longer counts as the server being down"
    )
    ssl: bool = Field(False, description="TLS to the server (grpcs / https)")
    ca_file: Optional[str] = Field(
        None, description="PEM file of the CA that signed the server's certificate"
    )
    cert_file: Optional[str] = Field(None, description="client certificate (PEM), mutual TLS")
    key_file: Optional[str] = Field(None, description="client key (PEM), mutual TLS")
    token: Optional[SecretStr] = Field(
        None, description="bearer token sent as 'Authorization: Bearer …' (prefer token_file)"
    )
    token_file: Optional[str] = Field(None, description="file holding the bearer token")
    token_env: Optional[str] = Field(None, description="environment variable holding the token")
    headers: Dict[str, str] = Field(
        default_factory=dict, description="extra request headers (not secrets: use token_*)"
    )
    fallback: Literal["none", "onnxruntime"] = Field(
        "none",
        description="while the server cannot be reached, run the model file on ONNX Runtime "
        "here (the file must exist on the device); none = the pipeline waits for the server",
    )
    binary: Literal["auto", "on", "off"] = Field(
        "auto",
        description="HTTP only: binary tensor data (Triton's extension); auto = when the server "
        "lists binary_tensor_data in its extensions (gRPC is always binary)",
    )

    @field_validator("binary", mode="before")
    @classmethod
    def _binary_word(cls, value: Any) -> Any:
        return word_for_bool(value)  # `binary: off` in the file is read as false

    @field_validator("url")
    @classmethod
    def _no_scheme(cls, value: str) -> str:
        if "://" in value:
            raise ValueError(
                f"url {value!r}: give host:port without a scheme (e.g. triton.local:8001); "
                "set ssl: true for TLS"
            )
        if not value.strip():
            raise ValueError("url is empty; give host:port, e.g. triton.local:8001")
        return value.strip()

    @model_validator(mode="after")
    def _consistent(self) -> TritonConfig:
        check_one_secret_source("token", self.token, self.token_file, self.token_env)
        tls_files = [n for n in ("ca_file", "cert_file", "key_file") if getattr(self, n)]
        if tls_files and not self.ssl:
            raise ValueError(f"{', '.join(tls_files)} given but ssl is false; set ssl: true")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("mutual TLS needs both cert_file and key_file")
        if "authorization" in {k.lower() for k in self.headers}:
            raise ValueError(
                "put the Authorization token in token_file (or token_env), not headers"
            )
        return self

    def resolved_token(self) -> Optional[str]:
        """The bearer token from whichever of the three fields is set (reads file/env now;
        ``edged check`` reads it too, so a missing token file is a config error)."""
        return resolve_secret("token", self.token, self.token_file, self.token_env)

    def request_headers(self) -> Dict[str, str]:
        """Headers for every request, the bearer token included (reads file/env now)."""
        headers = dict(self.headers)
        token = self.resolved_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers


def check_triton_section(backend: str, triton: Optional[TritonConfig]) -> None:
    """``backend: triton`` and a ``triton:`` section go together; either alone is a mistake."""
    if backend == "triton" and triton is None:
        raise ValueError("backend: triton needs a `triton:` section with at least url")
    if triton is not None and backend != "triton":
        raise ValueError(
            f"a `triton:` section is given but backend is {backend!r}; "
            "set backend: triton or remove the section"
        )
