"""Train the display model on rendered seven-segment displays (CPU by default, 1 thread).

    python -m edged.pipelines.display.train --seed 1 --steps 6000 --workers 1 \\
        --out /tmp/display-train

Deterministic and resumable like the gauge trainers (``edged.pipelines.gauge.train``):
display ``i`` of step ``s`` is rendered from a hash of ``(seed, s, i)``; a checkpoint
(``last.pt``) is written every ``--ckpt-every`` steps, a copy kept every
``--keep-every``, and a run resumes from ``last.pt``, refusing one begun with other
settings or another renderer version. ``--workers N`` renders ahead in N processes
(same weights). ``--init PATH`` fine-tunes from a checkpoint or from an exported model
(``weights/display_crnn.onnx``: its batch norms, folded into the convolutions, stay frozen)
with a fresh optimizer and schedule; its sha256 is recorded and a resume with another
``--init`` is refused. The loss is CTC over ``ALPHABET`` with the blank as class 0.

Export with ``python -m edged.pipelines.display.export CKPT weights/display_crnn.onnx``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, List, Optional, Tuple

import numpy as np

from edged.pipelines.gauge.train import (
    BatchSource,
    Bookkeeping,
    add_common_args,
    add_init_arg,
    optimizer_step,
    picture_seed,
    run_logged,
    start_training,
)

__all__ = ["MAX_LABEL", "encode_label", "main", "render_display_batch", "sample_seed"]

log = logging.getLogger("edged.display.train")

MAX_LABEL = 24  # longest label (8 cells with points, a colon)


def sample_seed(seed: int, step: int, index: int) -> int:
    return picture_seed("display-train", seed, step, index)


def encode_label(label: str) -> List[int]:
    """Class indices of ``label`` (blank is 0, ``ALPHABET[i]`` is ``i + 1``)."""
    from edged.pipelines.display.render import ALPHABET

    return [ALPHABET.index(ch) + 1 for ch in label]


def render_display_batch(
    seed: int, step: int, batch: int, size: int
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crops (N,H,W,1) float32 grey 0..255, targets (N, MAX_LABEL) int64 zero-padded, and
    target lengths (N,), for one training step (``size`` is unused: the input is fixed)."""
    from edged.pipelines.display.model import model_input
    from edged.pipelines.display.render import render_display

    del size
    images, targets, lengths = [], np.zeros((batch, MAX_LABEL), np.int64), []
    for i in range(batch):
        crop, label = render_display(sample_seed(seed, step, i), split="train")
        images.append(model_input(crop).transpose(1, 2, 0))
        codes = encode_label(label)
        targets[i, : len(codes)] = codes
        lengths.append(len(codes))
    return np.stack(images), targets, np.array(lengths, np.int64)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m edged.pipelines.display.train", description=__doc__)
    add_common_args(p, steps=6000, batch=48, width=32, out="/tmp/display-train", log_every=50)
    add_init_arg(p)
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    return run_logged(parse_args(argv), log, _train)


def _train(args: argparse.Namespace, torch: Any) -> int:
    from edged.pipelines.display.model import HEIGHT, WIDTH, build_display_model
    from edged.pipelines.display.render import RENDERER_VERSION

    identity = {"arch": "display_crnn", "input": [HEIGHT, WIDTH]}
    identity["display_renderer"] = RENDERER_VERSION
    device, model, opt, config, step, _ = start_training(
        args, torch, build_display_model, identity, log
    )
    stop = args.steps if args.stop_after is None else min(args.steps, args.stop_after)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    book = Bookkeeping(args, torch, log)
    with BatchSource(args.seed, args.batch, HEIGHT, args.workers, render_display_batch) as batches:
        while step < stop:
            images, targets, lengths = batches.get(step, stop)
            x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
            logits = model(x)  # N, T, C
            logp = torch.log_softmax(logits, 2).permute(1, 0, 2)  # T, N, C
            n, t = logits.shape[0], logits.shape[1]
            loss = ctc(
                logp,
                torch.from_numpy(targets).to(device),
                torch.full((n,), t, dtype=torch.long),
                torch.from_numpy(lengths).to(device),
            )
            step = optimizer_step(args, opt, loss, step)
            book.after(step, stop, float(loss.detach()), model, opt, config)
    log.info("done at step %d", step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
