"""Training is deterministic given the seed, and resuming changes nothing."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from trainkit import same, weights  # noqa: E402

from edged.pipelines.gauge.train import main, make_batch, render_batch  # noqa: E402

TINY = ["--width", "8", "--batch", "2", "--size", "64", "--ckpt-every", "1", "--log-every", "1"]


def test_same_seed_same_weights_and_resume_is_seamless(tmp_path):
    assert main(["--seed", "3", "--steps", "3", "--out", str(tmp_path / "a"), *TINY]) == 0
    assert main(["--seed", "3", "--steps", "3", "--out", str(tmp_path / "b"), *TINY]) == 0
    a, b = weights(tmp_path / "a" / "last.pt"), weights(tmp_path / "b" / "last.pt")
    assert same(a, b)
    # stopped after 2 steps, then resumed to 3: the same weights as one uninterrupted run
    assert (
        main(
            [
                "--seed",
                "3",
                "--steps",
                "3",
                "--stop-after",
                "2",
                "--out",
                str(tmp_path / "c"),
                *TINY,
            ]
        )
        == 0
    )
    assert torch.load(tmp_path / "c" / "last.pt", weights_only=False)["step"] == 2
    assert main(["--seed", "3", "--steps", "3", "--out", str(tmp_path / "c"), *TINY]) == 0
    assert same(a, weights(tmp_path / "c" / "last.pt"))
    assert main(["--seed", "4", "--steps", "3", "--out", str(tmp_path / "d"), *TINY]) == 0
    assert not same(a, weights(tmp_path / "d" / "last.pt"))


def test_batches_depend_only_on_seed_and_step():
    x1, c1, p1 = make_batch(1, 5, 2, 64)
    x2, c2, p2 = make_batch(1, 5, 2, 64)
    assert (x1 == x2).all() and (c1 == c2).all() and (p1 == p2).all()
    assert x1.shape == (2, 3, 64, 64) and c1.shape == (2, 6, 16, 16) and p1.shape == (2, 8, 16, 16)
    assert not (make_batch(1, 6, 2, 64)[0] == x1).all()


def test_field_looks_change_pictures_not_their_labels():
    """``--field-looks P``: that share of the pictures gets one field-photo look (its own
    seed: the same every run); the targets are the render's, untouched."""

    plain, cmaps, pafs = render_batch(1, 5, 8, 64)
    looked, cmaps2, pafs2 = render_batch(1, 5, 8, 64, looks=1.0)
    assert (cmaps == cmaps2).all() and (pafs == pafs2).all()
    changed = [not (a == b).all() for a, b in zip(plain, looked)]
    assert all(changed)
    assert (render_batch(1, 5, 8, 64, looks=1.0)[0] == looked).all()
    some = render_batch(1, 5, 8, 64, looks=0.5)[0]
    kept = [(a == b).all() for a, b in zip(plain, some)]
    assert 0 < sum(kept) < 8  # about half given a look
    grey = [x for x in looked if (x[..., 0] == x[..., 1]).all() and (x[..., 1] == x[..., 2]).all()]
    assert grey and not any((x[..., 0] == x[..., 2]).all() for x in plain)


def test_field_looks_are_part_of_what_a_run_is(tmp_path, capsys):
    run = ["--seed", "3", "--steps", "2", "--out", str(tmp_path / "a"), *TINY]
    assert main([*run, "--field-looks", "0.3", "--stop-after", "1"]) == 0
    with pytest.raises(SystemExit, match="field_looks 0.3 there, None now"):
        main(run)  # resumed without the looks it began with: another run
    assert main([*run, "--field-looks", "0.3"]) == 0
    with pytest.raises(SystemExit):
        main([*run, "--field-looks", "1.5"])
    assert "a share of the pictures, 0 to 1" in capsys.readouterr().err


def test_rendering_in_a_worker_process_gives_bit_identicalweights(tmp_path):
    args = ["--seed", "5", "--steps", "2", *TINY]
    assert main([*args, "--out", str(tmp_path / "inline")]) == 0
    assert main([*args, "--workers", "1", "--out", str(tmp_path / "worker")]) == 0
    inline = weights(tmp_path / "inline" / "last.pt")
    assert same(inline, weights(tmp_path / "worker" / "last.pt"))


def test_init_fine_tunes_from_another_run_and_resume_refuses_a_mismatch(tmp_path):
    assert main(["--seed", "3", "--steps", "2", "--out", str(tmp_path / "a"), *TINY]) == 0
    base = tmp_path / "a" / "last.pt"
    tuned = ["--seed", "4", "--steps", "2", "--out", str(tmp_path / "b"), *TINY]
    assert main([*tuned, "--init", str(base), "--stop-after", "1"]) == 0
    fresh = ["--seed", "4", "--steps", "2", "--out", str(tmp_path / "c"), *TINY]
    assert main([*fresh, "--stop-after", "1"]) == 0
    # one step away from a's weights, not from a fresh initialisation
    a, b, c = (weights(tmp_path / d / "last.pt") for d in "abc")
    assert not same(b, c)
    floats = [k for k in a if a[k].is_floating_point() and "running" not in k]  # not BN stats
    assert max(float((a[k] - b[k]).abs().max()) for k in floats) < 0.01
    # resuming b without --init would silently change what the run is: refused
    with pytest.raises(SystemExit, match="another run"):
        main(tuned)
    assert main([*tuned, "--init", str(base)]) == 0
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=False)["step"] == 2


def test_an_exported_model_loads_back_into_an_equal_network_and_keeps_its_batch_norms(tmp_path):
    """Fine-tuning a shipped model whose checkpoint is gone: its ONNX weights, batch norms
    folded into the convolutions, make a network with the same outputs; training leaves the
    batch norms' statistics alone."""
    np = pytest.importorskip("numpy")
    ort = pytest.importorskip("onnxruntime")
    from edged.pipelines.gauge.export import export_onnx
    from edged.pipelines.gauge.model import build_model
    from edged.pipelines.gauge.train import load_onnx_weights

    assert main(["--seed", "3", "--steps", "2", "--out", str(tmp_path / "a"), *TINY]) == 0
    onnx_path = str(tmp_path / "a.onnx")
    export_onnx(str(tmp_path / "a" / "last.pt"), onnx_path)
    net = build_model(8)
    load_onnx_weights(torch, net, onnx_path)
    net.eval()
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        cmap, paf = net(torch.from_numpy(x))
    want_cmap, want_paf = ort.InferenceSession(onnx_path).run(["cmap", "paf"], {"image": x})
    assert np.abs(cmap.numpy() - want_cmap).max() < 1e-4
    assert np.abs(paf.numpy() - want_paf).max() < 1e-4
    # fine-tune from it: the batch norms stay the identity the folding needs
    tuned = ["--seed", "4", "--steps", "2", "--out", str(tmp_path / "b"), *TINY]
    assert main([*tuned, "--init", onnx_path]) == 0
    ckpt = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert ckpt["config"]["frozen_bn"] is True
    means = [v for k, v in ckpt["model"].items() if k.endswith("running_mean")]
    assert means and all(float(m.abs().max()) == 0.0 for m in means)
    with pytest.raises(SystemExit, match="convolutions"):
        load_onnx_weights(torch, build_model(8).stem, onnx_path)
