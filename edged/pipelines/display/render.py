"""Procedural seven-segment displays, as crops a camera would see, for the display model.

Panel meters, scales, thermostats and flow computers show their value on
seven-segment displays: LCDs (dark segments on a grey, green or blue
backlight, with the unlit segments faintly visible) and LEDs (red, green, blue
or white segments glowing on dark glass). This module draws one display, from
1 to 8 character cells, as a pure function of a seed: digits, a minus sign,
decimal points, leading blanks and sometimes a colon; fonts with other segment
widths, gaps, bevels and slants (0-12 degrees) and the common variants of 6, 7
and 9; a bezel, glare, a little perspective, blur, noise, low light and JPEG
compression.

The label is the string the display shows, read left to right, without its
leading blanks: ``"-12.5"``, ``"0.034"``, ``"88"`` (a 4-cell display showing
two blanks and 88), ``"12:34"``. A decimal point belongs after the cell it is
drawn beside. Characters are those of ``ALPHABET``.

Some styles are held out (``HELDOUT_STYLES``, ``is_heldout``): never drawn for
training, only for benchmarks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from edged.cvutil import import_cv2

__all__ = [
    "ALPHABET",
    "RENDERER_VERSION",
    "SEGMENTS",
    "DisplaySpec",
    "cells_of",
    "is_heldout",
    "render_display",
    "render_spec",
    "sample_spec",
]

#: bumped whenever a seed renders differently; training records it and refuses to resume a
#: run begun with another version
RENDERER_VERSION = 1

ALPHABET = "0123456789-.:"

#: lit segments of each glyph (a top, b top right, c bottom right, d bottom, e bottom left,
#: f top left, g middle)
SEGMENTS: Dict[str, str] = {
    "0": "abcdef",
    "1": "bc",
    "2": "abdeg",
    "3": "abcdg",
    "4": "bcfg",
    "5": "acdfg",
    "6": "acdefg",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
    "-": "g",
    " ": "",
}
#: other fonts' shapes of the same digit (a 6 without its top bar, a 7 with a hook, a 9
#: without its bottom bar): still that digit
VARIANTS: Dict[str, str] = {"6": "cdefg", "7": "abcf", "9": "abcfg"}

KINDS = ("lcd", "led")
LCD_BACKLIGHTS = {  # BGR
    "grey": (175, 178, 172),
    "green": (120, 190, 160),
    "blue": (200, 150, 90),
    "yellow": (110, 200, 205),  # amber-green backlight
}
LED_COLOURS = {
    "red": (40, 40, 255),
    "green": (60, 255, 70),
    "blue": (255, 140, 40),
    "white": (245, 245, 245),
    "amber": (20, 150, 255),
}
#: styles never drawn for training: an amber-green LCD backlight and amber LEDs (the common
#: colours, red LEDs above all, are all trained on)
HELDOUT_STYLES = (("lcd", "yellow"), ("led", "amber"))


@dataclass
class DisplaySpec:
    """One display and what it shows (the camera's view comes separately)."""

    kind: str  # "lcd" | "led"
    colour: str  # backlight (lcd) or segment colour (led)
    cells: List[Tuple[str, bool]]  # (glyph, decimal point after it) per cell, left to right
    colon: int  # a colon after this many cells (0: none)
    variants: str  # digits drawn in their variant shape
    slant_deg: float
    aspect: float  # cell width / height
    thickness: float  # segment thickness / cell height
    gap: float  # gap between segments / cell height
    spacing: float  # space between cells / cell height
    bevel: bool  # pointed segment ends (else square)
    ghost: float  # visibility of unlit segments, 0..1

    @property
    def label(self) -> str:
        return label_of(self.cells, self.colon)

    @property
    def style_key(self) -> Tuple[str, str]:
        return (self.kind, self.colour)


def label_of(cells: List[Tuple[str, bool]], colon: int = 0) -> str:
    """The string ``cells`` show, without leading blanks."""
    out = []
    for i, (glyph, dp) in enumerate(cells):
        if colon and i == colon:
            out.append(":")
        out.append(glyph + ("." if dp else ""))
    return "".join(out).lstrip(" ")


def cells_of(text: str, n: Optional[int] = None) -> List[Tuple[str, bool]]:
    """The cells showing ``text`` (characters of ``ALPHABET`` but ':'), right-aligned in ``n``
    cells with leading blanks (default: as many cells as glyphs)."""
    cells: List[Tuple[str, bool]] = []
    for ch in text:
        if ch == ".":
            if not cells or cells[-1][1]:
                cells.append((" ", True))
            else:
                cells[-1] = (cells[-1][0], True)
        elif ch in SEGMENTS:
            cells.append((ch, False))
        else:
            raise ValueError(f"a seven-segment display cannot show {ch!r}")
    n = len(cells) if n is None else n
    if len(cells) > n:
        raise ValueError(f"{text!r} needs {len(cells)} cells, not {n}")
    return [(" ", False)] * (n - len(cells)) + cells


def is_heldout(style_key: Any) -> bool:
    """Whether a ``(kind, colour)`` style is kept out of training (benchmarks only)."""
    return tuple(style_key) in HELDOUT_STYLES


def _random_cells(rng: np.random.Generator) -> Tuple[List[Tuple[str, bool]], int]:
    n = int(rng.choice([1, 2, 3, 4, 4, 4, 5, 5, 6, 6, 7, 8]))
    r = rng.random()
    if r < 0.03:  # no value: dashes
        return [("-", False)] * n, 0
    if n in (4, 6) and r < 0.09:  # a clock or a timer
        digits = [(str(int(rng.integers(0, 10))), False) for _ in range(n)]
        return digits, 2 if n == 4 else int(rng.choice([2, 4]))
    content = n if rng.random() < 0.5 else int(rng.integers(1, n + 1))
    glyphs = [str(int(d)) for d in rng.integers(0, 10, content)]
    if content > 1 and rng.random() < 0.35:  # no leading zeros, mostly
        nz = int(rng.integers(1, 10))
        if rng.random() < 0.8:
            glyphs[0] = str(nz)
    negative = (content < n and rng.random() < 0.3) or (content > 1 and rng.random() < 0.08)
    if negative:
        if content < n:
            glyphs = ["-", *glyphs]
            content += 1
        else:
            glyphs[0] = "-"
    dps = [False] * content
    if rng.random() < 0.55:
        first = 1 if glyphs[0] == "-" else 0
        candidates = list(range(first, content - 1)) if content - 1 > first else []
        if candidates:
            dps[int(rng.choice(candidates))] = True
        elif content - 1 >= first and rng.random() < 0.3:
            dps[content - 1] = True
    if rng.random() < 0.02:  # a trailing point too (some meters show "12.")
        dps[-1] = dps[-1] or glyphs[-1] != "-"
    cells = [(" ", False)] * (n - content) + list(zip(glyphs, dps))
    return cells, 0


def sample_spec(rng: np.random.Generator, split: str = "train") -> DisplaySpec:
    """A random display; ``split`` picks from the training (``"train"``) or the held-out
    (``"heldout"``) styles, or any (``"all"``)."""
    for _ in range(100):
        kind = str(rng.choice(KINDS))
        colours = LCD_BACKLIGHTS if kind == "lcd" else LED_COLOURS
        colour = str(rng.choice(sorted(colours)))
        held = is_heldout((kind, colour))
        if split == "all" or held == (split == "heldout"):
            break
    cells, colon = _random_cells(rng)
    variants = "".join(d for d in VARIANTS if rng.random() < 0.25)
    return DisplaySpec(
        kind=kind,
        colour=colour,
        cells=cells,
        colon=colon,
        variants=variants,
        slant_deg=float(rng.choice([0.0, rng.uniform(0, 12)])),
        aspect=float(rng.uniform(0.42, 0.62)),
        thickness=float(rng.uniform(0.07, 0.16)),
        gap=float(rng.uniform(0.005, 0.03)),
        spacing=float(rng.uniform(0.12, 0.35)),
        bevel=bool(rng.random() < 0.7),
        ghost=float(rng.uniform(0.0, 0.25)) if rng.random() < 0.7 else 0.0,
    )


def _segment_polygons(spec: DisplaySpec, h: float) -> Dict[str, np.ndarray]:
    """Each segment of a cell ``h`` px tall and its decimal point, as polygons, upright, with
    the cell's top-left at (0, 0)."""
    w = spec.aspect * h
    t = spec.thickness * h
    g = spec.gap * h
    half = t / 2.0
    end = half if spec.bevel else 0.0

    def horizontal(x0: float, x1: float, y: float) -> np.ndarray:
        x0, x1 = x0 + g, x1 - g
        return np.array(
            [(x0, y), (x0 + end, y - half), (x1 - end, y - half), (x1, y),
             (x1 - end, y + half), (x0 + end, y + half)]
        )  # fmt: skip

    def vertical(x: float, y0: float, y1: float) -> np.ndarray:
        y0, y1 = y0 + g, y1 - g
        return np.array(
            [(x, y0), (x + half, y0 + end), (x + half, y1 - end), (x, y1),
             (x - half, y1 - end), (x - half, y0 + end)]
        )  # fmt: skip

    xl, xr = half, w - half
    yt, ym, yb = half, h / 2.0, h - half
    polys = {
        "a": horizontal(xl, xr, yt),
        "b": vertical(xr, yt, ym),
        "c": vertical(xr, ym, yb),
        "d": horizontal(xl, xr, yb),
        "e": vertical(xl, ym, yb),
        "f": vertical(xl, yt, ym),
        "g": horizontal(xl, xr, ym),
    }
    dot = 0.55 * t + 0.02 * h
    cx = w + 0.5 * spec.spacing * h
    polys["dp"] = np.array(
        [(cx - dot, h - dot * 2), (cx + dot, h - dot * 2), (cx + dot, h), (cx - dot, h)]
    )
    return polys


def _colon_polygons(spec: DisplaySpec, h: float, x: float) -> List[np.ndarray]:
    r = 0.55 * spec.thickness * h
    return [
        np.array([(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)])
        for y in (0.3 * h, 0.7 * h)
    ]


def _lit_and_unlit(spec: DisplaySpec, h: float) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Polygons (upright, x from 0) of the lit and the unlit segments of the whole display."""
    base = _segment_polygons(spec, h)
    pitch = (spec.aspect + spec.spacing) * h
    lit: List[np.ndarray] = []
    unlit: List[np.ndarray] = []
    x = 0.0
    for i, (glyph, dp) in enumerate(spec.cells):
        if spec.colon and i == spec.colon:
            lit.extend(_colon_polygons(spec, h, x - 0.5 * spec.spacing * h + 0.25 * pitch))
            x += 0.5 * pitch
        on = VARIANTS[glyph] if glyph in spec.variants else SEGMENTS[glyph]
        for name, poly in base.items():
            shifted = poly + np.array([x, 0.0])
            lit_now = (name in on) if name != "dp" else dp
            (lit if lit_now else unlit).append(shifted)
        x += pitch
    return lit, unlit


def sheared(polys: List[np.ndarray], shear: float, h: float) -> List[np.ndarray]:
    """Polygons slanted as italic digits are: x moves by ``shear`` per px above the baseline
    ``h`` (the cell's height)."""
    out = []
    for p in polys:
        q = p.copy()
        q[:, 0] += shear * (h - q[:, 1])
        out.append(q)
    return out


def _fill(mask: np.ndarray, polys: List[np.ndarray], x0: float, y0: float) -> None:
    """Add ``polys`` (moved by ``x0, y0``) to ``mask``, anti-aliased at 1/16 px."""
    if polys:
        scaled = [np.round((p + np.array([x0, y0])) * 16).astype(np.int32) for p in polys]
        import_cv2().fillPoly(mask, scaled, 1.0, lineType=import_cv2().LINE_AA, shift=4)


def render_spec(
    spec: DisplaySpec, rng: np.random.Generator, cell_px: Optional[float] = None
) -> np.ndarray:
    """The display ``spec`` as a camera sees it (BGR uint8 crop), its look drawn from ``rng``."""
    cv2 = import_cv2()
    h = float(cell_px if cell_px is not None else rng.uniform(26, 46))  # drawing scale
    lit, unlit = _lit_and_unlit(spec, h)
    shear = math.tan(math.radians(spec.slant_deg))
    pitch = (spec.aspect + spec.spacing) * h
    n = len(spec.cells) + (0.5 if spec.colon else 0.0)
    glass_w = n * pitch + shear * h + 0.3 * h * rng.uniform(0.5, 1.5)
    pad_x = h * rng.uniform(0.15, 0.6)
    pad_y = h * rng.uniform(0.12, 0.45)
    width = int(math.ceil(glass_w + 2 * pad_x))
    height = int(math.ceil(h + 2 * pad_y))
    x0 = pad_x + 0.15 * h * rng.uniform(0.5, 1.5)
    y0 = pad_y

    lit_mask = np.zeros((height, width), np.float32)
    ghost_mask = np.zeros((height, width), np.float32)
    _fill(lit_mask, sheared(lit, shear, h), x0, y0)
    _fill(ghost_mask, sheared(unlit, shear, h), x0, y0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    gx = float(rng.uniform(-1, 1))
    gy = float(rng.uniform(-1, 1))
    ramp = 1.0 + float(rng.uniform(0, 0.25)) * (gx * (xx / width - 0.5) + gy * (yy / height - 0.5))
    if spec.kind == "lcd":
        back = np.array(LCD_BACKLIGHTS[spec.colour], np.float32) + rng.uniform(-25, 25, 3)
        back *= rng.uniform(0.7, 1.15)
        ink = back * rng.uniform(0.12, 0.4) + rng.uniform(-8, 8, 3)
        img = back[None, None, :] * ramp[:, :, None]
        # the segments' shadow on the reflector behind them
        sx, sy = rng.uniform(-0.04, 0.04, 2) * h
        shadow = cv2.warpAffine(lit_mask, np.float32([[1, 0, sx], [0, 1, sy]]), (width, height))
        shadow = cv2.GaussianBlur(shadow, (0, 0), max(0.3, 0.02 * h))
        cover = np.clip(lit_mask + 0.25 * rng.random() * shadow + spec.ghost * 0.35 * ghost_mask,
                        0, 1)  # fmt: skip
        img = img * (1 - cover[:, :, None]) + ink[None, None, :] * cover[:, :, None]
    else:
        glow_colour = np.array(LED_COLOURS[spec.colour], np.float32)
        glow_colour = np.clip(glow_colour + rng.uniform(-25, 25, 3), 0, 255)
        back = rng.uniform(5, 45) * np.array([1.0, 1.0, 1.0], np.float32) + rng.uniform(-5, 5, 3)
        back = np.clip(back, 0, 255)
        tint = glow_colour / 255.0
        img = back[None, None, :] * ramp[:, :, None]
        ghost_level = spec.ghost * 0.4
        img = img + ghost_mask[:, :, None] * (ghost_level * 80.0 * tint + 10.0 * spec.ghost)
        bloom = cv2.GaussianBlur(lit_mask, (0, 0), h * rng.uniform(0.04, 0.12))
        core = rng.uniform(0.8, 1.3)
        light = lit_mask * core + bloom * rng.uniform(0.3, 0.9)
        img = img + light[:, :, None] * glow_colour[None, None, :]
        # a bright LED's core saturates towards white
        img = img + np.clip(light - 0.9, 0, None)[:, :, None] * rng.uniform(0, 200)
    img = _bezel(img, rng, h, pad_x, pad_y, width, height, xx, yy)
    img = _glare(img, rng, xx, yy, width, height)
    img = _camera(np.clip(img, 0, 255).astype(np.uint8), rng, spec.kind)
    return img


def _bezel(
    img: np.ndarray,
    rng: np.random.Generator,
    h: float,
    pad_x: float,
    pad_y: float,
    width: int,
    height: int,
    xx: np.ndarray,
    yy: np.ndarray,
) -> np.ndarray:
    """A frame around the glass, of which the crop shows a random part."""
    if rng.random() < 0.2:
        return img
    inset_x = pad_x * rng.uniform(0.1, 0.7)
    inset_y = pad_y * rng.uniform(0.1, 0.7)
    frame = (
        (xx < inset_x) | (xx > width - inset_x) | (yy < inset_y) | (yy > height - inset_y)
    ).astype(np.float32)
    frame = import_cv2().GaussianBlur(frame, (0, 0), max(0.4, 0.02 * h))
    tone = rng.uniform(15, 190) if rng.random() < 0.5 else rng.uniform(15, 60)
    colour = np.clip(tone + rng.uniform(-15, 15, 3), 0, 255).astype(np.float32)
    return img * (1 - frame[:, :, None]) + colour[None, None, :] * frame[:, :, None]


def _glare(
    img: np.ndarray,
    rng: np.random.Generator,
    xx: np.ndarray,
    yy: np.ndarray,
    width: int,
    height: int,
) -> np.ndarray:
    if rng.random() < 0.5:
        return img
    if rng.random() < 0.5:  # a soft spot
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.2, 0.8) * height
        spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    else:  # a slanted band, as a window reflects in the glass
        ang = rng.uniform(-1.2, 1.2)
        d = (xx - rng.uniform(0, width)) * math.cos(ang) + (yy - height / 2) * math.sin(ang)
        r = rng.uniform(0.05, 0.4) * height
        spot = np.exp(-(d * d) / (2 * r * r))
    return img + spot[:, :, None] * rng.uniform(20, 110)


def _camera(img: np.ndarray, rng: np.random.Generator, kind: str) -> np.ndarray:
    """Perspective, a random crop size, blur, low light, noise, JPEG."""
    cv2 = import_cv2()
    hh, ww = img.shape[:2]
    if rng.random() < 0.7:
        j = 0.05 * min(hh, ww) + 0.02 * ww
        src = np.float32([[0, 0], [ww, 0], [ww, hh], [0, hh]])
        dst = src + rng.uniform(-j, j, (4, 2)).astype(np.float32)
        dst[:, 0] = np.clip(dst[:, 0], -0.03 * ww, 1.03 * ww)
        m = cv2.getPerspectiveTransform(src, dst)
        img = cv2.warpPerspective(img, m, (ww, hh), borderMode=cv2.BORDER_REPLICATE)
    out_h = int(rng.integers(18, 90))
    out_w = max(8, int(round(ww * out_h / hh * rng.uniform(0.9, 1.1))))
    interp = cv2.INTER_AREA if out_h < hh else cv2.INTER_LINEAR
    img = cv2.resize(img, (out_w, out_h), interpolation=interp)
    f = img.astype(np.float32)
    if rng.random() < 0.5:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.3, 0.06 * out_h + 0.3))
    if rng.random() < 0.25:  # low light: dark, with the noise of a high gain
        f *= rng.uniform(0.3, 0.65)
    f = f * rng.uniform(0.85, 1.15) + rng.uniform(-20, 20)
    if rng.random() < 0.2:  # a camera without colour (night mode)
        g = f.mean(axis=2, keepdims=True)
        f = np.repeat(g, 3, axis=2)
    f = f + rng.normal(0, rng.uniform(0, 10), f.shape).astype(np.float32)
    img = np.clip(f, 0, 255).astype(np.uint8)
    quality = int(rng.integers(30, 96))
    _ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def render_display(
    seed: int, split: str = "train", text: Optional[str] = None, cells: Optional[int] = None
) -> Tuple[np.ndarray, str]:
    """One display crop (BGR uint8) and its label, a pure function of the arguments.

    ``text`` forces what the display shows (right-aligned in ``cells`` cells, default as many
    as it needs; its look is still drawn from ``seed``)."""
    rng = np.random.default_rng([RENDERER_VERSION, seed])
    spec = sample_spec(rng, split)
    if text is not None:
        if ":" in text:
            left, right = text.split(":", 1)
            spec.cells = cells_of(left) + cells_of(right)
            spec.colon = len(cells_of(left))
        else:
            spec.cells = cells_of(text, cells)
            spec.colon = 0
    return render_spec(spec, rng), spec.label
