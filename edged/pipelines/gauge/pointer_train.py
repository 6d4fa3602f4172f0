"""Train the pointer model on rendered sub-dial crops (CPU by default, 1 thread).

    python -m edged.pipelines.gauge.pointer_train --seed 1 --steps 12000 --workers 1 \\
        --out /tmp/pointer-train

Deterministic and resumable like the keypoint trainer (``train``): picture
``i`` of render batch ``b`` comes from a hash of ``(seed, b, i)``; a checkpoint
(``last.pt``) is written every ``--ckpt-every`` steps and a run resumes from it,
refusing one begun with other settings or another renderer version. Each
rendered batch serves ``REUSE`` steps, each time under another of the eight
right-angle rotations and mirror images of the crops (the labels turn with
them), since rendering costs more than a training step on a CPU.

Export with ``python -m edged.pipelines.gauge.export CKPT weights/gauge_pointer.onnx``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, List, Optional, Tuple

import numpy as np

from edged.pipelines.gauge.train import (
    add_common_args,
    run_logged,
    start_training,
    train_reusing_batches,
)

__all__ = ["dihedral", "main", "render_pointer_batch"]

log = logging.getLogger("edged.gauge.pointer_train")

REUSE = 2  # training steps per rendered batch


def _picture_seed(seed: int, batch_index: int, index: int) -> int:
    import hashlib

    digest = hashlib.sha256(f"pointer-train/{seed}/{batch_index}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def render_pointer_batch(
    seed: int, batch_index: int, batch: int, size: int
) -> Tuple[np.ndarray, np.ndarray]:
    """Crops (N,S,S,3) float32 BGR 0..255 and targets (N,3): pointer and zero angle, ccw."""
    from edged.pipelines.gauge.pointer_model import INPUT, model_input
    from edged.pipelines.gauge.subdial_synth import render_subdial

    if size != INPUT:
        raise ValueError(f"the pointer model's input is {INPUT} px, not {size}")
    images, targets = [], []
    for i in range(batch):
        crop, label = render_subdial(_picture_seed(seed, batch_index, i), split="train")
        images.append(model_input(crop).transpose(1, 2, 0))
        targets.append((label.pointer_angle, label.zero_angle, float(label.ccw)))
    return np.stack(images).astype(np.float32), np.array(targets, np.float32)


def dihedral(image: np.ndarray, target: np.ndarray, k: int, mirror: bool) -> Tuple[Any, Any]:
    """``image`` (H,W,C) turned ``k`` right angles clockwise, then mirrored left-right when
    ``mirror``; ``target`` (pointer angle, zero angle, ccw) turned with it."""
    out = np.rot90(image, -k, axes=(0, 1))
    t = target.copy()
    t[:2] = (t[:2] + 90.0 * k) % 360.0
    if mirror:
        out = out[:, ::-1]
        t[:2] = (360.0 - t[:2]) % 360.0
        t[2] = 1.0 - t[2]
    return np.ascontiguousarray(out), t


def _augmented(
    images: np.ndarray, targets: np.ndarray, seed: int, step: int
) -> Tuple[np.ndarray, np.ndarray]:
    """The batch of ``step``: its render batch under a per-picture rotation/mirror."""
    rng = np.random.default_rng([seed, step])
    xs, ts = [], []
    for img, t in zip(images.transpose(0, 2, 3, 1), targets):
        x, y = dihedral(img, t, int(rng.integers(0, 4)), bool(rng.random() < 0.5))
        xs.append(x)
        ts.append(y)
    return np.stack(xs).transpose(0, 3, 1, 2), np.stack(ts)


def soft_bins(torch: Any, angles: Any, bins: int, sigma_bins: float = 1.0) -> Any:
    """Circular Gaussian class targets around each angle (degrees)."""
    centres = (torch.arange(bins, dtype=torch.float32) + 0.5) * (360.0 / bins)
    d = (angles[:, None] - centres[None, :] + 180.0) % 360.0 - 180.0
    w = torch.exp(-0.5 * (d / (sigma_bins * 360.0 / bins)) ** 2)
    return w / w.sum(1, keepdim=True)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m edged.pipelines.gauge.pointer_train", description=__doc__
    )
    add_common_args(p, steps=18000, batch=64, width=24, out="/tmp/pointer-train", log_every=50)
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    return run_logged(parse_args(argv), log, _train)


def _train(args: argparse.Namespace, torch: Any) -> int:
    from edged.pipelines.gauge.pointer_model import INPUT, build_pointer_model
    from edged.pipelines.gauge.subdial_synth import RENDERER_VERSION

    identity = {"arch": "pointer", "input": INPUT, "subdial_renderer": RENDERER_VERSION}
    start = start_training(args, torch, build_pointer_model, identity, log)
    train_reusing_batches(
        args,
        torch,
        start,
        REUSE,
        render_pointer_batch,
        INPUT,
        lambda batch, step: _augmented(*batch, args.seed, step),
        lambda outputs, targets: _loss(torch, outputs, targets),
        log,
    )
    return 0


def _loss(torch: Any, outputs: Any, targets: Any) -> Any:
    from edged.pipelines.gauge.pointer_model import BINS

    pointer, zero, ccw = outputs

    def ce(logits: Any, angles: Any) -> Any:
        return -(soft_bins(torch, angles, BINS) * torch.log_softmax(logits, 1)).sum(1).mean()

    bce = torch.nn.functional.binary_cross_entropy_with_logits(ccw[:, 0], targets[:, 2])
    return ce(pointer, targets[:, 0]) + 0.5 * ce(zero, targets[:, 1]) + 0.2 * bce


if __name__ == "__main__":
    sys.exit(main())
