"""Export a display training checkpoint to ONNX (needs the ``[export]`` extra: PyTorch, onnx).

    python -m edged.pipelines.display.export /tmp/display-train/last.pt weights/display_crnn.onnx

The model has one input ``image`` (N, 1, 32, 160) float32 grey 0..255 with a
dynamic batch axis, and one output ``logits`` (N, 40, 14): per column, the CTC
blank then ``ALPHABET``. The export is checked against PyTorch with ONNX
Runtime before it is written.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import List, Optional

import numpy as np

from edged.pipelines.gauge.export import export_command
from edged.pipelines.gauge.train import load_checkpoint

__all__ = ["export_onnx", "main"]


def export_onnx(checkpoint: str, out: str, opset: int = 13) -> str:
    """Write ``out`` from ``checkpoint``; returns its sha256."""
    import torch

    from edged.pipelines.display.model import HEIGHT, WIDTH, build_display_model

    ckpt = load_checkpoint(torch, checkpoint, "cpu")
    config = ckpt["config"]
    if config.get("arch") != "display_crnn":
        raise SystemExit(f"{checkpoint} is not a display model ({config.get('arch')})")
    model = build_display_model(int(config["width"]))
    model.load_state_dict(ckpt["model"])
    model.eval()
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(0, 255, (3, 1, HEIGHT, WIDTH)).astype(np.float32))
    tmp = out + ".tmp"
    with torch.no_grad():
        ref = model(x).numpy()
        torch.onnx.export(
            model,
            (x,),
            tmp,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}},
            opset_version=opset,
            dynamo=False,
        )
    import onnxruntime as ort

    sess = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
    for n in (1, 3):
        got = sess.run(None, {"image": x.numpy()[:n]})[0]
        if not np.allclose(ref[:n], got, atol=1e-3):
            raise RuntimeError(f"ONNX output differs from PyTorch by {np.abs(ref[:n] - got).max()}")
    os.replace(tmp, out)
    with open(out, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main(argv: Optional[List[str]] = None) -> int:
    return export_command("python -m edged.pipelines.display.export", __doc__, export_onnx, argv)


if __name__ == "__main__":
    sys.exit(main())
