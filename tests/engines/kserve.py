"""A real KServe v2 inference server for the Triton backend's tests: Seldon MLServer.

Triton itself is not installable here; MLServer speaks the same protocol (gRPC and
HTTP) and ``tritonclient`` talks to it. It serves ONNX files with ONNX Runtime
through ``tests/servers/kserve/onnx_runtime.py``. MLServer pins its own versions of
pydantic, protobuf and friends, so it lives in its own environment: set
``EDGED_MLSERVER`` to its ``mlserver`` executable (``.ci/run`` does), or put
``mlserver`` on PATH. Tests skip, saying how to install it, where it is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

RUNTIME = Path(__file__).resolve().parents[1] / "servers" / "kserve" / "onnx_runtime.py"
INSTALL_HINT = (
    "python3 -m venv ~/.mlserver && ~/.mlserver/bin/pip install mlserver onnxruntime, "
    "then export EDGED_MLSERVER=~/.mlserver/bin/mlserver"
)


def mlserver_or_skip() -> str:
    """The ``mlserver`` executable, or a skip that says how to install it."""
    pytest.importorskip("tritonclient.grpc", reason="tritonclient not installed (edged[triton])")
    found = os.environ.get("EDGED_MLSERVER") or shutil.which("mlserver")
    if not found or not os.access(found, os.X_OK):
        pytest.skip(f"MLServer (a KServe v2 server) not found: {INSTALL_HINT}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KServeServer:
    """MLServer on loopback serving ``models`` (``{name: (onnx path, extra parameters)}``).

    ``start()`` waits until every model answers ready; ``kill()`` stops it hard (a
    crash, as the tests need); ``start()`` again brings it back on the same ports.
    """

    def __init__(self, executable: str, root: Path, models: Dict[str, Tuple[Path, dict]]):
        self.executable = executable
        self.root = root
        self.models = models
        self.http_port, self.grpc_port = free_port(), free_port()
        self.process: Optional[subprocess.Popen] = None
        self.log_path = root / "mlserver.log"
        self._write_repository()

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def _write_repository(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.copy(RUNTIME, self.root / RUNTIME.name)
        settings = {
            "host": "127.0.0.1",
            "http_port": self.http_port,
            "grpc_port": self.grpc_port,
            "metrics_port": free_port(),
            "parallel_workers": 0,
        }
        (self.root / "settings.json").write_text(json.dumps(settings))
        for name, (path, extra) in self.models.items():
            folder = self.root / name
            folder.mkdir(exist_ok=True)
            model = {
                "name": name,
                "implementation": "onnx_runtime.OnnxRuntimeModel",
                "parameters": {"uri": str(Path(path).resolve()), "extra": extra},
            }
            (folder / "model-settings.json").write_text(json.dumps(model))

    def start(self, timeout_s: float = 90.0) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [self.executable, "start", str(self.root)],
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        pending = set(self.models)
        while pending:
            if self.process.poll() is not None:
                raise RuntimeError(f"MLServer exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"MLServer not ready in {timeout_s:.0f} s: {self.log_tail()}")
            pending = {n for n in pending if not self._ready(n)}
            time.sleep(0.2)

    def _ready(self, name: str) -> bool:
        url = f"http://{self.http_url}/v2/models/{name}/ready"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the server's whole process group: the server is gone, as in a crash."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self.process = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
