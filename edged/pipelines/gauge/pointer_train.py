"""Train the pointer model on rendered crops (CPU by default, 1 thread).

    python -m edged.pipelines.gauge.pointer_train --seed 1 --steps 18000 --workers 1 \\
        --out /tmp/pointer-train
    python -m edged.pipelines.gauge.pointer_train --dials panels --seed 1 --steps 12000 \\
        --workers 1 --out /tmp/panel-pointer-train

``--dials subdials`` (the default) draws water/gas-meter sub-dials
(``subdial_synth``, the bundled ``gauge_pointer.onnx``); ``--dials panels`` draws
panel meters filling crops of any shape (``panel_crop``, the bundled
``gauge_panel_pointer.onnx``): one network, two models.

Deterministic and resumable like the keypoint trainer (``train``): picture
``i`` of render batch ``b`` comes from a hash of ``(seed, b, i)``; a checkpoint
(``last.pt``) is written every ``--ckpt-every`` steps and a run resumes from it,
refusing one begun with other settings or another renderer version. Each
rendered batch serves ``REUSE`` steps (``PANEL_REUSE`` for panels), each time
under another of the eight right-angle rotations and mirror images of the crops
(panels: mirrored or not; the labels turn with them), since rendering costs
more than a training step on a CPU.

``--init`` fine-tunes from a checkpoint, or from a shipped model's .onnx file when its
checkpoint is gone (its batch norms, folded into the convolutions, stay frozen), as the
keypoint trainer does. ``--negatives SHARE`` (panels) makes that share of the crops windows
of round dials with even odds over every direction as their targets: ``reader: auto`` asks
the panel model about round dials too, and it must be unsure of them (the bundled panel
model: ``--init`` session 11's, ``--negatives 0.2``; weights/README.gauge-panel.md).
``--field-looks P`` (panels) gives that share of the crops a field photo's look, as the
keypoint trainer's option does.

Export with ``python -m edged.pipelines.gauge.export CKPT weights/gauge_pointer.onnx``
(or ``weights/gauge_panel_pointer.onnx``).
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import sys
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from edged.pipelines.gauge.pointer_model import CCW
from edged.pipelines.gauge.train import (
    add_common_args,
    add_field_looks_arg,
    add_init_arg,
    picture_seed,
    run_logged,
    start_training,
    train_reusing_batches,
    with_field_look,
)

__all__ = ["dihedral", "main", "render_panel_batch", "render_pointer_batch"]

log = logging.getLogger("edged.gauge.pointer_train")

REUSE = 2  # training steps per rendered sub-dial batch
#: a panel crop costs ~1.5x a sub-dial's to draw (11 vs 8 ms on one core), more than a step,
#: and of its eight right-angle turns and mirrors only the mirror image is a meter as cameras
#: see them (a panel on its side is not): each batch serves more steps, upright or mirrored
PANEL_REUSE = 4
DIALS = ("subdials", "panels")  # what the crops show (``--dials``)


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
        picture = picture_seed("pointer-train", seed, batch_index, i)
        crop, label = render_subdial(picture, split="train")
        images.append(model_input(crop).transpose(1, 2, 0))
        targets.append((label.pointer_angle, label.zero_angle, float(label.ccw)))
    return np.stack(images).astype(np.float32), np.array(targets, np.float32)


def render_panel_batch(
    seed: int, batch_index: int, batch: int, size: int, negatives: float = 0.0, looks: float = 0.0
) -> Tuple[np.ndarray, np.ndarray]:
    """Panel-meter crops squashed to the model's square (N,S,S,3) float32 BGR 0..255 and
    targets (N,4): pointer and zero angle in that square, ccw, end angle in that square.
    ``negatives``: this share of the crops are windows of round dials instead
    (``render_round_window``), their angles NaN (no direction: the loss asks for even odds)
    and their ccw 0.5. ``looks``: this share of the crops (negatives too) get one of
    ``synth.field_looks`` (``train.with_field_look``)."""
    from edged.pipelines.gauge.panel_crop import (
        render_panel_crop,
        render_round_window,
        squashed,
    )
    from edged.pipelines.gauge.pointer_model import INPUT, model_input

    if size != INPUT:
        raise ValueError(f"the pointer model's input is {INPUT} px, not {size}")
    images, targets = [], []
    for i in range(batch):
        look_seed = picture_seed("panel-looks", seed, batch_index, i)
        if negatives and _is_negative(seed, batch_index, i, negatives):
            window, _ = render_round_window(picture_seed("panel-negative", seed, batch_index, i))
            window = with_field_look(window, looks, look_seed)
            images.append(model_input(window).transpose(1, 2, 0))
            targets.append((math.nan, math.nan, 0.5, math.nan))
            continue
        crop, label = render_panel_crop(picture_seed("panel-train", seed, batch_index, i))
        crop = with_field_look(crop, looks, look_seed)
        h, w = crop.shape[:2]
        images.append(model_input(crop).transpose(1, 2, 0))
        targets.append(
            (
                squashed(label.pointer_angle, w, h, INPUT),
                squashed(label.zero_angle, w, h, INPUT),
                float(label.ccw),
                squashed(label.end_angle, w, h, INPUT),
            )
        )
    return np.stack(images).astype(np.float32), np.array(targets, np.float32)


def _is_negative(seed: int, batch_index: int, i: int, share: float) -> bool:
    """Whether picture ``i`` of render batch ``batch_index`` is a negative (``share`` of
    them, drawn apart from the pictures themselves)."""
    rng = np.random.default_rng(picture_seed("panel-negative-draw", seed, batch_index, i))
    return bool(rng.random() < share)


def dihedral(image: np.ndarray, target: np.ndarray, k: int, mirror: bool) -> Tuple[Any, Any]:
    """``image`` (H,W,C) turned ``k`` right angles clockwise, then mirrored left-right when
    ``mirror``; ``target`` (pointer angle, zero angle, ccw[, end angle]) turned with it."""
    out = np.rot90(image, -k, axes=(0, 1))
    t = target.copy()
    angles = [i for i in range(len(t)) if i != CCW]
    t[angles] = (t[angles] + 90.0 * k) % 360.0
    if mirror:
        out = out[:, ::-1]
        t[angles] = (360.0 - t[angles]) % 360.0
        t[CCW] = 1.0 - t[CCW]
    return np.ascontiguousarray(out), t


def _augmented(
    images: np.ndarray, targets: np.ndarray, seed: int, step: int, turns: int = 4
) -> Tuple[np.ndarray, np.ndarray]:
    """The batch of ``step``: its render batch under a per-picture rotation (one of ``turns``
    right angles: 1 keeps pictures upright) and mirror."""
    rng = np.random.default_rng([seed, step])
    xs, ts = [], []
    for img, t in zip(images.transpose(0, 2, 3, 1), targets):
        x, y = dihedral(img, t, int(rng.integers(0, turns)), bool(rng.random() < 0.5))
        xs.append(x)
        ts.append(y)
    return np.stack(xs).transpose(0, 3, 1, 2), np.stack(ts)


def soft_bins(torch: Any, angles: Any, bins: int, sigma_bins: float = 1.0) -> Any:
    """Circular Gaussian class targets around each angle (degrees); even odds over all
    classes for a NaN angle (a negative: no direction to see)."""
    centres = (torch.arange(bins, dtype=torch.float32, device=angles.device) + 0.5) * (360.0 / bins)
    d = (angles[:, None] - centres[None, :] + 180.0) % 360.0 - 180.0
    w = torch.exp(-0.5 * (d / (sigma_bins * 360.0 / bins)) ** 2)
    w = torch.where(torch.isnan(w), torch.ones_like(w), w)
    return w / w.sum(1, keepdim=True)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m edged.pipelines.gauge.pointer_train", description=__doc__
    )
    add_common_args(p, steps=18000, batch=64, width=24, out="/tmp/pointer-train", log_every=50)
    p.add_argument(
        "--dials",
        choices=DIALS,
        default="subdials",
        help="what the crops show: meter sub-dials (default) or panel meters",
    )
    p.add_argument(
        "--negatives",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="panels: this share of the crops are windows of round dials, which the model "
        "learns to be unsure of (reader: auto asks it about round dials too); default 0",
    )
    add_field_looks_arg(p)
    add_init_arg(p)
    args = p.parse_args(argv)
    if args.negatives and args.dials != "panels":
        p.error("--negatives: only with --dials panels (a sub-dial model reads sub-dials)")
    if args.field_looks and args.dials != "panels":
        p.error("--field-looks: only with --dials panels (sub-dial renders draw their own looks)")
    if not 0.0 <= args.negatives < 1.0:
        p.error(f"--negatives {args.negatives}: a share from 0 up to (not including) 1")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    return run_logged(parse_args(argv), log, _train)


def _train(args: argparse.Namespace, torch: Any) -> int:
    from edged.pipelines.gauge.pointer_model import INPUT, build_pointer_model

    identity: Dict[str, Any] = {"arch": "pointer", "input": INPUT}
    if args.dials == "panels":
        from edged.pipelines.gauge.synth import RENDERER_VERSION

        identity.update(dials="panels", renderer=RENDERER_VERSION, end_head=True)
        if args.negatives:  # (absent otherwise: runs without them resume as before)
            identity["negatives"] = args.negatives
        if args.field_looks:  # (the same)
            identity["field_looks"] = args.field_looks
        render = functools.partial(
            render_panel_batch, negatives=args.negatives, looks=args.field_looks
        )
        reuse, turns = PANEL_REUSE, 1
    else:  # the sub-dial run's identity as it was before panels came (its resumes hold)
        from edged.pipelines.gauge.subdial_synth import RENDERER_VERSION as SUBDIAL_VERSION

        identity.update(subdial_renderer=SUBDIAL_VERSION)
        reuse, render, turns = REUSE, render_pointer_batch, 4
    end = bool(identity.get("end_head"))
    start = start_training(
        args,
        torch,
        lambda w: build_pointer_model(w, end),
        identity,
        log,
        optional=("negatives", "field_looks"),
    )
    train_reusing_batches(
        args,
        torch,
        start,
        reuse,
        render,
        INPUT,
        lambda batch, step: _augmented(*batch, args.seed, step, turns),
        lambda outputs, targets: _loss(torch, outputs, targets),
        log,
    )
    return 0


def _loss(torch: Any, outputs: Any, targets: Any) -> Any:
    from edged.pipelines.gauge.pointer_model import BINS

    pointer, zero, ccw = outputs[:3]

    def ce(logits: Any, angles: Any) -> Any:
        return -(soft_bins(torch, angles, BINS) * torch.log_softmax(logits, 1)).sum(1).mean()

    bce = torch.nn.functional.binary_cross_entropy_with_logits(ccw[:, 0], targets[:, CCW])
    loss = ce(pointer, targets[:, 0]) + 0.5 * ce(zero, targets[:, 1]) + 0.2 * bce
    if len(outputs) > 3:  # the panel model's end head, weighted as the zero
        loss = loss + 0.5 * ce(outputs[3], targets[:, 3])
    return loss


if __name__ == "__main__":
    sys.exit(main())
