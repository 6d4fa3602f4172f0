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


def test_negatives_teach_even_odds_and_are_recorded_in_the_run(tmp_path):
    """``--negatives``: a share of a panel run's crops are windows of round dials, whose
    targets are even odds over every direction (the model learns to be unsure of them); the
    share is part of the run's identity, so a run without it is not resumed with it."""
    from edged.pipelines.gauge.pointer_model import BINS, INPUT
    from edged.pipelines.gauge.pointer_train import render_panel_batch, soft_bins

    targets = soft_bins(torch, torch.tensor([92.5, float("nan")]), BINS)  # a class centre
    assert torch.allclose(targets[1], torch.full((BINS,), 1.0 / BINS))
    assert int(targets[0].argmax()) == BINS // 4 and float(targets[0].max()) > 0.3
    images, labels = render_panel_batch(7, 0, 12, INPUT, negatives=0.5)
    again, labels_again = render_panel_batch(7, 0, 12, INPUT, negatives=0.5)
    assert np.array_equal(images, again) and np.array_equal(labels, labels_again, equal_nan=True)
    negative = np.isnan(labels[:, 0])
    assert 0 < negative.sum() < 12 and np.all(labels[negative, 2] == 0.5)
    assert np.all(np.isnan(labels[negative][:, [0, 1, 3]]))
    # the panel meters of a run with negatives are those of a run without them
    plain, plain_labels = render_panel_batch(7, 0, 12, INPUT)
    assert np.array_equal(images[~negative], plain[~negative])
    assert np.array_equal(labels[~negative], plain_labels[~negative])

    run = ["--dials", "panels", "--seed", "2", "--steps", "2", *TINY, "--out", str(tmp_path)]
    assert main([*run, "--negatives", "0.25"]) == 0
    config = torch.load(tmp_path / "last.pt", weights_only=False)["config"]
    assert config["negatives"] == 0.25
    with pytest.raises(SystemExit, match="another run"):
        main([*run, "--steps", "3"])
    with pytest.raises(SystemExit, match="negatives 0.25 there, None now"):
        main(run)  # the same run without its negatives


@pytest.mark.parametrize(
    "argv, message",
    [(["--negatives", "0.2"], "only with --dials panels"),
     (["--dials", "panels", "--negatives", "1"], "a share from 0"),
     (["--field-looks", "0.2"], "only with --dials panels"),
     (["--dials", "panels", "--field-looks", "2"], "0 to 1")],
)  # fmt: skip
def test_negatives_are_refused_where_they_mean_nothing(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(["--steps", "1", *TINY, *argv])
    assert message in capsys.readouterr().err


def test_field_looks_change_panel_crops_not_their_labels(tmp_path):
    """``--field-looks`` (panels): a share of the crops, negatives included, get a field
    photo's look; the labels stay, and the share is part of the run's identity."""
    from edged.pipelines.gauge.pointer_model import INPUT
    from edged.pipelines.gauge.pointer_train import render_panel_batch

    plain, labels = render_panel_batch(7, 0, 12, INPUT, negatives=0.25)
    looked, looked_labels = render_panel_batch(7, 0, 12, INPUT, negatives=0.25, looks=0.5)
    assert np.array_equal(labels, looked_labels, equal_nan=True)
    changed = [not np.array_equal(a, b) for a, b in zip(plain, looked)]
    assert 0 < sum(changed) < 12
    again, _ = render_panel_batch(7, 0, 12, INPUT, negatives=0.25, looks=0.5)
    assert np.array_equal(looked, again)

    run = ["--dials", "panels", "--seed", "2", "--steps", "2", *TINY, "--out", str(tmp_path)]
    assert main([*run, "--field-looks", "0.3", "--stop-after", "1"]) == 0
    assert torch.load(tmp_path / "last.pt", weights_only=False)["config"]["field_looks"] == 0.3
    with pytest.raises(SystemExit, match="field_looks 0.3 there, None now"):
        main(run)  # the same run but for its looks
    with pytest.raises(SystemExit, match="field_looks 0.3 there, 0.5 now"):
        main([*run, "--field-looks", "0.5"])
    assert main([*run, "--field-looks", "0.3"]) == 0
    plain = ["--dials", "panels", "--seed", "2", "--steps", "2", *TINY]
    assert main([*plain, "--out", str(tmp_path / "b"), "--stop-after", "1"]) == 0
    with pytest.raises(SystemExit, match="field_looks None there, 0.3 now"):
        main([*plain, "--out", str(tmp_path / "b"), "--field-looks", "0.3"])


def test_round_windows_are_windows_of_round_dials():
    from edged.pipelines.gauge.panel_crop import MAX_ASPECT, render_round_window

    for seed in range(6):
        window, spec = render_round_window(seed)
        assert np.array_equal(window, render_round_window(seed)[0])
        assert spec.layout == "round" and not spec.panel
        h, w = window.shape[:2]
        assert min(h, w) >= 8 and max(h, w) <= 1.01 * MAX_ASPECT * min(h, w) + 1
