"""Train the scale direction model on rendered dials (CPU by default, 1 thread).

    python -m edged.pipelines.gauge.direction_train --seed 1 --steps 4000 --workers 1 \\
        --out /tmp/direction-train

Half of each batch are clockwise dials and half counter-clockwise ones (``synth``'s
``direction``), each cut as ``scale_strip`` cuts it while reading, along an arc whose
pivot and ends are moved by about as much as the keypoint model misplaces them. The
target is which end shows the numbers larger in magnitude (``larger_first``), not the
direction itself: on a vacuum scale (-25..0) the numbers shrink towards the maximum, and
only the reader, which knows the gauge's min and max, can tell what that means.
Deterministic and resumable like the other gauge trainers (``train``, ``pointer_train``):
picture ``i`` of render batch ``b`` comes from a hash of ``(seed, b, i)``, and a run resumes
from ``last.pt``, refusing one begun with other settings or another renderer version. Each
rendered batch serves ``REUSE`` steps, each time shifted along the scale by a few pixels and
a fifth of the strips in grey, since rendering costs more than a step on a CPU.

Export with ``python -m edged.pipelines.gauge.export CKPT weights/gauge_direction.onnx``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, List, Optional, Tuple

import numpy as np

from edged.pipelines.gauge.train import (
    add_common_args,
    picture_seed,
    run_logged,
    start_training,
    train_reusing_batches,
)

__all__ = ["jittered_strip", "larger_first", "main", "render_direction_batch"]

log = logging.getLogger("edged.gauge.direction_train")

REUSE = 4  # training steps per rendered batch
#: how far the arc's pivot and ends move, as a share of the dial's radius (the keypoint
#: model's pivot is off by 1.5 % of the radius at the median and 5 % at P90 on held-out renders)
JITTER = 0.03
MAX_SHIFT = 6  # px along the strip, per step


def jittered_strip(
    image: np.ndarray, label: Any, rng: np.random.Generator, jitter: float = JITTER
) -> np.ndarray:
    """``scale_strip`` of a rendered dial (``synth.GaugeLabel``), its pivot and ends each
    moved by ``jitter`` of its radius (normal), seen through the rim's perspective correction
    as the reader sees it."""
    from edged.pipelines.gauge.reading import circle_transform, fit_ellipse
    from edged.pipelines.gauge.scale_direction import arc_from_points, scale_strip

    fit = fit_ellipse(np.array(label.rim))
    to_picture = np.linalg.inv(circle_transform(fit[1])) if fit is not None else None
    first, last = ("start", "end") if label.sweep > 0 else ("end", "start")

    def moved(name: str) -> Tuple[float, float]:
        x, y = label.keypoints[name][:2]
        dx, dy = rng.normal(0.0, jitter * label.radius, 2)
        return float(x + dx), float(y + dy)

    arc = arc_from_points(moved("center"), moved(first), moved(last), to_picture)
    return scale_strip(image, arc)


def render_direction_batch(
    seed: int, batch_index: int, batch: int, size: int
) -> Tuple[np.ndarray, np.ndarray]:
    """Strips (N,H,W,3) float32 BGR 0..255 and targets (N,): 1 where the numbers larger in
    magnitude sit at the arc's clockwise-first end (``larger_first``). Even pictures are
    clockwise dials, odd ones counter-clockwise; scales as large at both ends are skipped."""
    from edged.pipelines.gauge.scale_direction import STRIP_W, larger_end
    from edged.pipelines.gauge.synth import render_sample

    if size != STRIP_W:
        raise ValueError(f"the direction model's strip is {STRIP_W} px long, not {size}")
    strips, targets = [], []
    for i in range(batch):
        direction = "ccw" if i % 2 else "cw"
        for attempt in range(100):  # a scale as large at both ends (-50..50) tells nothing
            s = picture_seed("direction-train", seed, batch_index, i + attempt * batch)
            rng = np.random.default_rng([s, 1])
            side = int(rng.integers(96, 321))
            image, labels = render_sample(
                s, size=side, split="train", mode="crop", direction=direction
            )
            label = labels[-1]
            if larger_end(label.min_value, label.max_value) is not None:
                break
        strips.append(jittered_strip(image, label, rng).transpose(1, 2, 0))
        targets.append(float(larger_first(label)))
    return np.stack(strips).astype(np.float32), np.array(targets, np.float32)


def larger_first(label: Any) -> bool:
    """Whether the numbers larger in magnitude sit at the arc's clockwise-first end: the
    maximum (or, on a scale like -25..0, the minimum) is where a clockwise walk along the
    scale begins."""
    from edged.pipelines.gauge.scale_direction import larger_end

    max_first = label.sweep < 0
    return max_first if larger_end(label.min_value, label.max_value) == "max" else not max_first


def _augmented(strips: np.ndarray, seed: int, step: int) -> np.ndarray:
    """The strips of ``step``: each shifted along the scale (edges repeated), a fifth grey."""
    rng = np.random.default_rng([seed, step])
    out = np.empty_like(strips)
    width = strips.shape[3]
    for n, strip in enumerate(strips):
        shift = int(rng.integers(-MAX_SHIFT, MAX_SHIFT + 1))
        cols = np.clip(np.arange(width) - shift, 0, width - 1)
        out[n] = strip[:, :, cols]
        if rng.random() < 0.2:
            out[n] = out[n].mean(axis=0, keepdims=True)
    return out


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m edged.pipelines.gauge.direction_train", description=__doc__
    )
    add_common_args(p, steps=4000, batch=64, width=16, out="/tmp/direction-train", log_every=50)
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    return run_logged(parse_args(argv), log, _train)


def _train(args: argparse.Namespace, torch: Any) -> int:
    from edged.pipelines.gauge.scale_direction import STRIP_H, STRIP_W, build_direction_model
    from edged.pipelines.gauge.synth import RENDERER_VERSION

    identity = {"arch": "direction", "input": [STRIP_H, STRIP_W], "renderer": RENDERER_VERSION}
    start = start_training(args, torch, build_direction_model, identity, log)
    train_reusing_batches(
        args,
        torch,
        start,
        REUSE,
        render_direction_batch,
        STRIP_W,
        lambda batch, step: (_augmented(batch[0], args.seed, step), batch[1]),
        lambda outputs, targets: _loss(torch, outputs, targets),
        log,
    )
    return 0


def _loss(torch: Any, outputs: Any, targets: Any) -> Any:
    (logits,) = outputs
    return torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], targets)


if __name__ == "__main__":
    sys.exit(main())
