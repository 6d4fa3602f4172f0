"""Training is deterministic given the seed, and resuming changes nothing."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edged.pipelines.gauge.train import main, make_batch  # noqa: E402

TINY = ["--width", "8", "--batch", "2", "--size", "64", "--ckpt-every", "1", "--log-every", "1"]


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_and_resume_is_seamless(tmp_path):
    assert main(["--seed", "3", "--steps", "3", "--out", str(tmp_path / "a"), *TINY]) == 0
    assert main(["--seed", "3", "--steps", "3", "--out", str(tmp_path / "b"), *TINY]) == 0
    a, b = _weights(tmp_path / "a" / "last.pt"), _weights(tmp_path / "b" / "last.pt")
    assert _same(a, b)
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
    assert _same(a, _weights(tmp_path / "c" / "last.pt"))
    assert main(["--seed", "4", "--steps", "3", "--out", str(tmp_path / "d"), *TINY]) == 0
    assert not _same(a, _weights(tmp_path / "d" / "last.pt"))


def test_batches_depend_only_on_seed_and_step():
    x1, c1, p1 = make_batch(1, 5, 2, 64)
    x2, c2, p2 = make_batch(1, 5, 2, 64)
    assert (x1 == x2).all() and (c1 == c2).all() and (p1 == p2).all()
    assert x1.shape == (2, 3, 64, 64) and c1.shape == (2, 6, 16, 16) and p1.shape == (2, 8, 16, 16)
    assert not (make_batch(1, 6, 2, 64)[0] == x1).all()
