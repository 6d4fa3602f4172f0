"""The scale direction model trains deterministically, resumes seamlessly, draws both
directions, and exports to an ONNX model the reader runs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from trainkit import TINY, assert_repeatable  # noqa: E402

from edged.pipelines.gauge.direction_train import main, render_direction_batch  # noqa: E402
from edged.pipelines.gauge.scale_direction import STRIP_H, STRIP_W  # noqa: E402


def test_batches_hold_both_directions_and_are_a_function_of_the_seed():
    strips, targets = render_direction_batch(5, 0, 4, STRIP_W)
    assert strips.shape == (4, STRIP_H, STRIP_W, 3) and strips.dtype == np.float32
    assert set(targets.tolist()) == {0.0, 1.0}  # (both directions: even cw, odd ccw)
    again, _ = render_direction_batch(5, 0, 4, STRIP_W)
    assert np.array_equal(strips, again)
    other, _ = render_direction_batch(6, 0, 4, STRIP_W)
    assert not np.array_equal(strips, other)
    with pytest.raises(ValueError, match="256 px long"):
        render_direction_batch(5, 0, 4, 64)


def test_same_seed_same_weights_and_resume_is_seamless(tmp_path):
    assert_repeatable(main, tmp_path, ["--seed", "3", "--steps", "5", *TINY], 3)
    other = ["--seed", "4", "--steps", "5", *TINY, "--out", str(tmp_path / "a")]
    with pytest.raises(SystemExit, match="another run"):
        main(other)


def test_a_checkpoint_exports_to_a_model_the_reader_runs(tmp_path):
    from edged.pipelines.gauge.export import export_onnx
    from edged.pipelines.gauge.reader import ScaleDirectionModel

    assert main(["--seed", "1", "--steps", "1", *TINY, "--out", str(tmp_path)]) == 0
    out = str(tmp_path / "direction.onnx")
    assert len(export_onnx(str(tmp_path / "last.pt"), out)) == 64
    model = ScaleDirectionModel(out)
    try:
        (larger_first,) = model(np.zeros((3, 3, STRIP_H, STRIP_W), np.float32))
    finally:
        model.close()
    assert larger_first.shape == (3, 1) and np.isfinite(larger_first).all()
