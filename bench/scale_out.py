#!/usr/bin/env python3
"""Per-call cost of ``backend: triton`` over loopback against ONNX Runtime on the device.

    EDGED_MLSERVER=.../mlserver python bench/scale_out.py [--calls 50] [--rounds 5] [--write FILE]

The server is Seldon MLServer (KServe v2, the protocol Triton speaks), started here on
loopback and serving the same ONNX file with ONNX Runtime; the client is edged's
``TritonEngine`` (tritonclient), gRPC and HTTP (JSON: MLServer lacks Triton's binary
extension). Rounds interleave local, gRPC and HTTP calls on the same inputs.

The model is pose-shaped (input 1x3x224x224, outputs cmap 1x18x56x56 and paf
1x42x56x56, as trt_pose resnet18 at 224) but nearly free to run (a 4x4 average pool and
two 1x1 convolutions), so what is measured is what the backend adds: serialising,
loopback transfer, the server's request handling. A second variant takes the frame as
uint8 1x224x224x3 (``edged export pose --input-format bgr-uint8``): a quarter of the bytes.
Triton's own server (C++) handles requests faster than MLServer (Python); these figures
are an upper bound for Triton on the same machine. Not measured here: cross-camera
batching (not built yet).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edged.config.engine import EngineConfig  # noqa: E402
from edged.engines import create_engine  # noqa: E402
from edged.engines.onnxruntime import OnnxRuntimeEngine  # noqa: E402
from tests.engines.kserve import INSTALL_HINT, KServeServer  # noqa: E402

GOAL_MS = 2.0


def pose_shaped_model(path: Path, frame_input: bool) -> Path:
    """A model with trt_pose resnet18's interface at 224x224 that costs almost nothing."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits = [], []
    source = "input"
    if frame_input:  # uint8 NHWC -> float NCHW, as the bgr-uint8 export does first
        nodes += [
            helper.make_node("Cast", ["input"], ["as_float"], to=TensorProto.FLOAT),
            helper.make_node("Transpose", ["as_float"], ["nchw"], perm=[0, 3, 1, 2]),
        ]
        source = "nchw"
    nodes.append(
        helper.make_node("AveragePool", [source], ["pooled"], kernel_shape=[4, 4], strides=[4, 4])
    )
    for name, channels in (("cmap", 18), ("paf", 42)):
        weight = numpy_helper.from_array(
            rng.standard_normal((channels, 3, 1, 1)).astype(np.float32), f"w_{name}"
        )
        inits.append(weight)
        nodes.append(helper.make_node("Conv", ["pooled", f"w_{name}"], [name]))
    if frame_input:
        given = helper.make_tensor_value_info("input", TensorProto.UINT8, [1, 224, 224, 3])
    else:
        given = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])
    outputs = [
        helper.make_tensor_value_info("cmap", TensorProto.FLOAT, [1, 18, 56, 56]),
        helper.make_tensor_value_info("paf", TensorProto.FLOAT, [1, 42, 56, 56]),
    ]
    graph = helper.make_graph(nodes, "pose_shaped", [given], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def time_calls(engine, feed: Dict[str, np.ndarray], calls: int) -> Tuple[List[float], float]:
    """Wall ms of each call, and this process's CPU ms per call (all its threads: for a
    remote engine, what the client side costs; the rest of the wall time is the server's
    and the loopback's)."""
    times = []
    cpu0 = time.process_time()
    for _ in range(calls):
        t0 = time.perf_counter()
        engine.infer(feed)
        times.append((time.perf_counter() - t0) * 1000.0)
    return times, (time.process_time() - cpu0) * 1000.0 / calls


def run(calls: int, rounds: int, executable: str) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="edged-scale-out-"))
    models = {
        "pose_float": pose_shaped_model(workdir / "pose_float.onnx", frame_input=False),
        "pose_frame": pose_shaped_model(workdir / "pose_frame.onnx", frame_input=True),
    }
    server = KServeServer(executable, workdir / "repo", {n: (p, {}) for n, p in models.items()})
    server.start()
    rng = np.random.default_rng(1)
    feeds = {
        "pose_float": {"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)},
        "pose_frame": {"input": rng.integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)},
    }
    results: dict = {}
    try:
        for name, path in models.items():
            engines = {"onnxruntime (local)": OnnxRuntimeEngine(path, intra_op_threads=1)}
            for protocol, url in (("grpc", server.grpc_url), ("http", server.http_url)):
                options = EngineConfig(
                    backend="triton", triton={"url": url, "protocol": protocol, "timeout_s": 30}
                )
                engines[f"triton {protocol}"] = create_engine(str(path), options=options)
            samples: Dict[str, List[float]] = {k: [] for k in engines}
            cpu: Dict[str, List[float]] = {k: [] for k in engines}
            for round_index in range(rounds + 1):  # round 0 warms up, not counted
                for label, engine in engines.items():
                    got, cpu_ms = time_calls(engine, feeds[name], calls)
                    if round_index:
                        samples[label].extend(got)
                        cpu[label].append(cpu_ms)
            described = {k: e.describe() for k, e in engines.items()}
            for engine in engines.values():
                engine.close()
            results[name] = {
                label: {
                    "median": statistics.median(values),
                    "p90": sorted(values)[int(0.9 * (len(values) - 1))],
                    "client_cpu": statistics.median(cpu[label]),
                    "bytes": described[label].get("bytes_per_call"),
                    "tensors": described[label].get("tensors", "-"),
                }
                for label, values in samples.items()
            }
    finally:
        server.kill()
    return {"results": results, "calls": calls, "rounds": rounds}


def markdown(result: dict, command: str) -> str:
    lines = [
        "## Triton backend per-call overhead over loopback (`bench/scale_out.py`)",
        "",
        f"Command: `{command}`",
        "",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; server: Seldon MLServer on loopback (ONNX Runtime inside), "
        f"client: edged's TritonEngine (tritonclient). {result['calls']} calls per round, "
        f"{result['rounds']} rounds after a warm-up round, local / gRPC / HTTP interleaved.",
        "- Model: trt_pose resnet18's interface at 224x224 (cmap 1x18x56x56, paf 1x42x56x56, "
        "752,640 bytes back) with almost no compute, so the difference is the backend's cost.",
        "",
        "| model input | path | tensors | bytes sent / received per call | median ms/call "
        "| P90 | client CPU ms/call | overhead vs local (median) | goal <= 2 ms |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    titles = {"pose_float": "float32 1x3x224x224", "pose_frame": "uint8 1x224x224x3 (bgr-uint8)"}
    for name, paths in result["results"].items():
        local = paths["onnxruntime (local)"]["median"]
        for label, row in paths.items():
            sent = row["bytes"] or {}
            size = f"{sent.get('sent', 0):,} / {sent.get('received', 0):,}" if sent else "-"
            over = row["median"] - local
            verdict = "-" if label.startswith("onnx") else ("met" if over <= GOAL_MS else "NOT met")
            lines.append(
                f"| {titles[name]} | {label} | {row['tensors']} | {size} | **{row['median']:.3f}**"
                f" | {row['p90']:.3f} | {row['client_cpu']:.3f} | {over:+.3f} | {verdict} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", help="also write the figures (markdown) to this file")
    args = parser.parse_args()
    executable = os.environ.get("EDGED_MLSERVER") or "mlserver"
    if not os.path.exists(executable) and not any(
        os.access(os.path.join(d, executable), os.X_OK) for d in os.environ["PATH"].split(":")
    ):
        sys.exit(f"MLServer not found: {INSTALL_HINT}")
    result = run(args.calls, args.rounds, executable)
    text = markdown(
        result, f"python bench/scale_out.py --calls {args.calls} --rounds {args.rounds}"
    )
    print(text)
    if args.write:
        Path(args.write).write_text(text)


if __name__ == "__main__":
    main()
