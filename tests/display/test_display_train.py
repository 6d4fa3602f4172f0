"""The display model trains deterministically, resumes seamlessly, and exports to an ONNX
model with a dynamic batch that the reader runs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from edged.pipelines.display.train import encode_label, main  # noqa: E402

TINY = ["--width", "4", "--batch", "4", "--ckpt-every", "1", "--log-every", "1"]


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_labels_encode_after_the_blank():
    assert encode_label("-1.0:") == [11, 2, 12, 1, 13]


def test_same_seed_same_weights_resume_and_export(tmp_path):
    run = ["--seed", "3", "--steps", "3", *TINY]
    assert main([*run, "--out", str(tmp_path / "a")]) == 0
    a = _weights(tmp_path / "a" / "last.pt")
    assert main([*run, "--stop-after", "2", "--out", str(tmp_path / "c")]) == 0
    assert main([*run, "--out", str(tmp_path / "c")]) == 0
    assert _same(a, _weights(tmp_path / "c" / "last.pt"))
    assert main([*run, "--workers", "1", "--out", str(tmp_path / "w")]) == 0
    assert _same(a, _weights(tmp_path / "w" / "last.pt"))
    with pytest.raises(SystemExit, match="another run"):
        main(["--seed", "4", "--steps", "3", *TINY, "--out", str(tmp_path / "a")])

    from edged.pipelines.display.export import export_onnx
    from edged.pipelines.display.reader import DisplayModel, DisplayReader
    from edged.pipelines.display.render import render_display

    out = str(tmp_path / "d.onnx")
    assert len(export_onnx(str(tmp_path / "a" / "last.pt"), out)) == 64
    model = DisplayModel(out)
    try:
        crops = [render_display(i)[0] for i in range(5)]
        readings = DisplayReader(model).read_crops(crops)
        assert len(readings) == 5
        (logits,) = model(np.zeros((5, 1, 32, 160), np.float32))
        assert logits.shape == (5, 40, 14)
    finally:
        model.close()
