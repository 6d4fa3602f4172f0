"""Export a training checkpoint to ONNX (needs the ``[export]`` extra: PyTorch, onnx).

    python -m edged.pipelines.gauge.export /tmp/gauge-train/last.pt weights/gauge_kp_w32.onnx
    python -m edged.pipelines.gauge.export /tmp/pointer-train/last.pt weights/gauge_pointer.onnx
    python -m edged.pipelines.gauge.export /tmp/direction-train/last.pt weights/gauge_direction.onnx

The keypoint model has one input ``image`` (N, 3, H, W) float32 BGR 0..255, with
dynamic batch, height and width (multiples of 16), and two outputs ``cmap``
(N, 6, H/4, W/4) and ``paf`` (N, 8, H/4, W/4). The pointer model (a checkpoint
of ``pointer_train``) takes (N, 3, 64, 64) and gives ``pointer`` and ``zero``
(N, 72 angle classes) and ``ccw`` (N, 1), the panel model also ``end`` (N, 72). The
scale direction model (``direction_train``) takes strips (N, 3, 48, 256) and gives
``larger_first`` (N, 1). The export is checked against
PyTorch with ONNX Runtime before it is written.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from typing import Any, List, Optional

import numpy as np

from edged.pipelines.gauge.train import load_checkpoint

__all__ = ["export_onnx", "main"]


def export_onnx(checkpoint: str, out: str, opset: int = 13) -> str:
    """Write ``out`` from ``checkpoint`` (a keypoint, pointer or direction model); returns its
    sha256."""
    import torch

    ckpt = load_checkpoint(torch, checkpoint, "cpu")
    config = ckpt["config"]
    if config.get("arch") == "direction":
        from edged.pipelines.gauge.scale_direction import (
            STRIP_H,
            STRIP_W,
            build_direction_model,
        )

        model = build_direction_model(int(config["width"]))
        shape, names = (3, 3, STRIP_H, STRIP_W), ["larger_first"]
        axes = {name: {0: "n"} for name in ["image", *names]}
    elif config.get("arch") == "pointer":
        from edged.pipelines.gauge.pointer_model import END, HEADS, INPUT, build_pointer_model

        end = bool(config.get("end_head"))
        model = build_pointer_model(int(config["width"]), end)
        shape, names = (3, 3, INPUT, INPUT), [*HEADS] + [END] * end
        axes = {name: {0: "n"} for name in ["image", *names]}
    else:
        from edged.pipelines.gauge.model import build_model

        model = build_model(int(config["width"]))
        shape, names = (2, 3, 128, 160), ["cmap", "paf"]
        axes = {"image": {0: "n", 2: "h", 3: "w"}}
        axes.update({name: {0: "n", 2: "h4", 3: "w4"} for name in names})
    model.load_state_dict(ckpt["model"])
    model.eval()
    x = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32))
    tmp = out + ".tmp"
    with torch.no_grad():
        ref = [t.numpy() for t in model(x)]
        torch.onnx.export(
            model,
            (x,),
            tmp,
            input_names=["image"],
            output_names=names,
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    import onnxruntime as ort

    sess = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x.numpy()})
    for a, b in zip(ref, got):
        # float32 sums run in another order: within 1e-3 of the outputs' own scale
        tolerance = 1e-3 * max(1.0, float(np.abs(a).max()))
        if not np.allclose(a, b, rtol=0.0, atol=tolerance):
            raise RuntimeError(f"ONNX output differs from PyTorch by {np.abs(a - b).max()}")
    os.replace(tmp, out)
    with open(out, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def export_command(
    prog: str, description: Optional[str], export: Any, argv: Optional[List[str]] = None
) -> int:
    """``python -m … CHECKPOINT OUT [--opset N]`` for a trainer's ``export(ckpt, out, opset)``
    (gauge keypoints, and the display recogniser), printing the file's sha256 and size."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("checkpoint")
    p.add_argument("out")
    p.add_argument("--opset", type=int, default=13)
    args = p.parse_args(argv)
    sha = export(args.checkpoint, args.out, args.opset)
    print(f"{args.out}: sha256 {sha}, {os.path.getsize(args.out)} bytes")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return export_command("python -m edged.pipelines.gauge.export", __doc__, export_onnx, argv)


if __name__ == "__main__":
    sys.exit(main())
