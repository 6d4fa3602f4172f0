"""The daemon's gauge pipeline on the demo scene: needles measured in the pixels, or not.

``edged read-gauge`` and ``bench/gauge_accuracy.py`` have measured each needle's
direction in the picture's pixels after the keypoint model since session 2
(``GaugeReader.measure``: a sub-degree direction, a red drag pointer told from the
needle, a thick tail taken for the tip turned round); the daemon's pipeline did not
until session 18, and read with the model's keypoints alone. This measures what the
measuring gives and costs in the pipeline, side by side in one run: two pipelines read
the same frames in turn, one as shipped and one whose reader measures nothing
(``needle_pixels`` off, as the pipeline was).

The frames are the demo scene's (``GaugeScene``: round dials whose needles move, sensor
noise on every frame), each dial configured as the demo configures it (its min and max,
and its place in the frame: the scale is the keypoint model's).

    python bench/gauge_pipeline.py                   # 8 scenes x 3 dials x 40 frames
    python bench/gauge_pipeline.py --scenes 2 --frames 10 --dials 4

Figures per reading: wall time of ``process`` per frame (all dials), the error in % of
span, no-reads, and how far the reading's ``center`` moves between frames.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from panel_frames import Tally, side_by_side  # noqa: E402

from edged.config import parse_config  # noqa: E402
from edged.pipelines import create_pipeline  # noqa: E402
from edged.pipelines.gauge.scene import GaugeScene  # noqa: E402

WIDTH, HEIGHT = 960, 360
WAYS = ("measures needles", "model only")  # the first as shipped


def pipeline_for(scene: GaugeScene, measure: bool) -> Any:
    """A gauge pipeline for the scene's dials as the demo configures them; ``measure``:
    whether its reader measures needles in the pixels."""
    gauges = [g.config() for g in scene.gauges]
    text = (
        "sources: [{id: cam0, kind: synthetic}]\n"
        f"pipelines: [{{id: g, kind: gauge, source: cam0, gauges: {json.dumps(gauges)}}}]\n"
    )
    pipe = create_pipeline(parse_config(text).pipelines[0])
    pipe.open()
    pipe.reader.needle_pixels = measure
    return pipe


def run(scenes: int, frames: int, dials: int) -> Dict[str, Any]:
    tallies = {name: Tally() for name in WAYS}
    for seed in range(scenes):
        scene = GaugeScene(WIDTH, HEIGHT, count=dials, seed=seed, rate=5, period_s=20)
        pipes = {name: pipeline_for(scene, name == WAYS[0]) for name in WAYS}
        side_by_side(scene, frames, pipes, tallies)
        for pipe in pipes.values():
            pipe.close()
    out: Dict[str, Any] = {"scenes": scenes, "frames": frames, "dials": dials}
    for name, tally in tallies.items():
        figures = tally.figures(0)
        figures.pop("crops_per_reading")
        out[name] = figures
    a, b = (out[name] for name in WAYS)
    out["time_ratio_measures_over_model_only"] = a["ms_per_frame_mean"] / b["ms_per_frame_mean"]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", type=int, default=8, help="demo scenes (seeds 0..N-1)")
    p.add_argument("--frames", type=int, default=40, help="frames per scene")
    p.add_argument("--dials", type=int, default=3, help="round dials per scene (1 to 6)")
    args = p.parse_args()
    if args.scenes < 1 or args.frames < 1 or not 1 <= args.dials <= 6:
        p.error("--scenes and --frames are at least 1, --dials from 1 to 6")
    print(json.dumps(run(args.scenes, args.frames, args.dials), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
