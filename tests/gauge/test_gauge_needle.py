"""The needle's direction measured in the pixels beats the keypoints' few-degree error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edged.pipelines.gauge.angles import angle_of, point_at
from edged.pipelines.gauge.needle import refine_needle_angle
from edged.pipelines.gauge.synth import GaugeSpec, Placement, degrade, render_gauges


@pytest.mark.parametrize(
    ("face", "color", "shape", "fraction"),
    [
        ("white", (20, 20, 20), "tapered", 0.3),
        ("black", (240, 240, 240), "line", 0.77),
        ("cream", (30, 30, 210), "lance", 0.55),
    ],
)
def test_needle_angle_from_pixels(face, color, shape, fraction):
    spec = GaugeSpec(
        start_angle=225,
        sweep=270,
        min_value=0,
        max_value=1,
        value=fraction,
        face=face,
        needle_color=color,
        needle_shape=shape,
        seed=3,
    )
    rng = np.random.default_rng(7)
    image, (label,) = render_gauges(rng, 160, 160, [spec], [Placement(80, 80, 60)], clean=True)
    image = degrade(image, rng, strength=0.5)
    cx, cy, _ = label.keypoints["center"]
    tx, ty, _ = label.keypoints["tip"]
    truth = angle_of(tx - cx, ty - cy)
    # the model's guesses: tip 3.5 degrees off, centre 1.5 px off
    guess_tip = point_at(cx, cy, math.hypot(tx - cx, ty - cy), truth + 3.5)
    got = refine_needle_angle(image, (cx + 1.0, cy - 1.1), guess_tip)
    assert got is not None
    angle, contrast = got
    assert contrast > 20
    assert abs((angle - truth + 180) % 360 - 180) < 1.0  # from 3.5 degrees off


def test_no_needle_no_refinement():
    blank = np.full((100, 100, 3), 200, np.uint8)
    assert refine_needle_angle(blank, (50, 50), (50, 20)) is None
