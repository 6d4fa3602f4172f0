"""What the trainer tests share: a tiny run's options, comparing checkpoints' weights, and
the check that a run repeats itself."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

#: a network and batch small enough to train a few steps in a second, a checkpoint each step
TINY = ["--width", "4", "--batch", "4", "--ckpt-every", "1", "--log-every", "1"]


def weights(path: Any) -> Dict[str, Any]:
    """The model's state dict in a trainer checkpoint."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def same(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    """Whether two state dicts hold bit-identical tensors."""
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def assert_repeatable(
    main: Callable[[List[str]], int], out: Any, run: List[str], stop_after: int
) -> Dict[str, Any]:
    """``run`` (a trainer's ``main`` arguments) gives the same weights again with a process
    rendering ahead, and when stopped after ``stop_after`` steps and resumed; returns the
    weights (the first run's checkpoints are in ``out / "a"``)."""
    assert main([*run, "--out", str(out / "a")]) == 0
    first = weights(out / "a" / "last.pt")
    assert main([*run, "--workers", "1", "--out", str(out / "w")]) == 0
    assert same(first, weights(out / "w" / "last.pt"))
    assert main([*run, "--stop-after", str(stop_after), "--out", str(out / "c")]) == 0
    assert main([*run, "--out", str(out / "c")]) == 0
    assert same(first, weights(out / "c" / "last.pt"))
    return first
