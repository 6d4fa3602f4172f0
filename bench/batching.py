#!/usr/bin/env python3
"""Cross-camera batching: one pose pipeline over 4 cameras, batched vs one call per frame.

Both sides use the same ``PosePipeline`` (one ONNX Runtime session, one intra-op thread)
on the same frames, the newest of each of 4 synthetic cameras: ``process_batch`` of the 4
(one engine call of 4 and one batched parse) against 4 ``process`` calls. Rounds alternate
(batched, separate, batched, ...) so machine noise hits both alike. The results of the two
sides are compared first: batching must not change a single person.

    python bench/batching.py [--model X.onnx] [--rounds 6] [--iterations 3] [--write FILE]

Without --model, the trt_pose fixture checkpoint in ../shared/testdata is rebuilt and
exported with a dynamic batch axis (needs torch).
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
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pose_pipeline import fixture_model  # noqa: E402

from edged.config.pose import PosePipelineConfig  # noqa: E402
from edged.frames import Frame  # noqa: E402
from edged.pipelines.pose.pipeline import PosePipeline  # noqa: E402
from edged.sources.synthetic import SyntheticCapture  # noqa: E402

CAMERAS = 4
GOAL_RATIO = 1.3


def camera_frames(seq: int) -> List[Frame]:
    """The newest frame of each of the 4 cameras: synthetic 640x480, each at its own point."""
    frames = []
    for index in range(CAMERAS):
        capture = SyntheticCapture(640, 480, rate=15.0)
        for _ in range(1 + 11 * index + seq):
            image = capture.read()
        frames.append(Frame(f"cam{index}", seq, time.time(), time.monotonic(), image))
    return frames


def open_pipeline(model: Path) -> PosePipeline:
    config = PosePipelineConfig(
        id="people",
        kind="pose",
        source=[f"cam{i}" for i in range(CAMERAS)],
        model=str(model),
        batch={"max": CAMERAS},
        engine={"backend": "onnxruntime", "intra_op_threads": 1, "warmup_iters": 2},
    )
    pipeline = PosePipeline(config)
    pipeline.open()
    return pipeline


def time_side(pipeline: PosePipeline, frames: List[Frame], batched: bool) -> Dict[str, float]:
    """One pass over the 4 frames: wall seconds and the engine's share of them."""
    start = time.perf_counter()
    if batched:
        results = pipeline.process_batch(frames)
        infer_ms = results[0].timings_ms["infer"]
    else:
        results = [pipeline.process(frame) for frame in frames]
        infer_ms = sum(r.timings_ms["infer"] for r in results)
    return {"wall_s": time.perf_counter() - start, "infer_s": infer_ms / 1000.0}


def run(model: Path, rounds: int = 6, iterations: int = 3) -> dict:
    pipeline = open_pipeline(model)
    try:
        frame_sets = [camera_frames(seq) for seq in range(1, 4)]
        for frames in frame_sets:  # the same people both ways, and every shape warmed up
            together = [r.payload for r in pipeline.process_batch(frames)]
            alone = [pipeline.process(f).payload for f in frames]
            if together != alone:
                raise SystemExit("batched results differ from one call per frame")
        persons = [len(p["persons"]) for p in together]
        per_round = []
        for round_ in range(rounds):
            sides = ("batched", "separate") if round_ % 2 == 0 else ("separate", "batched")
            timed: Dict[str, List[Dict[str, float]]] = {"batched": [], "separate": []}
            for side in sides:
                for i in range(iterations):
                    frames = frame_sets[i % len(frame_sets)]
                    timed[side].append(time_side(pipeline, frames, side == "batched"))
            per_round.append(
                {
                    side: {
                        "fps": CAMERAS * len(samples) / sum(s["wall_s"] for s in samples),
                        "infer_fps": CAMERAS * len(samples) / sum(s["infer_s"] for s in samples),
                    }
                    for side, samples in timed.items()
                }
            )
        described = pipeline.describe()
    finally:
        pipeline.close()
    ratios = [r["batched"]["fps"] / r["separate"]["fps"] for r in per_round]
    infer_ratios = [r["batched"]["infer_fps"] / r["separate"]["infer_fps"] for r in per_round]
    return {
        "rounds": per_round,
        "ratio_median": statistics.median(ratios),
        "infer_ratio_median": statistics.median(infer_ratios),
        "batched_fps_median": statistics.median(r["batched"]["fps"] for r in per_round),
        "separate_fps_median": statistics.median(r["separate"]["fps"] for r in per_round),
        "iterations": iterations,
        "persons": persons,
        "batching": described.get("batching"),
        "parse": described.get("parse"),
        "model": model.name,
    }


def markdown(result: dict, command: str, where: str) -> str:
    import onnxruntime

    met = "met" if result["ratio_median"] >= GOAL_RATIO else "**NOT met**"
    lines = [
        "## Cross-camera batching: 4 cameras, one pose pipeline",
        "",
        f"Command: `{command}`",
        "",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, onnxruntime {onnxruntime.__version__}. {where}",
        f"- Model: {result['model']} (trt_pose resnet18_baseline_att, fixture weights, "
        "input batch x 3 x 224 x 224) on ONNX Runtime, CPU, `intra_op_threads: 1` on both sides.",
        f"- Frames: the newest 640x480 frame of each of 4 synthetic cameras "
        f"(people found: {result['persons']}); the pipeline says: {result['batching']}; "
        f"parse: {result['parse']}.",
        "- batched: `process_batch` of the 4 frames (4 preprocessings into one [4, 3, 224, 224] "
        "array, one engine call, one batched parse, 4 results); separate: 4 `process` calls. "
        "Both return the same payloads (checked before timing).",
        f"- {len(result['rounds'])} rounds of {result['iterations']} passes per side, sides "
        "alternating first; frames/s = 4 x passes / wall time; engine-only frames/s from the "
        "pipeline's `infer` timer.",
        "",
        "| round | batched frames/s | separate frames/s | ratio | engine-only ratio |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for index, r in enumerate(result["rounds"], 1):
        b, s = r["batched"], r["separate"]
        lines.append(
            f"| {index} | {b['fps']:.2f} | {s['fps']:.2f} | {b['fps'] / s['fps']:.3f} | "
            f"{b['infer_fps'] / s['infer_fps']:.3f} |"
        )
    lines += [
        "",
        f"- Median: batched **{result['batched_fps_median']:.2f}** frames/s, separate "
        f"**{result['separate_fps_median']:.2f}** frames/s; ratio **{result['ratio_median']:.3f}** "
        f"(goal >= {GOAL_RATIO}: {met}); the engine call alone: "
        f"{result['infer_ratio_median']:.3f}.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a pose ONNX model with a dynamic batch axis")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--iterations", type=int, default=3, help="passes of 4 frames a side")
    parser.add_argument("--write", type=Path, help="write the markdown here")
    parser.add_argument("--where", default="", help="a note on the machine's load")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or fixture_model(Path(tmp), dynamic_batch=True)
        result = run(model, args.rounds, args.iterations)
    command = f"python bench/batching.py --rounds {args.rounds} --iterations {args.iterations}"
    if args.model:
        command += f" --model {args.model.name}"
    text = markdown(result, command, args.where)
    print(text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
