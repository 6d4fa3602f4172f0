#!/usr/bin/env python3
"""`edged infer` throughput versus a bare ONNX Runtime loop over the same preprocessed frames.

Both sides use one InferenceSession built with edged's session options, so the
ratio measures what edged adds around the model: video decode, preprocessing,
the trt_pose parse, message building and the JSONL write. Rounds alternate
(edged, bare, edged, bare, ...) so machine noise hits both alike.

    python bench/pose_pipeline.py [--model X.onnx] [--frames 24] [--rounds 3] [--write FILE]

Without --model, the trt_pose fixture checkpoint in ../shared/testdata is rebuilt
and exported (needs torch).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edged.config.pose import PosePipelineConfig  # noqa: E402
from edged.cvutil import import_cv2  # noqa: E402
from edged.offline import OfflineJob  # noqa: E402
from edged.pipelines.pose.preprocess import PosePreprocessor  # noqa: E402


def fixture_model(workdir: Path) -> Path:
    import torch

    from edged.pipelines.pose.export import export_pose_onnx

    shared = Path(os.environ.get("EDGED_SHARED_TESTDATA", REPO.parent / "shared" / "testdata"))
    models = shared / "trt_pose_models"
    spec = importlib.util.spec_from_file_location("rebuild", models / "rebuild.py")
    rebuild = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rebuild)
    checkpoint = workdir / "resnet18_baseline_att.pth"
    torch.save(rebuild.rebuild_state_dict(str(models / "resnet18_baseline_att.npz")), checkpoint)
    out = workdir / "resnet18_baseline_att_224x224.onnx"
    export_pose_onnx("resnet18_baseline_att", checkpoint, out)
    return out


def write_video(path: Path, frames: int) -> list:
    cv2 = import_cv2()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(frames)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (640, 480))
    for image in images:
        writer.write(image)
    writer.release()
    # What the pipeline will actually see: the decoded frames.
    capture = cv2.VideoCapture(str(path))
    decoded = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        decoded.append(image)
    return decoded


def run_edged(model: Path, video: Path, out: Path) -> float:
    config = PosePipelineConfig(
        id="pose",
        kind="pose",
        source="input",
        model=str(model),
        engine={"backend": "onnxruntime", "warmup_iters": 1},
    )
    job = OfflineJob(config, str(video), str(out))
    summary = job.run(progress=None)
    return summary["frames"] / summary["seconds"]


def run_bare(session, tensors: list) -> float:
    start = time.perf_counter()
    for tensor in tensors:
        session.run(None, {"input": tensor})
    return len(tensors) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", help="also write the figures (markdown) to this file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edged-bench-pose-"))
    model = Path(args.model) if args.model else fixture_model(work)
    video = work / "frames.avi"
    decoded = write_video(video, args.frames)
    pre = PosePreprocessor(224, 224)
    tensors = [pre(image).copy() for image in decoded]

    import onnxruntime as ort

    from edged.config.engine import EngineConfig
    from edged.engines.onnxruntime import session_options

    defaults = EngineConfig()
    options = session_options(
        ort, defaults.intra_op_threads, defaults.inter_op_threads, defaults.allow_spinning
    )
    session = ort.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    session.run(None, {"input": tensors[0]})
    edged_fps, bare_fps, ratios = [], [], []
    for _ in range(args.rounds):
        e = run_edged(model, video, work / "out.jsonl")
        b = run_bare(session, tensors)
        edged_fps.append(e)
        bare_fps.append(b)
        ratios.append(e / b)
    lines = [
        "## Pose pipeline: `edged infer` vs a bare ONNX Runtime loop",
        "",
        f"Command: `python bench/pose_pipeline.py --frames {args.frames} --rounds {args.rounds}`",
        "",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, onnxruntime {ort.__version__}.",
        f"- Model: {model.name} (input 1x3x224x224); {len(decoded)} frames of 640x480 video.",
        "- edged: decode + preprocess + ONNX Runtime + trt_pose parse + message + JSONL write;",
        "  bare: `session.run` alone on the same frames, preprocessed beforehand, same session"
        " options.",
        "",
        "| round | edged frames/s | bare frames/s | ratio |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for i, (e, b, r) in enumerate(zip(edged_fps, bare_fps, ratios), 1):
        lines.append(f"| {i} | {e:.2f} | {b:.2f} | {r:.3f} |")
    lines += ["", f"Median ratio: **{statistics.median(ratios):.3f}** (goal >= 0.95)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        Path(args.write).write_text(text)


if __name__ == "__main__":
    main()
