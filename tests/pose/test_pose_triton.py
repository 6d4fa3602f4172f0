"""The pose pipeline with ``backend: triton``: the same people through a KServe v2 server
(Seldon MLServer, started here) as with ONNX Runtime on the device."""

from __future__ import annotations

import numpy as np
import pytest

from edged.config.pose import PosePipelineConfig
from edged.frames import Frame
from edged.pipelines.pose.pipeline import PosePipeline
from tests.engines.kserve import KServeServer, mlserver_or_skip


def _payloads(model, frames, **engine):
    config = PosePipelineConfig(
        id="people",
        kind="pose",
        source="cam",
        model=str(model),
        cmap_threshold=0.05,  # the fixture's weights peak near 0.1: keypoints to compare
        engine=engine,
    )
    pipeline = PosePipeline(config)
    pipeline.open()
    try:
        return [
            pipeline.process(Frame("cam", i, 1000.0, 5.0, f)).payload for i, f in enumerate(frames)
        ]
    finally:
        pipeline.close()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_people_through_the_server_are_the_people_found_locally(resnet18_onnx, tmp_path, protocol):
    executable = mlserver_or_skip()
    name = resnet18_onnx.name.split(".")[0]  # the default model_name: the file's stem
    server = KServeServer(executable, tmp_path / "kserve", {name: (resnet18_onnx, {})})
    server.start()
    try:
        rng = np.random.default_rng(11)
        frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(2)]
        url = server.grpc_url if protocol == "grpc" else server.http_url
        remote = _payloads(
            resnet18_onnx,
            frames,
            backend="triton",
            triton={"url": url, "protocol": protocol, "timeout_s": 30},
        )
        local = _payloads(resnet18_onnx, frames, backend="onnxruntime")
    finally:
        server.kill()
    assert all(payload["persons"] for payload in local)
    assert remote == local
