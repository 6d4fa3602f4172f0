"""The seven-segment renderer: deterministic, and its labels are what it draws."""

from __future__ import annotations

import numpy as np
import pytest

from edged.pipelines.display import render
from edged.pipelines.display.render import (
    ALPHABET,
    SEGMENTS,
    VARIANTS,
    DisplaySpec,
    cells_of,
    is_heldout,
    label_of,
    render_display,
    sample_spec,
)


def test_same_seed_same_pixels_and_label():
    for seed in (0, 7, 123456789):
        a, la = render_display(seed)
        b, lb = render_display(seed)
        assert la == lb and a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
        assert np.array_equal(a, b)
    c, _ = render_display(8)
    assert not (c.shape == a.shape and np.array_equal(a, c))


def test_labels_use_the_alphabet_and_carry_no_leading_blanks():
    for seed in range(300):
        _img, label = render_display(seed)
        assert label and set(label) <= set(ALPHABET), label
        assert label == label.lstrip(" ")
        assert label.count(".") <= 1 or label.endswith(".")


@pytest.mark.parametrize(
    "text, cells, label",
    [("-12.5", 6, "-12.5"), ("0.034", None, "0.034"), ("88", 4, "88"), ("12.", 3, "12."),
     (".5", 2, ".5"), ("----", None, "----")],
)  # fmt: skip
def test_cells_and_labels_round_trip(text, cells, label):
    c = cells_of(text, cells)
    if cells is not None:
        assert len(c) == cells
    assert label_of(c) == label
    _img, got = render_display(3, text=text, cells=cells)
    assert got == label


def test_a_colon_is_labelled_where_it_is_drawn():
    _img, label = render_display(4, text="12:34")
    assert label == "12:34"
    with pytest.raises(ValueError):
        cells_of("1a")
    with pytest.raises(ValueError):
        cells_of("12345", 4)


def _spec(text, variants="", slant=0.0):
    return DisplaySpec(
        kind="lcd", colour="grey", cells=cells_of(text), colon=0, variants=variants,
        slant_deg=slant, aspect=0.55, thickness=0.12, gap=0.02, spacing=0.25, bevel=True,
        ghost=0.0,
    )  # fmt: skip


@pytest.mark.parametrize("variants", ["", "679"])
@pytest.mark.parametrize("slant", [0.0, 10.0])
def test_the_segments_drawn_are_those_of_the_label(variants, slant):
    """Draw every glyph with and without a point; at each segment's centre the mask is lit
    exactly when the glyph (or its variant shape) lights that segment."""
    h = 60.0
    text = "0123456789-." + "8."
    spec = _spec(text, variants, slant)
    lit, _unlit = render._lit_and_unlit(spec, h)
    shear = np.tan(np.radians(slant))
    mask = np.zeros((int(h) + 20, 800), np.float32)
    render._fill(mask, render.sheared(lit, shear, h), 10.0, 10.0)
    base = render._segment_polygons(spec, h)
    pitch = (spec.aspect + spec.spacing) * h
    for i, (glyph, dp) in enumerate(spec.cells):
        on = VARIANTS[glyph] if glyph in variants else SEGMENTS[glyph]
        for name, poly in base.items():
            cx, cy = poly.mean(axis=0)
            cx += i * pitch + shear * (h - cy) + 10.0
            cy += 10.0
            seen = mask[int(round(cy)), int(round(cx))] > 0.5
            want = dp if name == "dp" else name in on
            assert seen == want, (i, glyph, name)
    assert spec.label == "0123456789-.8."


def test_training_never_draws_a_held_out_style():
    for seed in range(200):
        rng = np.random.default_rng(seed)
        assert not is_heldout(sample_spec(rng, "train").style_key)
        assert is_heldout(sample_spec(np.random.default_rng(seed), "heldout").style_key)
