"""The display model trains deterministically, resumes seamlessly, and exports to an ONNX
model with a dynamic batch that the reader runs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from trainkit import TINY, assert_repeatable  # noqa: E402

from edged.pipelines.display.train import encode_label, main  # noqa: E402


def test_labels_encode_after_the_blank():
    assert encode_label("-1.0:") == [11, 2, 12, 1, 13]


def test_same_seed_same_weights_resume_and_export(tmp_path):
    assert_repeatable(main, tmp_path, ["--seed", "3", "--steps", "3", *TINY], 2)
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


def _first_loss(out):
    with open(out / "train.log") as f:
        for line in f:
            if " step 1 loss " in line:
                return float(line.split(" step 1 loss ")[1].split()[0])
    raise AssertionError(f"no step 1 in {out / 'train.log'}")


def test_an_exported_model_loads_back_into_an_equal_network(tmp_path):
    """The export's convolutions (batch norms folded in) map back onto the network in order,
    so a shipped model whose checkpoint is gone can be fine-tuned."""
    import onnxruntime as ort

    from edged.pipelines.display.export import export_onnx
    from edged.pipelines.display.model import build_display_model
    from edged.pipelines.gauge.train import load_onnx_weights

    assert main(["--seed", "3", "--steps", "2", *TINY, "--out", str(tmp_path / "a")]) == 0
    onnx_path = str(tmp_path / "a.onnx")
    export_onnx(str(tmp_path / "a" / "last.pt"), onnx_path)
    net = build_display_model(4)
    load_onnx_weights(torch, net, onnx_path)
    net.eval()
    x = np.random.default_rng(0).uniform(0, 255, (2, 1, 32, 160)).astype(np.float32)
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    (want,) = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).run(
        ["logits"], {"image": x}
    )
    assert np.abs(got - want).max() < 1e-4
    # each convolution keeps its module's name, the prefix of its state dict keys
    import onnx

    nodes = [n.name for n in onnx.load(onnx_path).graph.node if n.op_type == "Conv"]
    scopes = [n.split("/")[-2] for n in nodes]
    assert scopes[0] == "features.0.0" and scopes[-1] == "head"
    assert all(f"{s}.weight" in net.state_dict() for s in scopes)
    graph = onnx.load(onnx_path)
    next(n for n in graph.graph.node if n.op_type == "Conv").name = "/head/Conv"
    onnx.save(graph, str(tmp_path / "moved.onnx"))
    with pytest.raises(SystemExit, match="in the place of the network's features.0.0"):
        load_onnx_weights(torch, build_display_model(4), str(tmp_path / "moved.onnx"))
    with pytest.raises(SystemExit, match="convolutions"):
        load_onnx_weights(torch, build_display_model(4).features, onnx_path)


def test_init_from_the_shipped_model_starts_trained_and_resume_refuses_another_init(tmp_path):
    from edged.pipelines.display.reader import DEFAULT_DISPLAY_MODEL

    run = ["--seed", "4", "--steps", "2", "--batch", "4", "--ckpt-every", "1", "--log-every", "1"]
    tuned = [*run, "--out", str(tmp_path / "b")]
    assert main([*tuned, "--init", DEFAULT_DISPLAY_MODEL, "--stop-after", "1"]) == 0
    assert main([*run, "--stop-after", "1", "--out", str(tmp_path / "c")]) == 0
    # the shipped model reads these crops already: CTC loss ~0.01 against ~30 from scratch
    assert _first_loss(tmp_path / "b") < 0.01 * _first_loss(tmp_path / "c")
    ckpt = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert ckpt["config"]["frozen_bn"] is True
    assert len(ckpt["config"]["init_sha256"]) == 64
    means = [v for k, v in ckpt["model"].items() if k.endswith("running_mean")]
    assert means and all(float(m.abs().max()) == 0.0 for m in means)
    # resuming without --init, or with another one, would change what the run is: refused
    with pytest.raises(SystemExit, match="init_sha256"):
        main(tuned)
    with pytest.raises(SystemExit, match="init_sha256"):
        main([*tuned, "--init", str(tmp_path / "c" / "last.pt")])
    assert main([*tuned, "--init", DEFAULT_DISPLAY_MODEL]) == 0
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=False)["step"] == 2
    # a checkpoint of another kind of model is refused by name
    from edged.pipelines.gauge.train import main as gauge_main

    gauge = ["--seed", "3", "--steps", "1", "--width", "8", "--batch", "2", "--size", "64"]
    assert gauge_main([*gauge, "--out", str(tmp_path / "g")]) == 0
    with pytest.raises(SystemExit, match="not display_crnn"):
        main([*run, "--init", str(tmp_path / "g" / "last.pt"), "--out", str(tmp_path / "x")])
