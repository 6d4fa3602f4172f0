"""The pointer model trains deterministically, resumes seamlessly, refuses a foreign run, and
exports to an ONNX model the reader runs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from trainkit import TINY, assert_repeatable  # noqa: E402

from edged.pipelines.gauge.pointer_train import main  # noqa: E402


def test_same_seed_same_weights_and_resume_is_seamless(tmp_path):
    assert_repeatable(main, tmp_path, ["--seed", "3", "--steps", "3", *TINY], 2)
    other = ["--seed", "4", "--steps", "3", *TINY, "--out", str(tmp_path / "a")]
    with pytest.raises(SystemExit, match="another run"):
        main(other)


def test_a_checkpoint_exports_to_a_model_the_reader_runs(tmp_path):
    from edged.pipelines.gauge.export import export_onnx
    from edged.pipelines.gauge.pointer_reader import PointerModel, PointerReader
    from edged.pipelines.gauge.reader import ReadOptions

    assert main(["--seed", "1", "--steps", "1", *TINY, "--out", str(tmp_path)]) == 0
    out = str(tmp_path / "pointer.onnx")
    sha = export_onnx(str(tmp_path / "last.pt"), out)
    assert len(sha) == 64
    model = PointerModel(out)
    pointer, zero, ccw = model(np.zeros((2, 3, 64, 64), np.float32))
    assert pointer.shape == (2, 72) and zero.shape == (2, 72) and ccw.shape == (2, 1)
    crop = np.full((90, 90, 3), 200, np.uint8)
    reading = PointerReader(model).read_crops([crop], [ReadOptions(0, 10, 0, 360)])[0]
    assert 0.0 <= reading.angle_deg < 360.0 and 0.0 < reading.confidence <= 1.0
    model.close()


def test_panel_runs_are_deterministic_and_not_resumed_as_sub_dial_runs(tmp_path):
    assert_repeatable(
        main, tmp_path, ["--dials", "panels", "--seed", "2", "--steps", "2", *TINY], 1
    )
    ckpt = torch.load(tmp_path / "a" / "last.pt", map_location="cpu", weights_only=False)
    assert ckpt["config"]["dials"] == "panels" and ckpt["config"]["renderer"] >= 3
    sub_dials = ["--seed", "2", "--steps", "2", *TINY, "--out", str(tmp_path / "a")]
    with pytest.raises(SystemExit, match="another run"):
        main(sub_dials)


def test_a_panel_checkpoint_exports_with_the_end_head(tmp_path):
    """The panel model measures where its scale ends too (the sweep of a meter configured
    with only min and max); the sub-dial model has no such output."""
    from edged.pipelines.gauge.export import export_onnx
    from edged.pipelines.gauge.pointer_reader import PointerModel

    assert main(["--dials", "panels", "--seed", "1", "--steps", "1", *TINY,
                 "--out", str(tmp_path)]) == 0  # fmt: skip
    out = str(tmp_path / "panel.onnx")
    export_onnx(str(tmp_path / "last.pt"), out)
    model = PointerModel(out, name="gauge-panel")
    outputs = model.engine.infer({"image": np.zeros((2, 3, 64, 64), np.float32)})
    assert sorted(outputs) == ["ccw", "end", "pointer", "zero"]
    assert outputs["end"].shape == (2, 72)
    model.close()


def test_a_shipped_panel_model_fine_tunes_from_its_onnx_file(tmp_path):
    """``--init FILE.onnx`` for the pointer trainer: the exported network, fully connected
    heads included, loads back with the same outputs, and a run from it records the file and
    keeps the folded batch norms frozen; a file missing a head the network has is refused."""
    import onnx
    import onnxruntime as ort

    from edged.pipelines.gauge.export import export_onnx
    from edged.pipelines.gauge.pointer_model import build_pointer_model
    from edged.pipelines.gauge.train import load_onnx_weights

    first = ["--dials", "panels", "--seed", "1", "--steps", "1", *TINY]
    assert main([*first, "--out", str(tmp_path / "a")]) == 0
    path = str(tmp_path / "panel.onnx")
    export_onnx(str(tmp_path / "a" / "last.pt"), path)
    width = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["config"]["width"]
    net = build_pointer_model(width, end=True)
    load_onnx_weights(torch, net, path)
    net.eval()
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        got = [t.numpy() for t in net(torch.from_numpy(x))]
    want = ort.InferenceSession(path).run(["pointer", "zero", "ccw", "end"], {"image": x})
    assert all(np.abs(g - w).max() < 1e-4 for g, w in zip(got, want))

    tuned = ["--dials", "panels", "--seed", "2", "--steps", "2", *TINY]
    assert main([*tuned, "--init", path, "--out", str(tmp_path / "b")]) == 0
    config = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["config"]
    assert config["frozen_bn"] is True and len(config["init_sha256"]) == 64

    headless = onnx.load(path)
    kept = [t for t in headless.graph.initializer if not t.name.startswith("end.")]
    del headless.graph.initializer[:]
    headless.graph.initializer.extend(kept)
    broken = str(tmp_path / "headless.onnx")
    onnx.save(headless, broken)
    with pytest.raises(SystemExit, match="no end.weight"):
        load_onnx_weights(torch, build_pointer_model(width, end=True), broken)
    # a panel model is not dropped into a sub-dial network, its end head left behind
    with pytest.raises(SystemExit, match="fully connected layers"):
        load_onnx_weights(torch, build_pointer_model(width, end=False), path)
