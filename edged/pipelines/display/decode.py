"""Greedy CTC decoding of the display model's column scores, in numpy.

The model scores each of its ``STEPS`` columns as the CTC blank (class 0) or a
character of ``ALPHABET`` (class ``i + 1``). The best class of each column is
taken, runs of the same class are merged and blanks dropped. Each character's
confidence is the highest probability its class reaches over its run of
columns. A column the model gave to the blank while a class other than its
neighbours' came close is a character that may have been dropped (a faint
decimal point, most often), so for each blank column one minus the strongest
such class is the ``gap_confidence``, and the lowest is reported. (A column
between a character and the blank that hesitates between the two changes
nothing, and does not count.)
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional

import numpy as np

from edged.pipelines.display.render import ALPHABET

__all__ = ["Decoded", "ctc_greedy", "parse_value", "plausible", "softmax"]


class Decoded(NamedTuple):
    text: str
    char_confidences: List[float]  # one per character of ``text``
    gap_confidence: float  # 1 - the strongest new character in a blank column (1: none)

    @property
    def confidence(self) -> float:
        """The least sure decision: the weakest character, or the weakest blank."""
        return min([self.gap_confidence, *self.char_confidences])


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = logits.astype(np.float64) - np.max(logits, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def ctc_greedy(logits: np.ndarray, alphabet: str = ALPHABET, blank: int = 0) -> Decoded:
    """Decode one crop's (T, C) logits (C = len(alphabet) + 1, ``blank`` first)."""
    if logits.ndim != 2 or logits.shape[1] != len(alphabet) + 1:
        raise ValueError(f"expected (T, {len(alphabet) + 1}) logits, got {logits.shape}")
    p = softmax(logits, 1)
    best = np.argmax(p, axis=1)
    text: List[str] = []
    confs: List[float] = []
    gap = 1.0
    prev = blank
    n = len(best)
    for t, k in enumerate(best):
        k = int(k)
        if k == blank:
            # a class other than its neighbours' here would have been one more character
            near = {blank, int(best[t - 1]) if t > 0 else blank}
            near.add(int(best[t + 1]) if t + 1 < n else blank)
            others = [c for c in range(p.shape[1]) if c not in near]
            gap = min(gap, 1.0 - float(p[t, others].max()))
        elif k != prev:
            text.append(alphabet[k - 1 if blank == 0 else k])
            confs.append(float(p[t, k]))
        else:
            confs[-1] = max(confs[-1], float(p[t, k]))
        prev = k
    return Decoded("".join(text), confs, gap)


def parse_value(text: str) -> Optional[float]:
    """The number a display shows (``"-12.5"`` -> -12.5), or None for text that is not one
    (dashes, a clock's ``"12:34"``, nothing)."""
    if not text or ":" in text or not any(ch.isdigit() for ch in text):
        return None
    if text.count(".") > 1 or text.count("-") > 1 or "-" in text[1:]:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def plausible(text: str) -> bool:
    """Whether a seven-segment display can show ``text``: at most one point inside it (and one
    after its last cell), a minus only in front (or dashes only), at most one colon and then no
    point. A reading that is not is a misread, not a value."""
    if not text:
        return False
    if set(text) == {"-"}:
        return True
    body = text[:-1] if text.endswith(".") else text
    if body.count(".") > 1 or "-" in text[1:] or text.count(":") > 1:
        return False
    return ":" not in text or "." not in text
