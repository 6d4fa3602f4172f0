"""Train the gauge keypoint model on procedurally rendered gauges (CPU by default, 1 thread).

    python -m edged.pipelines.gauge.train --seed 1 --out /tmp/gauge-train

Deterministic given the seed: picture ``i`` of step ``s`` is rendered from a
seed derived from ``(seed, s, i)``, so resuming from a checkpoint continues
with exactly the pictures an uninterrupted run would have seen. A checkpoint
(``last.pt``, written atomically) is saved every ``--ckpt-every`` steps, and a
copy kept every ``--keep-every``; the run resumes from ``last.pt`` when it is
there. Uses a CUDA GPU when one is present (``--device auto``).
``--workers 1`` renders the next batches in another process while this one
trains (same weights, bit for bit); ``--init CKPT`` fine-tunes from another
run's weights with a fresh optimizer and schedule (its sha256 is recorded, and
a resume with another ``--init`` is refused). ``--field-looks P`` gives a share P
of the pictures one look of field photos that the renderer draws too mildly or
never (grey, dark, a white-balance error, haze: ``synth.field_looks``), drawn
from each picture's own seed and recorded with the run like its seed.

Export the result with ``python -m edged.pipelines.gauge.export``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import math
import os
import sys
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

__all__ = ["BatchSource", "main", "make_batch", "picture_seed", "sample_seed"]

log = logging.getLogger("edged.gauge.train")


def picture_seed(run: str, seed: int, batch: int, index: int) -> int:
    """The seed of picture ``index`` of batch ``batch`` of a ``run`` (``gauge-train``,
    ``pointer-train``, ...) from ``seed``: a hash, so any batch is drawn alone (a worker
    rendering ahead, a resumed run) and runs of different trainers share no pictures."""
    digest = hashlib.sha256(f"{run}/{seed}/{batch}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def sample_seed(seed: int, step: int, index: int) -> int:
    return picture_seed("gauge-train", seed, step, index)


def make_batch(
    seed: int, step: int, batch: int, size: int
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images (N,3,S,S) float32 0..255 BGR, cmap and paf targets, for one training step.

    The images are an N,3,S,S view of N,S,S,3 memory: torch picks its convolution
    kernels by memory layout, so a batch rendered in a worker process (where pickling
    would make it contiguous) is sent as N,S,S,3 and viewed the same way, to give
    bit-identical weights.
    """
    images, cmaps, pafs = render_batch(seed, step, batch, size)
    return images.transpose(0, 3, 1, 2), cmaps, pafs


def render_batch(
    seed: int, step: int, batch: int, size: int, looks: float = 0.0
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``make_batch`` with the images as N,S,S,3 (contiguous); a share ``looks`` of the
    pictures is given one of ``synth.field_looks`` (from its own seed: the render is the same
    with or without)."""
    from edged.pipelines.gauge.synth import render_sample
    from edged.pipelines.gauge.targets import make_targets

    images: List[np.ndarray] = []
    cmaps: List[np.ndarray] = []
    pafs: List[np.ndarray] = []
    for i in range(batch):
        img, labels = render_sample(sample_seed(seed, step, i), size=size, split="train")
        img = with_field_look(img, looks, picture_seed("gauge-looks", seed, step, i))
        cmap, paf = make_targets(labels, size)
        images.append(img)
        cmaps.append(cmap)
        pafs.append(paf)
    return (
        np.stack(images).astype(np.float32),
        np.stack(cmaps),
        np.stack(pafs),
    )


def with_field_look(image: np.ndarray, share: float, seed: int) -> np.ndarray:
    """``image``, or, for a ``share`` of the seeds, ``image`` with one of
    ``synth.field_looks`` drawn from ``seed`` (a picture's own: the same every run)."""
    if share <= 0:
        return image
    from edged.pipelines.gauge.synth import field_looks

    rng = np.random.default_rng(seed)
    return field_looks(image, rng) if rng.random() < share else image


def _share(text: str) -> float:
    """``--field-looks``' value: a share of the pictures, 0 to 1."""
    share = float(text)
    if not 0.0 <= share <= 1.0:
        raise argparse.ArgumentTypeError(f"{text}: a share of the pictures, 0 to 1")
    return share


def add_field_looks_arg(p: argparse.ArgumentParser) -> None:
    """``--field-looks P`` (both trainers; recorded in the run's identity only when set)."""
    p.add_argument(
        "--field-looks",
        type=_share,
        default=0.0,
        metavar="P",
        help="give this share of the pictures a field photo's look: grey, dark, a white-balance "
        "error or haze (synth.field_looks; default 0)",
    )


class BatchSource:
    """Training batches by step, rendered ahead in ``workers`` processes (0: inline).

    Rendering is about half of a CPU step; a worker process renders the next
    batches while the model trains on this one. Batches are a pure function of
    ``(seed, step)``, so the weights do not depend on ``workers``.
    """

    def __init__(
        self, seed: int, batch: int, size: int, workers: int = 0, render: Any = None
    ) -> None:
        self.args = (seed, batch, size)
        self.render = render or render_batch  # module level, so worker processes can pickle it
        self.workers = workers
        self.pending: Dict[int, Any] = {}
        self.pool: Any = None
        if workers > 0:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            ctx = multiprocessing.get_context("spawn")  # no fork of a threaded torch process
            self.pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_ignore_sigint)

    def get(self, step: int, stop: int) -> Tuple[np.ndarray, ...]:
        """The batch of ``step`` (images N,3,S,S, then the render's targets)."""
        seed, batch, size = self.args
        if self.pool is None:
            images, *targets = self.render(seed, step, batch, size)
        else:
            for s in range(step, min(stop, step + 2 * self.workers + 1)):
                if s not in self.pending:
                    self.pending[s] = self.pool.submit(self.render, seed, s, batch, size)
            images, *targets = self.pending.pop(step).result()
        return (images.transpose(0, 3, 1, 2), *targets)

    def __enter__(self) -> BatchSource:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self.pool is not None:
            for f in self.pending.values():
                f.cancel()
            self.pool.shutdown(wait=True)
            self.pool = None


def rng_state(torch: Any) -> Dict[str, Any]:
    """The random streams dropout draws from (CPU, and every CUDA device in use), for a
    checkpoint (``Bookkeeping``'s ``extra``)."""
    state = {"torch_rng": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(torch: Any, ckpt: Dict[str, Any], logger: logging.Logger) -> None:
    """Dropout continues as if the run had never stopped (a checkpoint written before the
    streams were saved resumes with other masks, and says so)."""
    if "torch_rng" not in ckpt:
        logger.warning(
            "the checkpoint has no random state: dropout masks differ from an uninterrupted run"
        )
        return
    torch.set_rng_state(ckpt["torch_rng"].cpu())
    if "cuda_rng" in ckpt and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in ckpt["cuda_rng"]])


def train_reusing_batches(
    args: argparse.Namespace,
    torch: Any,
    start: TrainingStart,
    reuse: int,
    render: Any,
    size: int,
    batch_for_step: Callable[[Any, int], Tuple[np.ndarray, np.ndarray]],
    loss_of: Callable[[Any, Any], Any],
    logger: logging.Logger,
) -> None:
    """The loop of the small trainers whose rendering costs more than a step (pointer,
    direction): each batch ``render`` draws serves ``reuse`` steps, each step's inputs and
    targets made from it by ``batch_for_step(batch, step)`` (an augmentation of that step),
    the loss by ``loss_of(model outputs, targets)``; the torch random state rides along in
    each checkpoint so a resumed run draws the dropout masks an uninterrupted one would."""
    device, model, opt, config, step, resumed = start
    if resumed is not None:
        restore_rng(torch, resumed, logger)
    stop = args.steps if args.stop_after is None else min(args.steps, args.stop_after)
    book = Bookkeeping(args, torch, logger, lambda: rng_state(torch))
    rendered: Tuple[int, Any] = (-1, None)
    with BatchSource(args.seed, args.batch, size, args.workers, render) as batches:
        while step < stop:
            b = step // reuse
            if rendered[0] != b:
                rendered = (b, batches.get(b, stop // reuse + 1))
            inputs, targets = batch_for_step(rendered[1], step)
            x = torch.from_numpy(inputs).to(device)
            t = torch.from_numpy(targets).to(device)
            loss = loss_of(model(x), t)
            step = optimizer_step(args, opt, loss, step)
            book.after(step, stop, float(loss.detach()), model, opt, config)
    logger.info("done at step %d", step)


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the trainer, which stops them (no traceback per worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def optimizer_step(args: argparse.Namespace, opt: Any, loss: Any, step: int) -> int:
    """One AdamW step on ``loss`` at the learning rate of ``step`` (warm-up, then cosine
    decay over ``--steps``) — the same in every trainer; returns the next step."""
    for g in opt.param_groups:
        g["lr"] = _lr(step, args.steps, args.lr)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return step + 1


def _lr(step: int, total: int, base: float, warmup: int = 200) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def add_common_args(
    p: argparse.ArgumentParser, steps: int, batch: int, width: int, out: str, log_every: int
) -> None:
    """The options both gauge trainers take (this one and ``pointer_train``)."""
    p.add_argument("--seed", type=int, default=1, help="seed of the weights and of every picture")
    p.add_argument("--steps", type=int, default=steps, help="optimizer steps in all")
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--width", type=int, default=width, help="network width")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes rendering batches ahead (0: render inline); results do not change",
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--out", default=out, help="checkpoints and log go here")
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--keep-every", type=int, default=1000)
    p.add_argument("--log-every", type=int, default=log_every)
    p.add_argument("--no-resume", action="store_true", help="start over even if last.pt exists")
    p.add_argument(
        "--stop-after", type=int, help="stop (with a checkpoint) after this step, as if interrupted"
    )


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m edged.pipelines.gauge.train", description=__doc__)
    add_common_args(p, steps=9000, batch=16, width=32, out="/tmp/gauge-train", log_every=20)
    p.add_argument("--size", type=int, default=128, help="training picture side (px)")
    add_field_looks_arg(p)
    add_init_arg(p)
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    return run_logged(parse_args(argv), log, _train)


def run_logged(
    args: argparse.Namespace, logger: logging.Logger, train: Callable[[Any, Any], int]
) -> int:
    """``train(args, torch)`` with torch's threads set, ``--out`` made, and the log going to
    stderr and ``--out``/train.log (both trainers)."""
    import torch

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    handlers = [
        logging.StreamHandler(sys.stderr),
        logging.FileHandler(os.path.join(args.out, "train.log")),
    ]
    for h in handlers:
        h.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(h)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        return train(args, torch)
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()


def _train(args: argparse.Namespace, torch: Any) -> int:
    from edged.pipelines.gauge.model import build_model
    from edged.pipelines.gauge.synth import RENDERER_VERSION

    np.random.seed(args.seed)
    identity: Dict[str, Any] = {"size": args.size, "renderer": RENDERER_VERSION}
    if args.field_looks:  # (absent otherwise: runs without them resume as before)
        identity["field_looks"] = args.field_looks
    # steps, lr, batch and size may change on a resume (a run extended); checkpoints
    # before renderer versions were recorded are version 1
    start = start_training(
        args,
        torch,
        build_model,
        identity,
        log,
        resume_keys=("seed", "width", "init_sha256", "renderer"),
        defaults={"renderer": 1},
        optional=("field_looks",),
    )
    stop = args.steps if args.stop_after is None else min(args.steps, args.stop_after)
    render = functools.partial(render_batch, looks=args.field_looks)
    with BatchSource(args.seed, args.batch, args.size, args.workers, render) as batches:
        _loop(args, torch, start, stop, batches)
    return 0


def _loop(
    args: argparse.Namespace, torch: Any, start: TrainingStart, stop: int, batches: BatchSource
) -> None:
    device, model, opt, config, step, _ = start
    book = Bookkeeping(args, torch, log)
    while step < stop:
        images, cmap_t, paf_t = batches.get(step, stop)
        x = torch.from_numpy(images).to(device)
        ct = torch.from_numpy(cmap_t).to(device)
        pt = torch.from_numpy(paf_t).to(device)
        cmap, paf = model(x)
        # positives are rare: weight them up so peaks are learnt early
        cw = 1.0 + 20.0 * ct
        pw = 1.0 + 10.0 * (pt.abs() > 0).float()
        loss = (cw * (cmap - ct) ** 2).mean() * 6 + (pw * (paf - pt) ** 2).mean() * 8
        step = optimizer_step(args, opt, loss, step)
        book.after(step, stop, float(loss.detach()), model, opt, config)
    log.info("done at step %d", step)


class Bookkeeping:
    """What both trainers do after each step: a log line every ``--log-every`` steps, and
    ``last.pt`` every ``--ckpt-every`` steps with a copy kept every ``--keep-every`` (and at the
    end). ``extra()`` adds state to each checkpoint (the pointer trainer's random streams)."""

    def __init__(
        self,
        args: argparse.Namespace,
        torch: Any,
        logger: logging.Logger,
        extra: Callable[[], Dict[str, Any]] = dict,
    ):
        self.args, self.torch, self.log, self.extra = args, torch, logger, extra
        self.last = os.path.join(args.out, "last.pt")
        self.t0 = time.monotonic()
        self.running = 0.0

    def after(
        self, step: int, stop: int, loss: float, model: Any, opt: Any, config: Dict[str, Any]
    ) -> None:
        args = self.args
        self.running += loss
        if step % args.log_every == 0:
            self.log.info(
                "step %d loss %.5f lr %.2e %.3f s/step",
                step,
                self.running / args.log_every,
                _lr(step, args.steps, args.lr),
                (time.monotonic() - self.t0) / args.log_every,
            )
            self.t0, self.running = time.monotonic(), 0.0
        if step % args.ckpt_every == 0 or step in (args.steps, stop):
            state = self.extra()
            _save(self.torch, model, opt, step, config, self.last, **state)
            if step % args.keep_every == 0 or step == args.steps:
                keep = os.path.join(args.out, f"step_{step:06d}.pt")
                _save(self.torch, model, opt, step, config, keep, **state)


def _save(
    torch: Any, model: Any, opt: Any, step: int, config: Any, path: str, **extra: Any
) -> None:
    tmp = path + ".tmp"
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "config": config}
    state.update(extra)
    torch.save(state, tmp)
    os.replace(tmp, path)


def add_init_arg(p: argparse.ArgumentParser) -> None:
    """``--init``: the option of the trainers that fine-tune (this one, the pointer and display
    trainers)."""
    p.add_argument(
        "--init",
        metavar="CKPT",
        help="start from this checkpoint's weights (fine-tuning; new optimizer and schedule); "
        "an exported .onnx model works too (its batch norms stay frozen, folded into the convs)",
    )


def apply_init(
    args: argparse.Namespace,
    torch: Any,
    model: Any,
    config: Dict[str, Any],
    device: str,
    logger: logging.Logger,
) -> None:
    """Load ``--init``'s weights (a checkpoint, or an exported .onnx model through
    ``load_onnx_weights``) into ``model``, and record in ``config`` its sha256
    (``init_sha256``, which a resume must match) and whether the batch norms stay frozen
    (``frozen_bn``). Nothing without ``--init``."""
    init_path = getattr(args, "init", None)
    if not init_path:
        return
    from edged.files import file_sha256

    if init_path.endswith(".onnx"):
        load_onnx_weights(torch, model, init_path)
        config["frozen_bn"] = True
        logger.info("starting from the weights of %s (batch norms frozen)", init_path)
    else:
        init = load_checkpoint(torch, init_path, device)
        theirs = init.get("config", {})
        if theirs.get("arch") != config.get("arch"):
            raise SystemExit(
                f"--init {init_path} is a {theirs.get('arch') or 'gauge'} model, "
                f"not {config.get('arch') or 'gauge'}"
            )
        width = theirs.get("width")
        if width is not None and width != args.width:
            raise SystemExit(f"--init {init_path} has width {width}; pass --width {width}")
        model.load_state_dict(init["model"])
        config["frozen_bn"] = bool(theirs.get("frozen_bn"))
        logger.info("starting from the weights of %s (step %s)", init_path, init.get("step"))
    config["init_sha256"] = file_sha256(init_path)


def load_onnx_weights(torch: Any, model: Any, path: str) -> None:
    """Load an exported model's weights into a fresh network of the same architecture.

    The export folds each batch norm into the conv before it, so each conv gets the folded
    weight and its batch norm becomes the identity plus the folded bias (mean 0, variance
    1 - eps, scale 1). Such a network is the exported one only while its batch norms are not
    re-estimated: fine-tune it with ``freeze_batch_norms``. This is how a shipped model is
    fine-tuned when its training checkpoint is gone: the repository keeps the ONNX files.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(path).graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    pairs = []  # (name, conv, batch norm or None) in the order forward() runs them
    mods = list(model.named_modules())
    for i, (name, m) in enumerate(mods):
        if isinstance(m, torch.nn.Conv2d):
            nxt = mods[i + 1][1] if i + 1 < len(mods) else None
            pairs.append((name, m, nxt if isinstance(nxt, torch.nn.BatchNorm2d) else None))
    if len(pairs) != len(convs):
        raise SystemExit(f"{path}: {len(convs)} convolutions, the network has {len(pairs)}")
    names = {name for name, _, _ in pairs}
    for (name, _, _), node in zip(pairs, convs):
        # the exporter names a node by its module's path ("/head/Conv"), which must be the
        # network's convolution at the same place (the weights themselves are anonymous)
        scope = node.name.split("/")[-2] if node.name.count("/") >= 2 else None
        if scope in names and scope != name:
            raise SystemExit(f"{path}: {node.name} is in the place of the network's {name}")
    with torch.no_grad():
        for (_, conv, bn), node in zip(pairs, convs):
            _copy(torch, conv.weight, values.get(node.input[1]), node.name, path)
            b = torch.from_numpy(values[node.input[2]].copy()) if len(node.input) > 2 else None
            if bn is None:
                if b is not None:
                    conv.bias.copy_(b)
                continue
            bn.weight.fill_(1.0)
            bn.bias.copy_(b if b is not None else torch.zeros_like(bn.bias))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
        _load_linears(torch, model, graph, values, path)


def _load_linears(torch: Any, model: Any, graph: Any, values: Dict[str, Any], path: str) -> None:
    """The network's ``Linear`` layers (the pointer model's heads) from the file's ``Gemm``
    nodes, matched by name: the exporter keeps a fully connected layer's parameter names
    (``pointer.weight``) and folds nothing into it. The two sets must be the same (a panel
    model's ``end`` head is not dropped into a sub-dial network) and each ``Gemm`` a plain
    ``x @ W.T + b``, as ``Linear`` computes."""
    from onnx import helper

    linears = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    gemms = {}
    for node in graph.node:
        if node.op_type != "Gemm":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = attrs.get("transB") == 1 and not attrs.get("transA")
        if not plain or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            raise SystemExit(f"{path}: {node.name} is not a plain fully connected layer")
        gemms[node.input[1].rsplit(".", 1)[0]] = node
    if set(gemms) != set(linears):
        raise SystemExit(
            f"{path}: fully connected layers {sorted(gemms)}, the network has {sorted(linears)}"
        )
    for name, linear in linears.items():
        inputs = gemms[name].input
        _copy(torch, linear.weight, values.get(inputs[1]), f"{name}.weight", path)
        if linear.bias is not None:
            bias = values.get(inputs[2]) if len(inputs) > 2 else None
            _copy(torch, linear.bias, bias, f"{name}.bias", path)


def _copy(torch: Any, param: Any, value: Any, what: str, path: str) -> None:
    """``param`` from the file's array ``value`` (of ``what``), refusing one that is missing
    or misshapen."""
    if value is None:
        raise SystemExit(f"{path}: no {what}, which the network has")
    if tuple(value.shape) != tuple(param.shape):
        raise SystemExit(f"{path}: {what} is {tuple(value.shape)}, not {tuple(param.shape)}")
    param.copy_(torch.from_numpy(value.copy()))


def freeze_batch_norms(torch: Any, model: Any) -> None:
    """Batch norms in inference mode (their statistics stay; their scale and shift still
    learn) for the rest of training: ``model.train()`` is not called again in the loop."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


class TrainingStart(NamedTuple):
    """Where a run starts: its device, seeded model and optimizer, config, first step, and
    the checkpoint it resumed from (None for a fresh start)."""

    device: str
    model: Any
    opt: Any
    config: Dict[str, Any]
    step: int
    resumed: Optional[Dict[str, Any]]


def start_training(
    args: argparse.Namespace,
    torch: Any,
    build: Callable[[int], Any],
    identity: Dict[str, Any],
    logger: logging.Logger,
    resume_keys: Optional[Sequence[str]] = None,
    defaults: Optional[Dict[str, Any]] = None,
    optional: Sequence[str] = (),
) -> TrainingStart:
    """The start every trainer shares (keypoint, pointer and direction models, display
    recogniser): the device, the seed, ``build(width)``, AdamW, the run's config (the common
    settings plus ``identity``: arch, input, renderer version), the weights of ``--init``
    where the trainer has that option (``apply_init``; an exported model's batch norms stay
    frozen), and ``last.pt`` in ``--out`` resumed only when it is this run's (a checkpoint of
    another run, or of another ``--init``, is refused, naming what differs). ``resume_keys``
    are the settings a resumed run must share (by default all but the input size; the
    keypoint trainer lets a run go on with more steps, another lr, batch or size), ``defaults``
    those an older checkpoint lacks; ``optional``: settings ``identity`` holds only when they
    are on, compared too (a run begun with one is not resumed without it, nor the reverse)."""
    device = args.device if args.device != "auto" else "cpu"
    if args.device == "auto" and torch.cuda.is_available():
        device = "cuda"
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model = build(args.width).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    config: Dict[str, Any] = {k: getattr(args, k) for k in ("seed", "steps", "batch", "width")}
    config.update(lr=args.lr, **identity)
    apply_init(args, torch, model, config, device, logger)
    keys = resume_keys
    if keys is None:
        keys = ("seed", "steps", "lr", "width", "batch", *(k for k in identity if k != "input"))
        keys += ("init_sha256",)
    keys = (*keys, *(k for k in optional if k not in keys))
    step, resumed = resume_last(args, torch, model, opt, device, config, keys, logger, defaults)
    threads = getattr(args, "threads", 1)
    logger.info("training %s on %s, %d thread(s)", json.dumps(config), device, threads)
    model.train()
    if config.get("frozen_bn"):
        freeze_batch_norms(torch, model)
    return TrainingStart(device, model, opt, config, step, resumed)


def resume_last(
    args: argparse.Namespace,
    torch: Any,
    model: Any,
    opt: Any,
    device: str,
    config: Dict[str, Any],
    keys: Sequence[str],
    logger: logging.Logger,
    defaults: Optional[Dict[str, Any]] = None,
) -> Tuple[int, Optional[Dict[str, Any]]]:
    """``last.pt`` in ``--out`` loaded into ``model`` and ``opt`` when it is this run's:
    ``(step, checkpoint)``, or ``(0, None)`` with none (or ``--no-resume``). A checkpoint
    whose ``keys`` differ from ``config`` (``defaults`` for keys older ones lack) is
    refused, naming each difference."""
    last = os.path.join(args.out, "last.pt")
    if not os.path.exists(last) or args.no_resume:
        return 0, None
    ckpt = load_checkpoint(torch, last, device)
    defaults = defaults or {}
    theirs = {k: ckpt["config"].get(k, defaults.get(k)) for k in keys}
    differ = ", ".join(
        f"{k} {theirs[k]!r} there, {config.get(k)!r} now"
        for k in keys
        if theirs[k] != config.get(k)
    )
    if differ:
        raise SystemExit(
            f"{last} is from another run ({differ}); rerun with its settings, "
            "or use --no-resume or another --out"
        )
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["opt"])
    step = int(ckpt["step"])
    logger.info("resumed from %s at step %d", last, step)
    return step, ckpt


def load_checkpoint(torch: Any, path: str, device: str) -> Any:
    """``torch.load`` of our own checkpoint (weights_only=False needs torch >= 1.13)."""
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except TypeError:
        return torch.load(path, map_location=device)


if __name__ == "__main__":
    sys.exit(main())
