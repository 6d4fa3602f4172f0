"""``edged infer``: run a pipeline over every frame of a video, image or folder, in order.

The seeds' "video in, keypoints out" job: one JSON message per frame (the same
messages MQTT subscribers get, valid against ``schemas/``), an optional
annotated video, a progress line, and a summary. Ctrl-C stops after the frame
in hand and leaves a complete, flushed JSONL file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, TextIO

from edged.frames import Frame

__all__ = ["OfflineJob", "register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "infer",
        help="run a pipeline over a video, image, folder or glob; write JSONL",
        description="Process every frame in order and write one JSON message per frame.",
    )
    parser.add_argument("input", help="video file, image, directory of images, or glob")
    parser.add_argument("--pipeline", default="pose", help="pipeline kind (default: pose)")
    parser.add_argument("--model", help="model file (.onnx, .engine/.plan, *_trt.pth)")
    parser.add_argument("--backend", choices=["auto", "tensorrt", "onnxruntime"], default=None)
    parser.add_argument("-c", "--config", help="take the pipeline from this config file")
    parser.add_argument("--pipeline-id", help="which pipeline of --config to run")
    parser.add_argument("--out", required=True, help="JSONL file to write")
    parser.add_argument("--annotate", help="also write an annotated video here (e.g. out.mp4)")
    parser.add_argument("--device-id", default="offline", help="device_id in the messages")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from edged.config import ConfigError

    try:
        config = _pipeline_config(args)
    except (ConfigError, ValueError) as exc:
        print(f"edged infer: {exc}", file=sys.stderr)
        return 2
    job = OfflineJob(config, args.input, args.out, args.annotate, args.device_id)
    progress = None if args.quiet else sys.stderr
    try:
        summary = job.run(progress)
    except Exception as exc:
        print(f"edged infer: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary), file=sys.stdout)
    return 130 if summary["interrupted"] else 0


def _pipeline_config(args: argparse.Namespace) -> Any:
    """A pipeline config from --config/--pipeline-id, or built from --pipeline/--model."""
    from pydantic import TypeAdapter, ValidationError

    from edged.config import load_config
    from edged.config.pipelines import PipelineConfig

    if args.config:
        config = load_config(args.config)
        chosen = [p for p in config.pipelines if args.pipeline_id in (None, p.id)]
        if len(chosen) != 1:
            ids = ", ".join(p.id for p in config.pipelines) or "(none)"
            raise ValueError(f"name one pipeline with --pipeline-id (pipelines: {ids})")
        pipeline = chosen[0]
        if args.backend:
            pipeline = pipeline.model_copy(
                update={"engine": pipeline.engine.model_copy(update={"backend": args.backend})}
            )
        return pipeline
    data: Dict[str, Any] = {"id": args.pipeline, "kind": args.pipeline, "source": "input"}
    if args.model:
        data["model"] = args.model
    if args.backend:
        data["engine"] = {"backend": args.backend}
    try:
        return TypeAdapter(PipelineConfig).validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"cannot build a {args.pipeline} pipeline: {problems}") from None


class _Seqs:
    """Per-topic seq counters for one job (starting at 1, like a fresh device)."""

    def __init__(self) -> None:
        self._next: Dict[str, int] = {}

    def peek(self, topic: str) -> int:
        return self._next.get(topic, 1)

    def advance(self, topic: str, count: int = 1) -> None:
        self._next[topic] = self.peek(topic) + count


class OfflineJob:
    """Every frame of ``input`` through one pipeline, in order, on the calling thread."""

    def __init__(
        self,
        pipeline_config: Any,
        input_path: str,
        out: str,
        annotate: Optional[str] = None,
        device_id: str = "offline",
    ):
        from edged.messages import Topics
        from edged.pipelines import create_pipeline

        self.pipeline = create_pipeline(pipeline_config)
        self.input_path = input_path
        self.out = Path(out)
        self.annotate = annotate
        self.topics = Topics("edged", device_id)
        self.seqs = _Seqs()
        self._writer: Any = None

    def run(self, progress: Optional[TextIO] = None) -> Dict[str, Any]:
        from edged.messages import messages_for_result
        from edged.sources.capture import EndOfStream
        from edged.sources.file import FileCapture

        capture = FileCapture(self.input_path)
        capture.open()
        total = capture.frame_count()
        self.pipeline.open()
        stats = _Stats()
        interrupted = False
        self.out.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.out, "w", encoding="utf-8") as sink:
                seq = 0
                while True:
                    try:
                        image = capture.read()
                    except EndOfStream:
                        break
                    seq += 1
                    frame = Frame(
                        "input", seq, time.time(), time.monotonic(), image, capture.frame_meta()
                    )
                    result = self.pipeline.process(frame)
                    for message in messages_for_result(result, self.topics, self.seqs):
                        sink.write(message.payload.decode("utf-8") + "\n")
                    sink.flush()
                    self._annotate(result, capture)
                    stats.add(result)
                    if progress is not None:
                        stats.show(progress, total)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            capture.close()
            self.pipeline.close()
            if self._writer is not None:
                self._writer.release()
            if progress is not None and stats.frames and progress.isatty():
                progress.write("\n")
        return stats.summary(interrupted, str(self.out), self.annotate)

    def _annotate(self, result: Any, capture: Any) -> None:
        if not self.annotate:
            return
        from edged.cvutil import import_cv2

        cv2 = import_cv2()
        image = self.pipeline.draw(result.frame.image.copy(), result)
        if self._writer is None:
            fps = capture.pace_fps or capture.native_fps() or 25.0
            height, width = image.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.annotate.endswith(".mp4") else "MJPG"))
            self._writer = cv2.VideoWriter(self.annotate, fourcc, fps, (width, height))
            if not self._writer.isOpened():
                raise RuntimeError(f"cannot write video {self.annotate}")
        self._writer.write(image)


class _Stats:
    def __init__(self) -> None:
        self.frames = 0
        self.started = time.monotonic()
        self.stage_ms: Dict[str, float] = {}
        self.counts: List[int] = []
        self._last_shown = 0.0

    def add(self, result: Any) -> None:
        self.frames += 1
        for stage, ms in result.timings_ms.items():
            self.stage_ms[stage] = self.stage_ms.get(stage, 0.0) + ms
        payload = result.payload
        items = payload.get("persons", payload.get("gauges"))
        if items is not None:
            self.counts.append(len(items))

    def show(self, stream: TextIO, total: Optional[int]) -> None:
        """A progress line: redrawn in place on a terminal, every 5 s in a log."""
        now = time.monotonic()
        tty = stream.isatty()
        if now - self._last_shown < (0.25 if tty else 5.0) and self.frames != total:
            return
        self._last_shown = now
        fps = self.frames / max(now - self.started, 1e-9)
        line = f"frames {self.frames}"
        if total:
            eta = (total - self.frames) / fps if fps > 0 else 0.0
            line += f"/{total} ({100.0 * self.frames / total:.0f}%)  ETA {eta:.0f} s"
        stream.write(f"\r{line}  {fps:.1f} fps " if tty else f"{line}  {fps:.1f} fps\n")
        stream.flush()

    def summary(self, interrupted: bool, out: str, annotate: Optional[str]) -> Dict[str, Any]:
        elapsed = time.monotonic() - self.started
        frames = max(self.frames, 1)
        return {
            "frames": self.frames,
            "seconds": round(elapsed, 3),
            "fps": round(self.frames / max(elapsed, 1e-9), 2),
            "objects_per_frame": round(sum(self.counts) / frames, 3) if self.counts else None,
            "mean_ms": {k: round(v / frames, 3) for k, v in self.stage_ms.items()},
            "out": out,
            "annotated": annotate,
            "interrupted": interrupted,
        }
