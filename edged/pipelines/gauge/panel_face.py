"""Panel-meter faces for the keypoint renderer (renderer version 3).

Moving-coil panel meters (ammeters, voltmeters, milliammeters) are the commonest
industrial dials that look nothing like a round pressure gauge: a rectangular
face, a scale of about 90 degrees, and a pivot that sits at the face's bottom
edge or in its corner, usually hidden under a plastic cover. A model that has
only seen round faces looks for a round rim and a centred hub, finds neither,
and gives up (the development set's panel meters were 45 % unreadable).

Two layouts, both drawn on the renderer's face canvas with the pivot at the
canvas centre, so the labels (pivot, tip, scale ends) keep their meaning:

* ``panel_arc``: the scale arc is centred on 12 o'clock and the pivot lies
  at or below the face's bottom edge, behind a black, clear-ribbed or white
  cover (44C2, 59C2, 69C9, SD-60 and their many clones);
* ``panel_corner``: the pivot is in the face's lower-right corner and the scale
  runs from 9 to 12 o'clock (6C2, SQ-72), under a round cover or with the
  pivot's hub in view.

The face is drawn here; the cover goes on the needle's canvas (``draw_cover``)
because it hides the needle's root.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from edged.cvutil import import_cv2

__all__ = ["PANEL_LAYOUTS", "draw_cover", "draw_panel_face", "face_box"]

PANEL_LAYOUTS = ("panel_arc", "panel_corner")

_CASES = ((20, 20, 20), (35, 30, 30), (90, 40, 20), (225, 225, 225), (200, 200, 190))


def face_box(
    layout: str, fc: float, fr: float, reach: float, rng: np.random.Generator
) -> Tuple[float, ...]:
    """(x0, y0, x1, y1) of the face on the canvas, pivot at (fc, fc), ``fr`` the canvas's face
    radius and ``reach`` the scale's radius (the arc layout is proportioned on it, as a real
    meter is: the arc's ends come near the face's sides)."""
    if layout == "panel_arc":
        half = reach * float(rng.uniform(0.8, 1.0))
        return (
            fc - half,
            fc - reach * float(rng.uniform(1.2, 1.4)),
            fc + half,
            fc + reach * float(rng.uniform(-0.2, 0.15)),
        )
    return (
        fc - fr * float(rng.uniform(1.05, 1.2)),
        fc - fr * float(rng.uniform(1.05, 1.2)),
        fc + fr * float(rng.uniform(0.05, 0.2)),
        fc + fr * float(rng.uniform(0.05, 0.2)),
    )


def draw_panel_face(
    img: np.ndarray,
    alpha: np.ndarray,
    box: Tuple[float, ...],
    bg: Tuple[int, int, int],
    rng: np.random.Generator,
) -> None:
    """The case (a plastic frame) and the face, in place; the scale is drawn by the caller."""
    cv2 = import_cv2()
    x0, y0, x1, y1 = box
    rim = (x1 - x0) * float(rng.uniform(0.03, 0.12))
    case = _CASES[int(rng.integers(0, len(_CASES)))]
    outer = _box16(x0 - rim, y0 - rim, x1 + rim, y1 + rim)
    inner = _box16(x0, y0, x1, y1)
    cv2.rectangle(img, outer[0], outer[1], case, -1, cv2.LINE_AA, 4)
    cv2.rectangle(alpha, outer[0], outer[1], 1.0, -1, cv2.LINE_AA, 4)
    # the case's lit top edge
    hi = tuple(min(255, int(c * 1.4) + 40) for c in case)
    cv2.line(img, outer[0], (outer[1][0], outer[0][1]), hi, 2, cv2.LINE_AA, 4)
    cv2.rectangle(img, inner[0], inner[1], bg, -1, cv2.LINE_AA, 4)
    if rng.random() < 0.5:  # a slightly bluish back-lit face, as under fluorescent light
        tint = np.array([1.0 + float(rng.uniform(0, 0.12)), 1.0, 1.0 - float(rng.uniform(0, 0.1))])
        ys, xs = slice(max(0, int(y0)), int(y1)), slice(max(0, int(x0)), int(x1))
        img[ys, xs] = np.clip(img[ys, xs] * tint, 0, 255).astype(np.uint8)


def draw_cover(
    img: np.ndarray,
    alpha: np.ndarray,
    layout: str,
    box: Tuple[float, ...],
    fc: float,
    reach: float,
    rng: np.random.Generator,
) -> bool:
    """The cover over the pivot (on the needle canvas, so it hides the needle's root), sized
    from the scale's radius ``reach``; returns whether the pivot is hidden (otherwise a hub is
    to be drawn)."""
    cv2 = import_cv2()
    if layout == "panel_corner":
        if rng.random() < 0.4:
            return False  # SQ-72 style: the pivot's hub in view
        r = reach * float(rng.uniform(0.18, 0.35))
        col = tuple(int(c) for c in rng.integers(215, 250, 3))
        c = (int(fc * 16), int(fc * 16))
        cv2.circle(img, c, int(r * 16), col, -1, cv2.LINE_AA, 4)
        cv2.circle(alpha, c, int(r * 16), 1.0, -1, cv2.LINE_AA, 4)
        edge = tuple(max(0, int(x) - 70) for x in col)
        cv2.circle(img, c, int(r * 16), edge, 1, cv2.LINE_AA, 4)
        return True
    x0, _y0, x1, _y1 = box
    top = fc - reach * float(rng.uniform(0.08, 0.3))
    kind = rng.random()
    p0, p1 = _box16(x0 - reach * 0.2, top, x1 + reach * 0.2, fc + reach * 0.8)
    if kind < 0.45:  # glossy black
        col = tuple(int(c) for c in rng.integers(10, 45, 3))
    elif kind < 0.8:  # clear ribbed plastic over a white mechanism
        col = tuple(int(c) for c in rng.integers(200, 245, 3))
    else:  # a window on the movement: grey-brown
        col = (
            int(rng.integers(60, 140)),
            int(rng.integers(80, 150)),
            int(rng.integers(100, 170)),
        )
    cv2.rectangle(img, p0, p1, col, -1, cv2.LINE_AA, 4)
    cv2.rectangle(alpha, p0, p1, 1.0, -1, cv2.LINE_AA, 4)
    if kind >= 0.45 and kind < 0.8:  # ribs
        step = max(3, int(reach * 0.06))
        shade = tuple(max(0, c - 40) for c in col)
        for x in range(int(x0), int(x1), step):
            cv2.line(img, (x, int(top)), (x, img.shape[0] - 1), shade, 1)
    hi = tuple(min(255, c + 60) for c in col)
    cv2.line(img, p0, (p1[0], p0[1]), hi, 2, cv2.LINE_AA, 4)
    return True


def _box16(x0: float, y0: float, x1: float, y1: float) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    return (int(round(x0 * 16)), int(round(y0 * 16))), (int(round(x1 * 16)), int(round(y1 * 16)))
