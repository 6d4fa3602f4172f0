"""Small ONNX models built with ``onnx.helper`` for the engine tests, and a numpy reference.

The model is Conv(3->4, 3x3, pad 1) -> Relu -> Flatten -> MatMul -> Add, with
a dynamic batch dimension named ``batch``; it has two outputs so the tests see
outputs of different shapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CHANNELS, SIZE, HIDDEN, CLASSES = 3, 8, 4, 5


def make_weights(seed: int = 0) -> Dict[str, np.ndarray]:
    """Deterministic weights, shared by the model and the reference."""
    rng = np.random.default_rng(seed)
    return {
        "conv_w": rng.standard_normal((HIDDEN, CHANNELS, 3, 3)).astype(np.float32),
        "conv_b": rng.standard_normal(HIDDEN).astype(np.float32),
        "fc_w": rng.standard_normal((HIDDEN * SIZE * SIZE, CLASSES)).astype(np.float32) * 0.1,
        "fc_b": rng.standard_normal(CLASSES).astype(np.float32),
    }


def build_model(path: Path, *, seed: int = 0, batch: str | int = "batch") -> Path:
    """Write the test model to ``path`` and return it."""
    w = make_weights(seed)
    inits = [numpy_helper.from_array(v, name=k) for k, v in w.items()]
    nodes = [
        helper.make_node("Conv", ["image", "conv_w", "conv_b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["features"]),
        helper.make_node("Flatten", ["features"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "fc_w"], ["mm"]),
        helper.make_node("Add", ["mm", "fc_b"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "edged_test",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, CHANNELS, SIZE, SIZE])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, CLASSES]),
            helper.make_tensor_value_info(
                "features", TensorProto.FLOAT, [batch, HIDDEN, SIZE, SIZE]
            ),
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every onnxruntime edged supports
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def reference(image: np.ndarray, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """The model's (logits, features) computed with plain numpy."""
    w = make_weights(seed)
    padded = np.pad(image, ((0, 0), (0, 0), (1, 1), (1, 1)))
    batch = image.shape[0]
    conv = np.zeros((batch, HIDDEN, SIZE, SIZE), dtype=np.float64)
    for dy in range(3):
        for dx in range(3):
            patch = padded[:, :, dy : dy + SIZE, dx : dx + SIZE]
            conv += np.einsum("bchw,oc->bohw", patch, w["conv_w"][:, :, dy, dx])
    conv += w["conv_b"][None, :, None, None]
    features = np.maximum(conv, 0)
    logits = features.reshape(batch, -1) @ w["fc_w"] + w["fc_b"]
    return logits.astype(np.float32), features.astype(np.float32)
