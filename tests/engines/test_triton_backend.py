"""``backend: triton`` against a real KServe v2 server (Seldon MLServer, started here).

Same outputs as ONNX Runtime locally, over gRPC (binary) and HTTP (JSON: MLServer has
no binary extension); the errors a user meets (no server, wrong model name, TLS to a
plaintext server, a slow server, a wrong shape); and a daemon whose server dies and
comes back. Triton itself is not installable here: nothing in these tests ran against it.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from edged.config import parse_config
from edged.config.engine import EngineConfig
from edged.config.triton import TritonConfig
from edged.engines import (
    BackendUnavailableError,
    EngineUnavailableError,
    InputMismatchError,
    ModelLoadError,
    create_engine,
)
from edged.engines.onnxruntime import OnnxRuntimeEngine
from edged.engines.triton import max_batch_of
from edged.pipelines.gauge.pipeline import resolve_model

from .kserve import KServeServer, free_port, mlserver_or_skip

GAUGE_MODEL = Path(resolve_model("weights/gauge_kp_w32.onnx")).resolve()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    executable = mlserver_or_skip()
    if not GAUGE_MODEL.is_file():
        pytest.skip(f"no gauge model at {GAUGE_MODEL}")
    models = {"gauge_kp_w32": (GAUGE_MODEL, {}), "slow": (GAUGE_MODEL, {"delay_s": 3.0})}
    kserve = KServeServer(executable, tmp_path_factory.mktemp("kserve"), models)
    kserve.start()
    yield kserve
    kserve.kill()


def triton(server: KServeServer, protocol: str = "grpc", **fields) -> TritonConfig:
    url = server.grpc_url if protocol == "grpc" else server.http_url
    return TritonConfig(url=url, protocol=protocol, **fields)


def open_remote(server: KServeServer, protocol: str = "grpc", **fields):
    options = EngineConfig(backend="triton", triton=triton(server, protocol, **fields))
    return create_engine(str(GAUGE_MODEL), options=options, name="gauge")


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_the_server_gives_onnxruntimes_outputs_bit_for_bit(server, protocol):
    rng = np.random.default_rng(0)
    batch = rng.random((2, 3, 128, 128), dtype=np.float32)
    with OnnxRuntimeEngine(GAUGE_MODEL) as local, open_remote(server, protocol) as remote:
        assert [(s.name, _dims(s), s.dtype) for s in remote.inputs] == [
            (s.name, _dims(s), s.dtype) for s in local.inputs
        ]
        assert [s.name for s in remote.outputs] == [s.name for s in local.outputs]
        want, got = local.infer({"image": batch}), remote.infer({"image": batch})
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
        info = remote.describe()
    assert info["backend"] == "triton"
    assert info["server"].startswith(protocol)
    assert info["tensors"] == ("binary" if protocol == "grpc" else "json")
    assert info["bytes_per_call"]["sent"] == batch.nbytes
    assert info["metrics"]["count"] == 1


def test_the_batch_limit_comes_from_tritons_model_config(server):
    """Triton lists a batching model's first axis as -1 and its limit in the model config
    (``max_batch_size``, written by ``edged export triton-repo``); MLServer has no config
    endpoint, so there the limit is the shape's own (none for a dynamic axis)."""
    assert max_batch_of({"name": "pose", "max_batch_size": 8}) == 8
    assert max_batch_of({"max_batch_size": "4"}) == 4  # int64 fields come as strings in JSON
    assert max_batch_of({"max_batch_size": 0}) is None and max_batch_of({}) is None
    with open_remote(server) as remote:
        assert remote.max_batch is None and remote.describe()["max_batch_size"] is None


def _dims(spec):
    """Fixed dims as they are, dynamic ones as None (the server does not know ONNX's names)."""
    return tuple(d if isinstance(d, int) else None for d in spec.shape)


def test_no_server_is_a_clear_load_error():
    config = TritonConfig(url=f"127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(
        BackendUnavailableError, match=r"cannot reach the server .*Is the server up"
    ):
        create_engine(str(GAUGE_MODEL), options=EngineConfig(backend="triton", triton=config))


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_failed_connects_leave_no_file_descriptors(protocol):
    """A daemon retries a server that is away for hours: each try must free what it opened
    (tritonclient's HTTP client leaves a gevent hub per thread unless closed on that thread)."""
    config = TritonConfig(url=f"127.0.0.1:{free_port()}", protocol=protocol, timeout_s=1)
    options = EngineConfig(backend="triton", triton=config)

    def try_once() -> None:
        with pytest.raises(BackendUnavailableError):
            create_engine(str(GAUGE_MODEL), options=options)

    try_once()  # the first try imports and sets up what stays (modules, gRPC's threads)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(10):
        try_once()
    # a leak was 2 per try; gRPC's own channels close a moment later, so allow for them
    deadline = time.monotonic() + 5
    while len(os.listdir("/proc/self/fd")) - before > 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(os.listdir("/proc/self/fd")) - before <= 4


def test_a_bearer_token_goes_over_grpc_too(server, tmp_path):
    """gRPC metadata keys must be lower case: 'Authorization' was refused before sending."""
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    headers = {"X-Site": "plant-7"}
    with open_remote(server, "grpc", token_file=str(token), headers=headers) as remote:
        out = remote.infer({"image": np.zeros((1, 3, 64, 64), np.float32)})
    assert set(out) == {s.name for s in remote.outputs}


def test_a_wrong_model_name_lists_what_the_server_has(server):
    with pytest.raises(ModelLoadError) as caught:
        open_remote(server, model_name="gauge_kp_w64")
    message = str(caught.value)
    assert "'gauge_kp_w64' is not ready" in message
    assert "the server has: gauge_kp_w32, slow" in message
    assert "engine.triton.model_name" in message


def test_a_wrong_shape_is_refused_before_it_leaves_the_device(server):
    with open_remote(server) as remote:
        with pytest.raises(InputMismatchError, match="image"):
            remote.infer({"image": np.zeros((1, 1, 64, 64), np.float32)})
        assert remote.calls == 0


def test_tls_to_a_plaintext_server_says_tls_failed(server):
    with pytest.raises(BackendUnavailableError, match="TLS"):
        open_remote(server, ssl=True, timeout_s=3)


def test_a_slow_server_hits_the_timeout(server):
    with open_remote(server, model_name="slow", timeout_s=0.5) as remote:
        started = time.monotonic()
        with pytest.raises(EngineUnavailableError, match=r"did not answer .*timeout 0.5 s"):
            remote.infer({"image": np.zeros((1, 3, 64, 64), np.float32)})
        assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_model_gone_from_the_server_is_waited_for_not_a_broken_frame(tmp_path, protocol):
    """A restarted server answers 'not found' until it has loaded the model again: the
    pipeline must wait for it (EngineUnavailableError), not count failed frames."""
    kserve = KServeServer(mlserver_or_skip(), tmp_path, {"gauge_kp_w32": (GAUGE_MODEL, {})})
    kserve.start()
    try:
        with open_remote(kserve, protocol) as remote:
            frame = {"image": np.zeros((1, 3, 64, 64), np.float32)}
            remote.infer(frame)
            admin = _admin_client(kserve, protocol)
            admin.unload_model("gauge_kp_w32")
            with pytest.raises(EngineUnavailableError, match="has no model 'gauge_kp_w32' now"):
                remote.infer(frame)
            admin.load_model("gauge_kp_w32")
            remote.infer(frame)  # back: the same engine goes on
    finally:
        kserve.kill()


def _admin_client(kserve: KServeServer, protocol: str):
    if protocol == "grpc":
        import tritonclient.grpc as module

        return module.InferenceServerClient(kserve.grpc_url)
    import tritonclient.http as module

    return module.InferenceServerClient(kserve.http_url)


def test_the_token_goes_out_as_a_bearer_header(tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    config = TritonConfig(url="h:1", token_file=str(token), headers={"X-Site": "plant-4"})
    assert config.request_headers() == {"X-Site": "plant-4", "Authorization": "Bearer s3cret"}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_missing_ca_file_is_a_load_error_naming_the_fields(tmp_path, protocol):
    config = TritonConfig(
        url=f"127.0.0.1:{free_port()}",
        protocol=protocol,
        ssl=True,
        ca_file=str(tmp_path / "ca.pem"),
    )
    with pytest.raises(ModelLoadError, match=r"cannot set up the client .*ca_file"):
        create_engine(str(GAUGE_MODEL), options=EngineConfig(backend="triton", triton=config))


def test_a_missing_token_file_is_a_config_error_naming_the_field(tmp_path):
    from edged.config import ConfigError

    missing = tmp_path / "triton.token"
    text = textwrap.dedent(
        f"""
        sources: [{{id: cam0, kind: synthetic}}]
        pipelines:
          - id: people
            kind: pose
            source: cam0
            model: pose.onnx
            engine: {{backend: triton, triton: {{url: "h:8001", token_file: "{missing}"}}}}
        """
    )
    parse_config(text)  # the file is read only when secrets are checked (edged check, start)
    with pytest.raises(ConfigError, match=r"pipelines\[0\]\.engine\.triton\.token_file"):
        parse_config(text, secrets=True)


@pytest.mark.parametrize(
    ("engine", "words"),
    [
        ({"backend": "triton"}, "backend: triton needs a `triton:` section"),
        ({"triton": {"url": "h:8001"}}, "set backend: triton or remove the section"),
        ({"backend": "triton", "triton": {"url": "grpc://h:8001"}}, "without a scheme"),
        ({"backend": "triton", "triton": {"url": "h:1", "ca_file": "ca.pem"}}, "set ssl: true"),
        (
            {"backend": "triton", "triton": {"url": "h:1", "headers": {"Authorization": "x"}}},
            "token_file",
        ),
    ],
)
def test_bad_triton_config_says_what_to_fix(engine, words):
    from edged.config import ConfigError

    text = textwrap.dedent(
        """
        sources: [{id: cam0, kind: synthetic}]
        pipelines:
          - {id: people, kind: pose, source: cam0, model: pose.onnx, engine: %s}
        """
    ) % json.dumps(engine)
    with pytest.raises(ConfigError, match=words):
        parse_config(text)


async def test_a_daemon_waits_for_a_dead_server_and_resumes(tmp_path):
    """The server is killed mid-stream: the pipeline says `waiting` and why, the rest runs on,
    and once the server is back (same ports) readings flow again, with nothing restarted."""
    from edged.daemon import Daemon
    from tests.sourcekit import until

    executable = mlserver_or_skip()
    kserve = KServeServer(executable, tmp_path / "kserve", {"gauge_kp_w32": (GAUGE_MODEL, {})})
    kserve.start()
    text = textwrap.dedent(
        """
        sources: [{id: cam0, kind: synthetic, scene: gauges, gauges: 1, width: 240,
                   height: 240, rate: 5}]
        pipelines:
          - id: dials
            kind: gauge
            source: cam0
            model: %s
            backend: triton
            triton: {url: '%s', timeout_s: 2}
            gauges: [{id: g, min_value: 0, max_value: 10}]
          - {id: moves, kind: motion, source: cam0}
        """
    ) % (GAUGE_MODEL, kserve.grpc_url)
    daemon = Daemon(parse_config(text))
    await daemon.start()
    try:
        runners = daemon.pipelines()
        dials, moves = runners["dials"], runners["moves"]
        await until(lambda: dials.pipeline.processed >= 2, 60)
        kserve.kill()
        await until(lambda: dials.state == "waiting", 30)
        status = dials.status()
        assert "waiting for the engine" in status["last_error"]
        assert "did not answer" in status["last_error"]
        motion_before = moves.pipeline.processed
        await until(lambda: moves.pipeline.processed > motion_before + 3, 10)
        processed = dials.pipeline.processed
        kserve.start()
        await until(lambda: dials.state == "running", 60)
        await until(lambda: dials.pipeline.processed > processed + 2, 30)
        assert sum(t.restarts for t in dials._tasks) == 0
    finally:
        await daemon.stop()
        kserve.kill()
