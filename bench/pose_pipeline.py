#!/usr/bin/env python3
"""`edged infer` throughput versus a bare ONNX Runtime loop over the same preprocessed frames.

Both sides use one InferenceSession built with edged's session options, so the
ratio measures what edged adds around the model: video decode, preprocessing,
the trt_pose parse, message building and the JSONL write. Rounds alternate
(edged, bare, edged, bare, ...) so machine noise hits both alike.

    python bench/pose_pipeline.py [--model X.onnx] [--frames 24] [--rounds 3] [--write FILE]

Without --model, the trt_pose fixture checkpoint in ../shared/testdata is rebuilt
and exported (needs torch).

    python bench/pose_pipeline.py --null-engine [--frames 200] [--rounds 10] [--write FILE]

--null-engine measures instead the pipeline's per-frame work outside the engine, on one
core: edged's own PosePipeline (frame hand-over, preprocessing, an engine stand-in that
returns stored trt_pose CMAP/PAF instantly, parse, people in frame pixels, message
building) with each parse (compiled, numpy), against the path trt_pose's live demo takes
for the same frames (its notebook's preprocessing written without torchvision, then
edged's numpy parse standing in for trt_pose's). Rounds interleave the three.
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
from typing import Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edged.config.pose import PosePipelineConfig  # noqa: E402
from edged.cvutil import import_cv2  # noqa: E402
from edged.engines import TensorSpec  # noqa: E402
from edged.frames import Frame  # noqa: E402
from edged.messages import Topics, messages_for_result  # noqa: E402
from edged.offline import OfflineJob  # noqa: E402
from edged.pipelines.pose.parse import parse_objects_numpy, select_implementation  # noqa: E402
from edged.pipelines.pose.pipeline import PosePipeline  # noqa: E402
from edged.pipelines.pose.preprocess import PosePreprocessor  # noqa: E402

GOAL_MS = 1.0
# The reference vectors whose maps are what a 224x224 model outputs (56x56) and whose
# parameters are the pipeline's defaults (thresholds 0.1, window 5): ordinary frames.
ORDINARY_VECTORS = (
    "synth_01_p4",
    "synth_02_p5",
    "synth_04_p1",
    "synth_05_p8",
    "synth_07_p5",
    "synth_08_p0",
    "synth_10_p2",
    "synth_11_p4",
    "synth_13_p7",
)
EDGED_STAGES = ("handover", "preprocess", "infer", "parse", "persons", "message")
DEMO_STAGES = ("preprocess", "infer", "parse")


def shared_testdata() -> Path:
    return Path(os.environ.get("EDGED_SHARED_TESTDATA", REPO.parent / "shared" / "testdata"))


def fixture_model(workdir: Path, dynamic_batch: bool = False) -> Path:
    """resnet18_baseline_att at 224x224 rebuilt from the trt_pose fixture weights and exported
    (``dynamic_batch``: with a symbolic batch axis, for batched calls)."""
    import torch

    from edged.pipelines.pose.export import export_pose_onnx

    models = shared_testdata() / "trt_pose_models"
    spec = importlib.util.spec_from_file_location("rebuild", models / "rebuild.py")
    rebuild = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rebuild)
    checkpoint = workdir / "resnet18_baseline_att.pth"
    torch.save(rebuild.rebuild_state_dict(str(models / "resnet18_baseline_att.npz")), checkpoint)
    name = "resnet18_baseline_att_224x224" + ("_dynamic" if dynamic_batch else "")
    out = workdir / f"{name}.onnx"
    export_pose_onnx("resnet18_baseline_att", checkpoint, out, dynamic_batch=dynamic_batch)
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


# ------------------------------------------------------------------ --null-engine


class StoredOutputsEngine:
    """An engine that returns stored CMAP/PAF instantly, cycling through them call by call."""

    def __init__(self, maps: list, input_size: int = 224, input_format: str = "rgb-float"):
        self.maps = maps
        self.calls = 0
        cmap, paf = maps[0]["cmap"], maps[0]["paf"]
        side = input_size
        if input_format == "bgr-uint8":  # a model exported with --input-format bgr-uint8
            self.inputs = (TensorSpec("input", (1, side, side, 3), np.dtype(np.uint8)),)
        else:
            self.inputs = (TensorSpec("input", (1, 3, side, side), np.dtype(np.float32)),)
        self.outputs = (
            TensorSpec("cmap", cmap.shape, np.dtype(np.float32)),
            TensorSpec("paf", paf.shape, np.dtype(np.float32)),
        )

    def infer(self, inputs: dict) -> dict:
        maps = self.maps[self.calls % len(self.maps)]
        self.calls += 1
        return maps

    def describe(self) -> dict:
        return {"backend": "stored-outputs"}

    def close(self) -> None:
        pass


def load_stored_outputs(directory: Optional[Path] = None) -> list:
    """CMAP/PAF of the ordinary 56x56 trt_pose reference vectors (a 224x224 model's shapes)."""
    directory = directory or shared_testdata() / "trt_pose_parse"
    maps = []
    for name in ORDINARY_VECTORS:
        with np.load(directory / f"{name}.npz") as data:
            maps.append(
                {
                    "cmap": np.ascontiguousarray(data["cmap"], np.float32),
                    "paf": np.ascontiguousarray(data["paf"], np.float32),
                }
            )
    return maps


class TimedParse:
    """Wraps the pipeline's chosen parse function to time the parse inside postprocess."""

    def __init__(self, function):
        self.function = function
        self.last_ms = 0.0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        out = self.function(*args, **kwargs)
        self.last_ms = (time.perf_counter() - t0) * 1000.0
        return out


def open_edged(maps: list, variant: str) -> tuple:
    """edged's PosePipeline on the stored-outputs engine; ``variant`` is the parse (compiled,
    numpy), with ``/bgr-uint8`` for a model that takes the frame (normalised in its graph)."""
    parse, _, input_format = variant.partition("/")
    config = PosePipelineConfig(id="pose", kind="pose", source="cam", model="null.onnx")
    engine = StoredOutputsEngine(maps, input_format=input_format or "rgb-float")
    pipeline = PosePipeline(config, engine_factory=lambda _config: engine)
    pipeline.open()
    # open() chose the process-wide default; force the one under test (same selector)
    pipeline._parse_name, function = select_implementation(parse)
    timed = TimedParse(function)
    pipeline._parse = timed
    return pipeline, engine, timed


def run_edged_frames(pipeline, engine, timed, images: list, topics, seqs) -> dict:
    """Per-frame times (ms) of each stage and the total, for every image, in order."""
    engine.calls = 0
    times = {stage: [] for stage in (*EDGED_STAGES, "total")}
    for seq, image in enumerate(images, 1):
        t0 = time.perf_counter()
        frame = Frame("cam", seq, time.time(), time.monotonic(), image, {})  # capture hand-over
        t1 = time.perf_counter()
        result = pipeline.process(frame)
        t2 = time.perf_counter()
        messages = messages_for_result(result, topics, seqs)
        t3 = time.perf_counter()
        assert messages and messages[0].payload
        stages = result.timings_ms
        times["handover"].append((t1 - t0) * 1000.0)
        times["preprocess"].append(stages["preprocess"])
        times["infer"].append(stages["infer"])
        times["parse"].append(timed.last_ms)
        times["persons"].append(stages["postprocess"] - timed.last_ms)
        times["message"].append((t3 - t2) * 1000.0)
        times["total"].append((t3 - t0) * 1000.0)
    return times


class DemoPath:
    """trt_pose's live demo, per frame, without torchvision (not installed, must not be).

    Its notebook: ``cv2.resize`` to 224, ``cv2.cvtColor(BGR2RGB)``, ``PIL.Image.fromarray``,
    ``transforms.functional.to_tensor`` (HWC uint8 -> CHW float32 / 255; for a PIL image it
    copies the pixels with ``np.array(pic, copy=True)``, permutes, ``.contiguous()``, converts,
    divides), ``image.sub_(mean[:, None, None]).div_(std[:, None, None])``, ``image[None, ...]``;
    then the model and ``parse_objects(cmap, paf)`` on CPU (edged's numpy parse stands in).
    Without Pillow, ``fromarray`` + to_tensor's copy is one ``np.array(rgb, copy=True)``.
    """

    def __init__(self, maps: list, size: int = 224):
        import torch

        from edged.pipelines.pose.topology import Topology

        self.torch = torch
        self.cv2 = import_cv2()
        self.size = size
        self.maps = maps
        self.topology = Topology.human_pose().to_array()
        self.mean = torch.tensor([0.485, 0.456, 0.406])
        self.std = torch.tensor([0.229, 0.224, 0.225])
        try:
            import PIL.Image

            self.pil = PIL.Image
        except ImportError:
            self.pil = None

    def to_tensor(self, rgb: np.ndarray):
        torch = self.torch
        if self.pil is not None:
            pic = self.pil.fromarray(rgb)
            array = np.array(pic, np.uint8, copy=True)
            img = torch.from_numpy(array).view(pic.size[1], pic.size[0], len(pic.getbands()))
        else:
            img = torch.from_numpy(np.array(rgb, np.uint8, copy=True))
        img = img.permute((2, 0, 1)).contiguous()
        return img.to(dtype=torch.get_default_dtype()).div(255)

    def preprocess(self, image: np.ndarray):
        cv2 = self.cv2
        resized = cv2.resize(image, (self.size, self.size))
        rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
        tensor = self.to_tensor(rgb)
        tensor.sub_(self.mean[:, None, None]).div_(self.std[:, None, None])
        return tensor[None, ...]

    def run_frames(self, images: list) -> dict:
        times = {stage: [] for stage in (*DEMO_STAGES, "total")}
        for index, image in enumerate(images):
            t0 = time.perf_counter()
            batch = self.preprocess(image)
            t1 = time.perf_counter()
            maps = self.maps[index % len(self.maps)]  # the instant engine
            cmap, paf = maps["cmap"], maps["paf"]
            t2 = time.perf_counter()
            parse_objects_numpy(cmap, paf, self.topology)
            t3 = time.perf_counter()
            assert batch.shape == (1, 3, self.size, self.size)
            times["preprocess"].append((t1 - t0) * 1000.0)
            times["infer"].append((t2 - t1) * 1000.0)
            times["parse"].append((t3 - t2) * 1000.0)
            times["total"].append((t3 - t0) * 1000.0)
        return times


def pin_one_core() -> str:
    """Run on one core: CPU affinity (where the OS has it) and one thread for cv2 and torch."""
    where = "unpinned"
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        where = f"pinned to CPU {cpu}"
    import_cv2().setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    return where


def _summary(samples: list) -> dict:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(np.ceil(0.99 * len(ordered))) - 1)]
    return {
        "median": statistics.median(ordered),
        "p99": p99,
        "mean": statistics.fmean(ordered),
    }


VARIANTS = ("compiled", "compiled/bgr-uint8", "numpy")


def null_engine_bench(frames: int = 200, rounds: int = 10, parses=VARIANTS) -> dict:
    """Per-frame ms of edged's pipeline (each variant: parse, and ``/bgr-uint8`` for a model
    exported to take the frame) and of trt_pose's demo path, on the same frames.

    Rounds interleave: edged (variant 1), demo, edged (variant 2), demo, ... One warm-up
    round is run first and not counted. Returns ``{"paths": {name: {stage: summary}}, ...}``.
    """
    maps = load_stored_outputs()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(frames)]
    topics = Topics("edged", "bench")
    edged = {}
    for parse in parses:
        pipeline, engine, timed = open_edged(maps, parse)
        edged[parse] = (pipeline, engine, timed, pipeline.describe()["parse"])
    demo = DemoPath(maps)
    from edged.offline import _Seqs

    seqs = _Seqs()
    collected = {f"edged ({parse})": None for parse in parses}
    collected["trt_pose demo"] = None
    for round_index in range(rounds + 1):
        for parse in parses:
            pipeline, engine, timed, _ = edged[parse]
            got = run_edged_frames(pipeline, engine, timed, images, topics, seqs)
            if round_index:
                _merge(collected, f"edged ({parse})", got)
            got = demo.run_frames(images)
            if round_index:
                _merge(collected, "trt_pose demo", got)
    for pipeline, *_ in edged.values():
        pipeline.close()
    paths = {
        name: {stage: _summary(values) for stage, values in times.items()}
        for name, times in collected.items()
    }
    return {
        "paths": paths,
        "parse_names": {parse: entry[3] for parse, entry in edged.items()},
        "frames": frames,
        "rounds": rounds,
        "samples": {name: len(times["total"]) for name, times in collected.items()},
        "pil": demo.pil is not None,
        "vectors": list(ORDINARY_VECTORS),
    }


def _merge(collected: dict, name: str, times: dict) -> None:
    if collected[name] is None:
        collected[name] = {stage: [] for stage in times}
    for stage, values in times.items():
        collected[name][stage].extend(values)


def null_engine_markdown(result: dict, command: str, where: str) -> str:
    import torch

    paths = result["paths"]
    lines = [
        "## Pose pipeline per-frame overhead with an instant engine (`--null-engine`)",
        "",
        f"Command: `{command}`",
        "",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, numpy {np.__version__}, opencv "
        f"{import_cv2().__version__}, torch {torch.__version__}; {where}, one thread for "
        "cv2 and torch.",
        f"- {result['frames']} random 640x480 BGR frames per round, {result['rounds']} rounds "
        f"after a warm-up round (frames timed: "
        + ", ".join(f"{name} {n}" for name, n in result["samples"].items())
        + "). Model 224x224; the engine "
        "returns stored CMAP/PAF (1x18x56x56, 1x42x56x56) instantly, cycling through the "
        f"trt_pose reference vectors {', '.join(result['vectors'])} (default parse parameters).",
        "- edged: its own `PosePipeline.process` on a `Frame` (hand-over = building the `Frame`), "
        "split by the pipeline's stage timers, the parse timed inside postprocess, persons = "
        "postprocess - parse, message = `messages_for_result` (pydantic model + JSON encode). "
        "Not included: the executor hop, the MQTT/JSONL write, the overlay.",
        "- trt_pose demo: its notebook's preprocessing (resize, BGR->RGB, "
        + (
            "PIL `fromarray`"
            if result["pil"]
            else "Pillow not installed: `fromarray` + "
            "to_tensor's pixel copy as one `np.array(copy=True)`"
        )
        + ", to_tensor as torchvision writes it, normalize with `sub_`/`div_` on CPU (the demo "
        "does it on the GPU), `[None, ...]`), then edged's numpy parse as trt_pose's parse "
        "stand-in. No people-to-pixels, no message.",
        "- `/bgr-uint8`: the engine stand-in takes uint8 [1, 224, 224, 3] BGR, as a model "
        "exported with `--input-format bgr-uint8` does (layout, colour order and normalisation "
        "in its graph): the CPU only resizes.",
        "- Rounds interleave edged (each variant) with the demo path: "
        + ", ".join(f"edged ({v}), demo" for v in result["parse_names"])
        + ".",
        "",
        "| path | parse ran | median ms/frame | P99 ms/frame | mean |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    names = result["parse_names"]
    for name, stages in paths.items():
        ran = names[name[7:-1]] if name.startswith("edged") else "numpy (edged's)"
        total = stages["total"]
        lines.append(
            f"| {name} | {ran} | **{total['median']:.3f}** | {total['p99']:.3f} "
            f"| {total['mean']:.3f} |"
        )
    lines += ["", "Stage breakdown, median (P99) ms per frame:", ""]
    all_stages = list(EDGED_STAGES)
    lines.append("| path | " + " | ".join(all_stages) + " |")
    lines.append("| --- |" + " ---: |" * len(all_stages))
    for name, stages in paths.items():
        cells = [
            f"{stages[s]['median']:.3f} ({stages[s]['p99']:.3f})" if s in stages else "-"
            for s in all_stages
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    for name, stages in paths.items():
        if not name.startswith("edged"):
            continue
        median = stages["total"]["median"]
        verdict = "met" if median <= GOAL_MS else "NOT met"
        lines.append(
            f"- {name}: median {median:.3f} ms per frame, goal <= {GOAL_MS:.1f} ms: **{verdict}**"
            f" (P99 {stages['total']['p99']:.3f} ms)."
        )
    demo = paths["trt_pose demo"]["total"]["median"]
    for name, stages in paths.items():
        if name.startswith("edged"):
            lines.append(
                f"- {name} vs trt_pose demo path: {stages['total']['median'] / demo:.2f}x "
                "the demo's median."
            )
    return "\n".join(lines) + "\n"


def main_null_engine(args: argparse.Namespace) -> None:
    where = pin_one_core()
    result = null_engine_bench(args.frames, args.rounds)
    command = (
        f"python bench/pose_pipeline.py --null-engine --frames {args.frames} --rounds {args.rounds}"
    )
    text = null_engine_markdown(result, command, where)
    print(text)
    if args.write:
        Path(args.write).write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model")
    parser.add_argument("--null-engine", action="store_true", help="per-frame overhead, see above")
    parser.add_argument("--frames", type=int, help="frames per round (24; --null-engine: 200)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (3; --null-engine: 10)")
    parser.add_argument("--write", help="also write the figures (markdown) to this file")
    args = parser.parse_args()
    if args.null_engine:
        args.frames = args.frames or 200
        args.rounds = args.rounds or 10
        main_null_engine(args)
        return
    args.frames = args.frames or 24
    args.rounds = args.rounds or 3
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
