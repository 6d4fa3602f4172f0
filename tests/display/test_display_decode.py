"""Greedy CTC decoding and the value of a display's text."""

from __future__ import annotations

import numpy as np
import pytest

from edged.pipelines.display.decode import ctc_greedy, parse_value, plausible
from edged.pipelines.display.render import ALPHABET


def _logits(path, p=0.98):
    """Logits whose per-column best class follows ``path`` ('_' blank) with probability ~p."""
    c = len(ALPHABET) + 1
    out = np.full((len(path), c), np.log((1 - p) / (c - 1)))
    for t, ch in enumerate(path):
        out[t, 0 if ch == "_" else ALPHABET.index(ch) + 1] = np.log(p)
    return out


def test_runs_merge_and_blanks_separate_repeats():
    d = ctc_greedy(_logits("__11_1__22.._5__"))
    assert d.text == "112.5"
    assert len(d.char_confidences) == 5
    assert d.confidence == pytest.approx(0.98)
    assert ctc_greedy(_logits("____")).text == ""
    assert ctc_greedy(_logits("-_-:")).text == "--:"


def test_confidence_is_the_weakest_character_or_gap():
    z = _logits("_1_2_")
    z[3] = np.log(np.full(z.shape[1], 1.0 / z.shape[1]))  # '2' barely wins its column...
    z[3, ALPHABET.index("2") + 1] += 0.5
    d = ctc_greedy(z)
    assert d.text == "12" and d.char_confidences[0] == pytest.approx(0.98)
    assert d.char_confidences[1] < 0.2 and d.confidence == d.char_confidences[1]
    z = _logits("_1_2_")
    z[2, ALPHABET.index("7") + 1] = np.log(0.97)  # ...or a blank column where a 7 nearly was
    d = ctc_greedy(z)
    assert d.text == "12" and d.gap_confidence < 0.55 and d.confidence == d.gap_confidence


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError):
        ctc_greedy(np.zeros((40, 5)))


@pytest.mark.parametrize(
    "text, value",
    [("-12.5", -12.5), ("0.034", 0.034), ("88", 88.0), ("12.", 12.0), (".5", 0.5),
     ("----", None), ("12:34", None), ("", None), ("1.2.3", None), ("1-2", None), ("-", None)],
)  # fmt: skip
def test_values(text, value):
    assert parse_value(text) == value


def test_plausible_texts():
    for text in ("-12.5", "0.034", "88", "12.", "12.3.", "----", "12:34", ".5", "-"):
        assert plausible(text), text
    for text in ("", "15.31.2", "1-2", "12:3.4", "1:2:3", "1..2"):
        assert not plausible(text), text
