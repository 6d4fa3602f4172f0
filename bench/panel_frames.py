"""The panel reader over a fixed camera's frames: remembering where the meter was, or not.

A panel meter's roi drawn with room around the meter is read unsure as a whole, so the
panel reader searches it for the meter (up to 15 windows, each with its mirror image). A
fixed camera's meter does not move: the pipeline remembers the window the last search
found and reads it first next frame (``PointerReader.read_crops(..., remembered)``),
searching only where it no longer reads sure, and afresh after ``REMEMBER_FRAMES`` frames
read from one window (``--remember``). This measures what that saves, side by side in one
run: two pipelines, one remembering and one searching afresh every frame (its memory
cleared before each frame), read the same frames in turn.

With ``--reader auto`` the meters are read as ``reader: auto`` reads them (the keypoints,
and the panel model's second opinion where they are unsure or read a meter, which has no
round rim, on their own scale), and what is measured is the
second opinion's check against the roi's other framings (``PointerReader.read_reframed``):
one pipeline as shipped, one whose panel reader reads only the roi itself (as before
session 17), both remembering windows.

The frames are the demo scene's (``GaugeScene``: square-on panel meters whose needles move,
sensor noise on every frame), each meter given only min and max and an roi ``--loose``
times its case, clipped to the frame.

    python bench/panel_frames.py                     # 8 scenes x 3 meters x 40 frames
    python bench/panel_frames.py --scenes 2 --frames 10 --loose 2.2 --remember 10
    python bench/panel_frames.py --reader auto       # the framings check's cost

Figures per reading: the panel model's crops read (each with its mirror image), wall
time of ``process`` per frame (all three meters), the error in % of span, no-reads, and
how far the reading's ``center`` moves between consecutive frames (the overlay's jitter).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edged.config import parse_config  # noqa: E402
from edged.frames import Frame  # noqa: E402
from edged.pipelines import create_pipeline  # noqa: E402
from edged.pipelines.gauge import pipeline as gauge_pipeline  # noqa: E402
from edged.pipelines.gauge.scene import GaugeScene  # noqa: E402

WIDTH, HEIGHT = 960, 320


class CountingModel:
    """The panel model's seam, counting the crops it is asked to read."""

    def __init__(self, model: Any):
        self.model = model
        self.crops = 0
        self.measures_end = getattr(model, "measures_end", True)

    def __call__(self, batch: np.ndarray) -> Any:
        self.crops += len(batch)
        return self.model(batch)

    def close(self) -> None:
        self.model.close()


def loose_roi(roi: Tuple[int, int, int, int], factor: float) -> List[int]:
    """``roi`` grown ``factor`` times about its centre, clipped to the frame."""
    x, y, w, h = roi
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = max(0, round(cx - w * factor / 2)), max(0, round(cy - h * factor / 2))
    x1, y1 = min(WIDTH, round(cx + w * factor / 2)), min(HEIGHT, round(cy + h * factor / 2))
    return [x0, y0, x1 - x0, y1 - y0]


def pipeline_for(scene: GaugeScene, loose: float, reader: str = "panel") -> Any:
    """A gauge pipeline reading the scene's panel meters with ``reader`` (``panel``, or
    ``auto``), given only min and max (so the search is what finds each meter in its loose
    roi)."""
    gauges = []
    for g in scene.gauges:
        assert g.roi is not None
        gauges.append(
            {
                "id": g.id,
                "min_value": g.min_value,
                "max_value": g.max_value,
                "reader": reader,
                "roi": loose_roi(g.roi, loose),
            }
        )
    text = (
        "sources: [{id: cam0, kind: synthetic}]\n"
        f"pipelines: [{{id: g, kind: gauge, source: cam0, gauges: {json.dumps(gauges)}}}]\n"
    )
    pipe = create_pipeline(parse_config(text).pipelines[0])
    pipe.open()
    pipe._panel_model = CountingModel(pipe._panel_model)
    pipe.panel_reader.model = pipe._panel_model
    return pipe


class Tally:
    """One way's figures over every frame."""

    def __init__(self) -> None:
        self.errors: List[float] = []
        self.no_read = 0
        self.readings = 0
        self.ms: List[float] = []
        self.jumps: List[float] = []
        self.last_centre: Dict[str, Tuple[float, float]] = {}

    def add(self, got: Dict[str, Any], truth: Dict[str, Any], span: float) -> None:
        self.readings += 1
        if got["value"] is None:
            self.no_read += 1
            return
        self.errors.append(abs(got["value"] - truth["value"]) / span * 100.0)
        centre = tuple(got["keypoints"]["center"][:2])
        last = self.last_centre.get(got["gauge_id"])
        if last is not None:
            self.jumps.append(float(np.hypot(centre[0] - last[0], centre[1] - last[1])))
        self.last_centre[got["gauge_id"]] = centre  # type: ignore[assignment]

    def figures(self, crops: int) -> Dict[str, Any]:
        e = np.array(self.errors)
        return {
            "readings": self.readings,
            "crops_per_reading": crops / self.readings,
            "ms_per_frame_median": float(np.median(self.ms)),
            "ms_per_frame_mean": float(np.mean(self.ms)),
            "mean_pct": float(e.mean()) if len(e) else None,
            "median_pct": float(np.median(e)) if len(e) else None,
            "p95_pct": float(np.percentile(e, 95)) if len(e) else None,
            "no_read_rate": self.no_read / self.readings,
            "centre_jump_px_mean": float(np.mean(self.jumps)) if self.jumps else None,
            "centre_moves_share": float(np.mean(np.array(self.jumps) > 0.5))
            if self.jumps
            else None,
        }


#: the two ways compared, per ``--reader``: the first as shipped
WAYS = {
    "panel": ("remembers", "searches every frame"),
    "auto": ("checks framings", "own framing only"),
}


def side_by_side(
    scene: GaugeScene,
    frames: int,
    pipes: Dict[str, Any],
    tallies: Dict[str, Tally],
    before: Callable[[Any], None] = lambda pipe: None,
) -> None:
    """The scene's first ``frames`` frames read by each of ``pipes`` in turn, first one
    first on even frames and last first on odd ones (what runs second finds the caches
    warm) (``before`` called on each pipeline first), each reading and the time of
    ``process`` added to its ``tallies``."""
    spans = {g.id: abs(g.max_value - g.min_value) for g in scene.gauges}
    for n in range(frames):
        image, truth = scene.render(n)
        by_id = {t["id"]: t for t in truth}
        order = list(pipes.items())
        for name, pipe in order if n % 2 == 0 else order[::-1]:
            before(pipe)
            frame = Frame("cam0", n, time.time(), time.monotonic(), image)
            t0 = time.perf_counter()
            result = pipe.process(frame)
            tallies[name].ms.append((time.perf_counter() - t0) * 1000.0)
            for got in result.payload["gauges"]:
                tallies[name].add(got, by_id[got["gauge_id"]], spans[got["gauge_id"]])


def _forget(pipe: Any, forgets: Any) -> None:
    """The pipeline that searches every frame forgets its windows before each."""
    if pipe is forgets:
        pipe.panel_windows.clear()


def run(scenes: int, frames: int, loose: float, reader: str = "panel") -> Dict[str, Any]:
    shipped, other = WAYS[reader]
    tallies = {shipped: Tally(), other: Tally()}
    crops = {name: 0 for name in tallies}
    for seed in range(scenes):
        scene = GaugeScene(WIDTH, HEIGHT, count=0, seed=seed, rate=5, period_s=20, panels=3)
        pipes = {name: pipeline_for(scene, loose, reader) for name in tallies}
        if reader == "auto":  # the second opinion without the framings check
            own_only = pipes[other].panel_reader
            own_only.read_reframed = own_only.read_crops  # type: ignore[method-assign]
        forgets = pipes["searches every frame"] if reader == "panel" else None
        side_by_side(scene, frames, pipes, tallies, functools.partial(_forget, forgets=forgets))
        for name, pipe in pipes.items():
            crops[name] += pipe._panel_model.crops
            pipe.close()
    out: Dict[str, Any] = {
        "scenes": scenes,
        "frames": frames,
        "meters_per_scene": 3,
        "roi_loose": loose,
        "reader": reader,
    }
    for name, tally in tallies.items():
        out[name] = tally.figures(crops[name])
    a, b = out[shipped], out[other]
    first, second = (name.split()[0] for name in (shipped, other))
    out[f"time_ratio_{first}_over_{second}"] = a["ms_per_frame_mean"] / b["ms_per_frame_mean"]
    out[f"crop_ratio_{first}_over_{second}"] = a["crops_per_reading"] / b["crops_per_reading"]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", type=int, default=8, help="demo scenes (seeds 0..N-1)")
    p.add_argument("--frames", type=int, default=40, help="frames per scene")
    p.add_argument("--loose", type=float, default=2.0, help="each roi this many times the case")
    p.add_argument(
        "--remember",
        type=int,
        default=gauge_pipeline.REMEMBER_FRAMES,
        help="frames a window is read before a fresh search (the pipeline's REMEMBER_FRAMES)",
    )
    p.add_argument(
        "--reader",
        choices=sorted(WAYS),
        default="panel",
        help="panel: remembering windows or not; auto: the second opinion's framings check or not",
    )
    args = p.parse_args()
    if args.loose < 1.0:
        p.error("--loose is a factor of at least 1 (1: the meter's case)")
    if args.remember < 1:
        p.error("--remember is a number of frames, at least 1")
    gauge_pipeline.REMEMBER_FRAMES = args.remember
    res = run(args.scenes, args.frames, args.loose, args.reader)
    res["remember_frames"] = args.remember
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
