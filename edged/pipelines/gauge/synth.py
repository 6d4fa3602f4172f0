"""Procedural analog gauges with labels, for training, benchmarks and the synthetic camera.

Everything is drawn with OpenCV (Hershey fonts, no downloads) and is a pure
function of a seed: ``render_sample(seed)`` gives the same pixels and labels on
every run. A gauge is drawn flat on a square "face canvas" (dial, ticks,
numerals, zones) and a second canvas (needle, hub, drag pointer), then both are
warped into the picture with a perspective homography (tilt up to 45 degrees,
in-plane rotation); the needle layer is shifted a little to mimic parallax.
Degradations (glare, shadows, occluders, blur, noise, colour casts, JPEG) are
applied to the whole picture.

Labels per gauge (``GaugeLabel``): keypoints ``center``, ``tip``, ``start``,
``end``, ``quarter`` (the scale position at 25 % of the span, which fixes the
scale's direction, also on full-circle dials), as image ``(x, y, visible)``;
``rim`` points (the dial face's edge, for the ring target and the ellipse
fit); value, min/max, start angle and signed sweep in the dial's own frame;
``readable`` (false when glare or an occluder hides the tip).

Styles are split: a style whose key hashes into the held-out bucket is never
drawn for training (``split="train"``), only for benchmarks
(``split="heldout"``), so accuracy figures also measure unseen looks.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edged.cvutil import import_cv2
from edged.pipelines.gauge.angles import direction
from edged.pipelines.gauge.panel_face import draw_cover, draw_panel_face, face_box

__all__ = [
    "KEYPOINTS",
    "GaugeLabel",
    "GaugeSpec",
    "field_looks",
    "fraction_to_angle",
    "render_gauges",
    "render_sample",
    "sample_spec",
]

#: keypoint names in model channel order
KEYPOINTS = ("center", "tip", "start", "end", "quarter")

FACE = 256  # face canvas side (px)
FC = FACE / 2.0  # canvas centre
FR = 104.0  # face radius on the canvas (px); the bezel reaches ~1.18 FR

#: bumped whenever a seed renders differently; training records it and will not resume a run
#: begun with another renderer. 2: drag pointers, needle colours, glare labels, numeral thinning;
#: 3: panel meters (``panel_face``), dual scales, printed text, bezel shadows
RENDERER_VERSION = 3

HELDOUT_BUCKETS = 10  # 1 in HELDOUT_BUCKETS style keys is held out

_FONTS = (0, 1, 2, 3, 4, 6, 7)  # Hershey faces (5 is script-simplex: unreadable, skipped)
#: heavy_tail: a thin pointer and a short thick tail, as on many cheap pressure gauges (the
#: tail is the wider, darker end: a reader must not take it for the pointer)
_NEEDLE_SHAPES = ("line", "tapered", "lance", "arrow", "counterweight", "heavy_tail")
_TICK_STYLES = ("lines", "dots", "wedges", "mixed")
_FACES = ("white", "cream", "black", "grey", "yellow", "blue")
_BEZELS = ("chrome", "black", "brass", "none", "plastic")


@dataclass
class GaugeSpec:
    """Everything needed to draw one gauge (except where it goes and the degradations)."""

    start_angle: float  # where the minimum sits (deg cw from 12 o'clock, dial frame)
    sweep: float  # signed: > 0 clockwise
    min_value: float
    max_value: float
    value: float
    face: str = "white"
    bezel: str = "chrome"
    tick_style: str = "lines"
    needle_shape: str = "tapered"
    needle_color: Tuple[int, int, int] = (20, 20, 20)
    font: int = 0
    n_major: int = 10
    n_minor: int = 5
    tick_radius: float = 0.86  # outer end of the ticks, in face radii
    major_len: float = 0.12
    numerals: bool = True
    numeral_scale: float = 1.0
    needle_len: float = 0.85  # in face radii
    needle_width: float = 0.05
    tail: float = 0.15
    hub: float = 0.07
    zones: int = 0
    drag_pointer: Optional[float] = None  # fraction of span where a red drag pointer sits
    scale_arc: bool = False
    text: str = ""
    seed: int = 0
    #: ``round``, or a panel meter's ``panel_arc`` / ``panel_corner`` (see ``panel_face``)
    layout: str = "round"
    numerals_outside: bool = False  # numbers above the scale arc, as on most panel meters
    #: a second, inner scale in another unit (PSI outside, bar inside): its span relative to
    #: the outer one's; 0 = none
    inner_scale: float = 0.0
    printed: Tuple[str, ...] = ()  # brand, class, standard: small print on the face

    @property
    def fraction(self) -> float:
        span = self.max_value - self.min_value
        return (self.value - self.min_value) / span if span else 0.0

    @property
    def style_key(self) -> Tuple[Any, ...]:
        key = (self.face, self.bezel, self.tick_style, self.needle_shape, self.font)
        # round dials keep the held-out buckets they had before panel meters came
        return key if self.layout == "round" else (*key, self.layout)

    @property
    def panel(self) -> bool:
        return self.layout != "round"


@dataclass
class GaugeLabel:
    keypoints: Dict[str, Tuple[float, float, int]]
    rim: List[Tuple[float, float]]
    value: float
    min_value: float
    max_value: float
    start_angle: float
    sweep: float
    readable: bool
    radius: float  # approximate face radius in image pixels
    spec: Optional[GaugeSpec] = field(default=None, repr=False)
    #: the dial face's centre in the picture; the ``center`` keypoint is the needle's pivot,
    #: which parallax moves off it (scale angles are the dial's, seen from this point)
    face_center: Optional[Tuple[float, float]] = None

    def as_dict(self) -> Dict[str, Any]:
        return {
            "keypoints": {k: list(v) for k, v in self.keypoints.items()},
            "value": self.value,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "start_angle": self.start_angle,
            "sweep": self.sweep,
            "direction": "cw" if self.sweep > 0 else "ccw",
            "readable": self.readable,
        }


def fraction_to_angle(start_angle: float, sweep: float, fraction: float) -> float:
    """Dial-frame angle of the scale position ``fraction`` (0 = min, 1 = max)."""
    return (start_angle + sweep * fraction) % 360.0


def is_heldout(style_key: Sequence[Any]) -> bool:
    digest = hashlib.sha1(repr(tuple(style_key)).encode()).digest()
    return digest[0] % HELDOUT_BUCKETS == 0


# -- sampling ------------------------------------------------------------------------


def _nice_range(rng: np.random.Generator) -> Tuple[float, float, int]:
    """(min, max, number of major intervals) like real dials have."""
    kind = rng.random()
    mag = 10.0 ** int(rng.integers(-2, 4))
    top, majors = [(1, 5), (1.6, 8), (2.5, 5), (4, 8), (6, 6), (10, 10), (16, 8), (25, 5)][
        int(rng.integers(0, 8))
    ]
    if kind < 0.7:
        return 0.0, top * mag, majors
    if kind < 0.85:  # vacuum / compound: negative ranges
        lo = -top * mag
        return lo, (top * mag if rng.random() < 0.5 else 0.0), majors
    base = float(rng.integers(-5, 10)) * 10 * mag  # offset ranges (temperatures)
    return base, base + top * mag, majors


def sample_spec(
    rng: np.random.Generator,
    split: str = "train",
    water_meter: bool = False,
    direction: Optional[str] = None,
) -> GaugeSpec:
    """A random gauge; ``split`` keeps train and held-out styles apart. ``direction``
    (``cw`` or ``ccw``) draws only dials whose scale has ends and runs that way (the scale
    direction model's training draws both equally; one dial in nine runs ``ccw`` otherwise)."""
    tries = 100 if direction is None else 2000
    for _ in range(tries):
        spec = _legible_needle(_sample_spec_once(rng, water_meter))
        if split != "any" and is_heldout(spec.style_key) != (split == "heldout"):
            continue
        if direction is None or _runs(spec, direction):
            return spec
    if direction is not None:  # a spec of the other direction would be a wrong label
        raise RuntimeError(f"no {direction} dial with ends in {tries} {split} specs")
    return spec


def _runs(spec: GaugeSpec, direction: str) -> bool:
    """Whether ``spec``'s scale has ends and runs ``direction`` (``cw`` or ``ccw``)."""
    if direction not in ("cw", "ccw"):
        raise ValueError(f"direction must be 'cw' or 'ccw', not {direction!r}")
    return abs(spec.sweep) < 360.0 and (spec.sweep > 0) == (direction == "cw")


def _sample_spec_once(rng: np.random.Generator, water_meter: bool) -> GaugeSpec:
    u = rng.random()
    if water_meter or u < 0.15:  # water-meter sub-dial: full circle, 0..9, red pointer
        sweep = 360.0
        start = 0.0 if rng.random() < 0.8 else float(rng.uniform(0, 360))
        lo, hi, majors = 0.0, 10.0, 10
        minors = int(rng.choice([0, 2, 5]))
        needle_color = (30, 30, 200) if rng.random() < 0.8 else (20, 20, 20)
        shape = str(rng.choice(["lance", "tapered", "counterweight"]))
        face = str(rng.choice(["white", "white", "cream", "black"]))
    else:
        sweep = float(rng.choice([270, 270, 270, 240, 180, 300, 90, 120]))
        if rng.random() < 0.15:
            sweep = float(rng.uniform(90, 330))
        start = -sweep / 2.0 + float(rng.normal(0, 8))
        if rng.random() < 0.12:
            start = float(rng.uniform(0, 360))
        start %= 360.0
        lo, hi, majors = _nice_range(rng)
        minors = int(rng.choice([0, 2, 4, 5, 5, 10]))
        c = rng.random()
        needle_color = (20, 20, 20) if c < 0.5 else (30, 30, 210) if c < 0.8 else (235, 235, 235)
        shape = str(rng.choice(_NEEDLE_SHAPES))
        face = str(rng.choice(_FACES, p=[0.4, 0.2, 0.2, 0.1, 0.05, 0.05]))
    if rng.random() < 0.12:
        sweep = -sweep  # counter-clockwise scale
        start = (-start) % 360.0 if abs(sweep) < 360 else start
    value = lo + (hi - lo) * float(rng.uniform(0.0, 1.0))
    fraction = (value - lo) / (hi - lo)
    tick_radius = float(rng.uniform(0.78, 0.93))
    needle_len = tick_radius * float(rng.uniform(0.75, 1.02))
    spec = GaugeSpec(
        start_angle=start,
        sweep=sweep,
        min_value=lo,
        max_value=hi,
        value=value,
        face=face,
        bezel=str(rng.choice(_BEZELS)),
        tick_style=str(rng.choice(_TICK_STYLES, p=[0.6, 0.15, 0.1, 0.15])),
        needle_shape=shape,
        needle_color=tuple(int(c) for c in needle_color),  # type: ignore[arg-type]
        font=int(rng.choice(_FONTS)),
        n_major=majors,
        n_minor=minors,
        tick_radius=tick_radius,
        major_len=float(rng.uniform(0.07, 0.16)),
        numerals=rng.random() < 0.9,
        numeral_scale=float(rng.uniform(0.7, 1.3)),
        needle_len=needle_len,
        needle_width=float(rng.uniform(0.025, 0.07)),
        tail=float(rng.choice([0.0, 0.0, rng.uniform(0.1, 0.3)])),
        hub=float(rng.uniform(0.04, 0.14)),
        zones=int(rng.choice([0, 0, 1, 2, 3])),
        # a max-reading drag pointer is pushed by the needle, so it rests at or beyond it
        drag_pointer=fraction + (1 - fraction) * float(rng.uniform(0, 1))
        if rng.random() < 0.1
        else None,
        scale_arc=rng.random() < 0.35,
        text=str(rng.choice(["", "", "bar", "psi", "MPa", "kPa", "A", "V", "C", "x0.1", "m3"])),
        seed=int(rng.integers(0, 2**31)),
    )
    if water_meter or u < 0.15:
        return spec
    if spec.needle_shape == "heavy_tail":
        spec.tail = float(rng.uniform(0.3, 0.5))
    if rng.random() < PANEL_SHARE:
        return _as_panel(spec, rng)
    return _with_field_print(spec, rng)


PANEL_SHARE = 0.25  # of the dials that are not water-meter sub-dials
_UNITS = ("A", "V", "mA", "kV", "uA", "kW", "Hz", "%")
_PRINT = (
    "CL 1.6",
    "CL 2.5",
    "CL 1.5",
    "GB/T7676",
    "EN 837-1",
    "IP65",
    "MADE IN",
    "No.",
    "YT",
    "0-1.6",
)


def _as_panel(spec: GaugeSpec, rng: np.random.Generator) -> GaugeSpec:
    """The dial as a panel meter: ~90 degree scale over a rectangular face, pivot at its edge
    or corner, numbers above the arc, a big unit letter, thin needle reaching the ticks."""
    layout = "panel_arc" if rng.random() < 0.6 else "panel_corner"
    if layout == "panel_arc":
        spec.sweep = 90.0 if rng.random() < 0.6 else float(rng.uniform(80, 105))
        spec.start_angle = (-spec.sweep / 2.0 + float(rng.normal(0, 2))) % 360.0
        spec.numerals_outside = rng.random() < 0.7
        spec.tick_radius = float(rng.uniform(0.62, 0.8))
        spec.needle_width = float(rng.uniform(0.01, 0.03))
        spec.needle_shape = str(rng.choice(["line", "line", "tapered"]))
    else:
        spec.sweep, spec.start_angle = 90.0, 270.0
        spec.tick_radius = float(rng.uniform(0.85, 0.97))
        spec.needle_width = float(rng.uniform(0.015, 0.05))
        spec.needle_shape = str(rng.choice(["line", "tapered", "lance"]))
    spec.layout = layout
    spec.min_value = 0.0
    spec.max_value = float(rng.choice([1, 2, 3, 5, 10, 15, 20, 30, 50, 100, 150, 250, 300, 500]))
    spec.n_major = int(rng.choice([3, 4, 5, 6, 10]))
    spec.n_minor = int(rng.choice([2, 5, 5, 10]))
    spec.value = spec.max_value * float(rng.uniform(0, 1))
    spec.face = str(rng.choice(["white", "white", "cream", "grey"]))
    spec.bezel = "none"
    c = rng.random()
    spec.needle_color = (20, 20, 20) if c < 0.55 else (40, 40, 200) if c < 0.9 else (20, 90, 20)
    spec.needle_len = spec.tick_radius * float(rng.uniform(0.9, 1.04))
    spec.tail = 0.0
    spec.hub = float(rng.uniform(0.05, 0.12))
    spec.zones = 0 if rng.random() < 0.85 else 1
    spec.drag_pointer = None
    spec.scale_arc = rng.random() < 0.8
    spec.numerals = True
    spec.text = str(rng.choice(_UNITS))
    spec.printed = tuple(rng.choice(_PRINT, size=int(rng.integers(0, 3)), replace=False))
    return spec


def _with_field_print(spec: GaugeSpec, rng: np.random.Generator) -> GaugeSpec:
    """What industrial dials carry besides their scale: a second scale in another unit,
    brand and accuracy-class print."""
    if rng.random() < 0.2 and abs(spec.sweep) < 360:
        spec.inner_scale = float(rng.choice([0.0689, 0.0703, 14.5, 0.1, 0.25]))
    if rng.random() < 0.5:
        spec.printed = tuple(rng.choice(_PRINT, size=int(rng.integers(1, 3)), replace=False))
    return spec


# -- drawing the flat dial ------------------------------------------------------------


def _legible_needle(spec: GaugeSpec) -> GaugeSpec:
    """Needle colours real dials use: no black needle on a black face, no white one on a light
    face, and beside a red drag pointer a black (white on dark faces) needle, as on real
    max-reading gauges: red on red would be ambiguous to any reader, human or model."""
    b, _g, r = spec.needle_color
    if spec.face == "black" and b < 100 and r < 100:
        spec.needle_color = (240, 240, 240)
    elif spec.face in ("white", "cream", "grey", "yellow") and min(spec.needle_color) > 200:
        spec.needle_color = (20, 20, 20)
    elif spec.drag_pointer is not None and r > 150 and b < 100:
        dark_face = sum(_face_colors(spec.face)[0]) < 3 * 128
        spec.needle_color = (240, 240, 240) if dark_face else (20, 20, 20)
    return spec


def _face_colors(face: str) -> Tuple[Tuple[int, int, int], Tuple[int, int, int]]:
    return {
        "white": ((245, 245, 245), (15, 15, 15)),
        "cream": ((200, 230, 240), (25, 25, 35)),
        "black": ((25, 25, 25), (235, 235, 235)),
        "grey": ((190, 190, 190), (10, 10, 10)),
        "yellow": ((90, 215, 240), (10, 10, 10)),
        "blue": ((120, 60, 20), (240, 240, 240)),
    }[face]


def _fmt(v: float, span: float) -> str:
    if span >= 10 or abs(v - round(v)) < 1e-6:
        return str(int(round(v)))
    if span >= 1:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _pt(r: float, a: float) -> Tuple[float, float]:
    dx, dy = direction(a)
    return FC + r * dx, FC + r * dy


def _ipt(p: Tuple[float, float]) -> Tuple[int, int]:
    return int(round(p[0] * 16)), int(round(p[1] * 16))


def draw_face(spec: GaugeSpec) -> Tuple[np.ndarray, np.ndarray]:
    """The dial without its needle on a FACE x FACE canvas: (BGR uint8, alpha float32)."""
    cv2 = import_cv2()
    rng = np.random.default_rng(spec.seed)
    img = np.zeros((FACE, FACE, 3), np.uint8)
    alpha = np.zeros((FACE, FACE), np.float32)
    bez_r = FR * (1.0 + float(rng.uniform(0.06, 0.18)))
    c = (int(FC * 16), int(FC * 16))
    if not spec.panel and spec.bezel != "none":  # a panel meter's case is drawn with its face
        col = {
            "chrome": (200, 200, 205),
            "black": (35, 35, 35),
            "brass": (60, 150, 190),
            "plastic": tuple(int(x) for x in rng.integers(40, 220, 3)),
        }[spec.bezel]
        cv2.circle(img, c, int(bez_r * 16), col, -1, cv2.LINE_AA, 4)
        # a lit upper-left and a shaded lower-right rim
        hi = tuple(min(255, int(x * 1.3) + 30) for x in col)
        lo = tuple(int(x * 0.5) for x in col)
        ring = int((bez_r - FR) * 0.5)
        axes = (int((FR + ring) * 16), int((FR + ring) * 16))
        cv2.ellipse(img, c, axes, 0, 180, 300, hi, max(1, ring // 2), cv2.LINE_AA, 4)
        cv2.ellipse(img, c, axes, 0, 0, 120, lo, max(1, ring // 2), cv2.LINE_AA, 4)
        cv2.circle(alpha, c, int(bez_r * 16), 1.0, -1, cv2.LINE_AA, 4)
    bg, fg = _face_colors(spec.face)
    jitter = rng.integers(-12, 13, 3)
    bg = tuple(int(np.clip(b + j, 0, 255)) for b, j in zip(bg, jitter))
    if spec.panel:
        draw_panel_face(img, alpha, panel_box(spec), bg, rng)
    else:
        cv2.circle(img, c, int(FR * 16), bg, -1, cv2.LINE_AA, 4)
        cv2.circle(alpha, c, int(FR * 16), 1.0, -1, cv2.LINE_AA, 4)
        if spec.bezel == "none":
            cv2.circle(img, c, int(FR * 16), fg, 2, cv2.LINE_AA, 4)
    start, sweep = spec.start_angle, spec.sweep
    rt = spec.tick_radius * FR
    band = spec.major_len * FR
    # coloured zones on the tick band
    zone_cols = [(40, 170, 40), (0, 200, 240), (30, 30, 210)]
    for z in range(spec.zones):
        f0, f1 = sorted(rng.uniform(0, 1, 2))
        if spec.zones == 3:
            f0, f1 = ((0.0, 0.6), (0.6, 0.8), (0.8, 1.0))[z]
        _arc(img, rt - band * 0.35, start, sweep, f0, f1, zone_cols[z % 3], max(2, int(band * 0.5)))
    if spec.scale_arc:
        _arc(img, rt if rng.random() < 0.5 else rt - band, start, sweep, 0, 1, fg, 1)
    light_face = sum(bg) > 3 * 128
    ink = (40, 40, 200) if light_face and not spec.panel and rng.random() < 0.2 else fg
    _draw_scale(
        img, spec, rt, band, fg, spec.min_value, spec.max_value, spec.numerals_outside, ink=ink
    )
    if spec.inner_scale:
        inner_fg = (40, 40, 200) if rng.random() < 0.5 else fg
        span = (spec.max_value - spec.min_value) * spec.inner_scale
        lo = spec.min_value * spec.inner_scale
        r_in = rt - band - FR * 0.3 * spec.numeral_scale
        _draw_scale(img, spec, r_in, band * 0.6, inner_fg, lo, lo + span, False, small=0.75)
    _draw_print(img, spec, fg, rng)
    if not spec.panel and rng.random() < 0.25:
        _bezel_shadow(img, rng)
    return img, alpha


def panel_box(spec: GaugeSpec) -> Tuple[float, ...]:
    """The panel meter's face rectangle on the canvas: the same for its face and its cover."""
    reach = spec.tick_radius * FR
    return face_box(spec.layout, FC, FR, reach, np.random.default_rng(spec.seed + 7))


def _draw_scale(  # type: ignore[no-untyped-def]
    img, spec: GaugeSpec, rt, band, fg, lo, hi, outside, small=1.0, ink=None
) -> None:
    """Ticks and numerals (in ``ink``, else ``fg``) of one scale from ``lo`` to ``hi`` along
    the dial's angles."""
    ink = fg if ink is None else ink
    cv2 = import_cv2()
    start, sweep = spec.start_angle, spec.sweep
    n_ticks = spec.n_major * max(1, spec.n_minor)
    full = abs(sweep) >= 359.0
    for i in range(n_ticks + (0 if full else 1)):
        f = i / n_ticks
        a = start + sweep * f
        major = spec.n_minor <= 1 or i % spec.n_minor == 0
        half = (
            spec.n_minor >= 4
            and not major
            and i % (spec.n_minor // 2) == 0
            and spec.n_minor % 2 == 0
        )
        length = band if major else band * (0.65 if half else 0.45)
        style = spec.tick_style if small == 1.0 else "lines"
        if style == "mixed":
            style = "lines" if major else "dots"
        width = max(1.0, FR * (0.022 if major else 0.011))
        if style == "lines":
            cv2.line(
                img,
                _ipt(_pt(rt, a)),
                _ipt(_pt(rt - length, a)),
                fg,
                int(round(width)),
                cv2.LINE_AA,
                4,
            )
        elif style == "dots":
            rr = FR * (0.035 if major else 0.018)
            cv2.circle(img, _ipt(_pt(rt - rr, a)), int(rr * 16), fg, -1, cv2.LINE_AA, 4)
        else:  # wedges
            w = (2.6 if major else 1.2) * 180.0 / math.pi / rt
            poly = np.array([_ipt(_pt(rt, a - w)), _ipt(_pt(rt, a + w)), _ipt(_pt(rt - length, a))])
            cv2.fillConvexPoly(img, poly, fg, cv2.LINE_AA, 4)
    if not spec.numerals:
        return
    span = hi - lo
    scale = FR / 100.0 * 0.5 * spec.numeral_scale * small
    thick = max(1, int(round(scale * 2.2)))
    rn = rt - band - FR * 0.13 * spec.numeral_scale * small
    if outside:
        rn = rt + FR * 0.1 * spec.numeral_scale
    texts = []
    for i in range(spec.n_major + (0 if full else 1)):
        text = _fmt(lo + span * i / spec.n_major, span)
        if full and spec.max_value == 10 and spec.n_major == 10:
            text = str(i)
        texts.append(text)
    # like a real dial, label every 2nd (3rd...) major tick where the numbers would touch
    widest = max(cv2.getTextSize(t, spec.font, scale, thick)[0][0] for t in texts)
    spacing = rn * math.radians(abs(sweep) / spec.n_major)
    every = _label_every(spec.n_major, widest / max(1e-6, 0.85 * spacing))
    for i, text in enumerate(texts):
        if i % every:
            continue
        f = i / spec.n_major
        (tw, th), _ = cv2.getTextSize(text, spec.font, scale, thick)
        x, y = _pt(rn, start + sweep * f)
        cv2.putText(
            img,
            text,
            (int(x - tw / 2), int(y + th / 2)),
            spec.font,
            scale,
            ink,
            thick,
            cv2.LINE_AA,
        )


def _draw_print(img: np.ndarray, spec: GaugeSpec, fg: Any, rng: np.random.Generator) -> None:
    """The unit (a big letter on panel meters) and the small print of brand and class."""
    cv2 = import_cv2()
    if spec.text:
        if spec.layout == "panel_arc":
            rt = spec.tick_radius * FR
            scale, at = rt / 100.0 * float(rng.uniform(0.9, 1.5)), (FC, FC - rt * 0.55)
        elif spec.layout == "panel_corner":
            scale, at = FR / 100.0 * float(rng.uniform(0.8, 1.4)), (FC - FR * 0.8, FC - FR * 0.7)
        else:
            scale = FR / 100.0 * 0.45
            y = FC + FR * (0.4 if abs(spec.sweep) < 300 else 0.3) * (
                1 if rng.random() < 0.7 else -1
            )
            at = (FC, y)
        thick = 2 if spec.panel else 1
        (tw, th), _ = cv2.getTextSize(spec.text, spec.font, scale, thick)
        org = (int(at[0] - tw / 2), int(at[1] + th / 2))
        cv2.putText(img, spec.text, org, spec.font, scale, fg, thick, cv2.LINE_AA)
    for k, line in enumerate(spec.printed):
        scale = FR / 100.0 * float(rng.uniform(0.25, 0.4))
        (tw, th), _ = cv2.getTextSize(line, spec.font, scale, 1)
        if spec.panel:
            x, y = panel_box(spec)[0] + FR * 0.08, FC - FR * (0.3 - 0.12 * k)
        else:
            x, y = FC - tw / 2 + FR * float(rng.uniform(-0.2, 0.2)), FC + FR * (0.5 + 0.12 * k)
        cv2.putText(img, line, (int(x), int(y)), spec.font, scale, fg, 1, cv2.LINE_AA)


def _bezel_shadow(img: np.ndarray, rng: np.random.Generator) -> None:
    """The bezel's shadow, a dark crescent across one side of a round face (light from the
    side)."""
    cv2 = import_cv2()
    c = (int(FC * 16), int(FC * 16))
    face = np.zeros((FACE, FACE), np.float32)
    cv2.circle(face, c, int(FR * 16), 1.0, -1, cv2.LINE_AA, 4)
    lit = np.zeros_like(face)
    dx, dy = direction(float(rng.uniform(0, 360)))
    off = FR * float(rng.uniform(0.06, 0.2))
    cv2.circle(lit, _ipt((FC + dx * off, FC + dy * off)), int(FR * 16), 1.0, -1, cv2.LINE_AA, 4)
    crescent = cv2.GaussianBlur(face * (1.0 - lit), (0, 0), FR * 0.04)
    dark = 1.0 - float(rng.uniform(0.3, 0.65)) * crescent
    img[:] = (img * dark[..., None]).astype(np.uint8)


def _label_every(n_major: int, needed: float) -> int:
    """Label every k-th major tick, k >= ``needed`` and a divisor of ``n_major`` so that both
    ends keep their numbers (a real dial always prints its minimum and maximum)."""
    for k in range(1, n_major + 1):
        if k >= needed and n_major % k == 0:
            return k
    return n_major


def _arc(img, r, start, sweep, f0, f1, color, thickness):  # type: ignore[no-untyped-def]
    cv2 = import_cv2()
    a0, a1 = start + sweep * f0, start + sweep * f1
    lo, hi = min(a0, a1), max(a0, a1)
    # cv2.ellipse angles: degrees from +x, clockwise in image coordinates
    cv2.ellipse(
        img,
        _ipt((FC, FC)),
        (int(r * 16), int(r * 16)),
        -90,
        lo,
        hi,
        color,
        thickness,
        cv2.LINE_AA,
        4,
    )


def needle_angle(spec: GaugeSpec) -> float:
    return fraction_to_angle(spec.start_angle, spec.sweep, spec.fraction)


def _needle_poly(
    spec: GaugeSpec, angle: float, length: float, width: float, shape: str, tail: float
):
    dx, dy = direction(angle)
    nx, ny = -dy, dx
    tip = (FC + dx * length, FC + dy * length)
    back = (FC - dx * tail, FC - dy * tail)
    w = width / 2.0
    if shape == "line":
        pts = [
            (back[0] + nx * w, back[1] + ny * w),
            (tip[0] + nx * w * 0.8, tip[1] + ny * w * 0.8),
            (tip[0] - nx * w * 0.8, tip[1] - ny * w * 0.8),
            (back[0] - nx * w, back[1] - ny * w),
        ]
    elif shape in ("tapered", "counterweight"):
        pts = [
            (back[0] + nx * w * 1.2, back[1] + ny * w * 1.2),
            tip,
            (back[0] - nx * w * 1.2, back[1] - ny * w * 1.2),
        ]
    elif shape == "lance":
        m = 0.55 * length
        mid = (FC + dx * m, FC + dy * m)
        pts = [
            back,
            (mid[0] + nx * w * 1.8, mid[1] + ny * w * 1.8),
            tip,
            (mid[0] - nx * w * 1.8, mid[1] - ny * w * 1.8),
        ]
    elif shape == "heavy_tail":
        pts = [
            (back[0] + nx * w * 1.4, back[1] + ny * w * 1.4),
            (FC + nx * w, FC + ny * w),
            tip,
            (FC - nx * w, FC - ny * w),
            (back[0] - nx * w * 1.4, back[1] - ny * w * 1.4),
        ]
    else:  # arrow: a thin shaft and a head
        h = 0.2 * length
        base = (tip[0] - dx * h, tip[1] - dy * h)
        pts = [
            (back[0] + nx * w * 0.5, back[1] + ny * w * 0.5),
            (base[0] + nx * w * 0.5, base[1] + ny * w * 0.5),
            (base[0] + nx * w * 2.0, base[1] + ny * w * 2.0),
            tip,
            (base[0] - nx * w * 2.0, base[1] - ny * w * 2.0),
            (base[0] - nx * w * 0.5, base[1] - ny * w * 0.5),
            (back[0] - nx * w * 0.5, back[1] - ny * w * 0.5),
        ]
    return np.array([_ipt(p) for p in pts], np.int32), tip


def draw_needle(
    spec: GaugeSpec, shadow: bool = True
) -> Tuple[np.ndarray, np.ndarray, Tuple[float, float]]:
    """Needle, hub and drag pointer on a transparent canvas: (BGR, alpha, tip on the canvas)."""
    cv2 = import_cv2()
    img = np.zeros((FACE, FACE, 3), np.uint8)
    alpha = np.zeros((FACE, FACE), np.float32)
    angle = needle_angle(spec)
    length = spec.needle_len * FR
    width = spec.needle_width * FR
    tail = spec.tail * FR
    poly, tip = _needle_poly(spec, angle, length, width, spec.needle_shape, tail)
    if shadow:
        off = np.array([int(FR * 0.04 * 16), int(FR * 0.05 * 16)], np.int32)
        cv2.fillPoly(alpha, [poly + off], 0.35, cv2.LINE_AA, 4)
    cv2.fillPoly(img, [poly], spec.needle_color, cv2.LINE_AA, 4)
    cv2.fillPoly(alpha, [poly], 1.0, cv2.LINE_AA, 4)
    if spec.needle_shape == "counterweight" and spec.tail > 0:
        dx, dy = direction(angle)
        cw = (FC - dx * tail * 0.8, FC - dy * tail * 0.8)
        cv2.circle(img, _ipt(cw), int(width * 1.1 * 16), spec.needle_color, -1, cv2.LINE_AA, 4)
        cv2.circle(alpha, _ipt(cw), int(width * 1.1 * 16), 1.0, -1, cv2.LINE_AA, 4)
    if spec.panel:
        cover_rng = np.random.default_rng(spec.seed + 11)
        reach = spec.tick_radius * FR
        if draw_cover(img, alpha, spec.layout, panel_box(spec), FC, reach, cover_rng):
            return img, alpha, tip  # the pivot and the needle's root are under the cover
    hub_r = max(spec.hub * FR, width * 0.8)
    hub_col = spec.needle_color if spec.seed % 3 else (150, 150, 150)
    cv2.circle(img, _ipt((FC, FC)), int(hub_r * 16), hub_col, -1, cv2.LINE_AA, 4)
    cv2.circle(alpha, _ipt((FC, FC)), int(hub_r * 16), 1.0, -1, cv2.LINE_AA, 4)
    if spec.seed % 2:
        cv2.circle(
            img,
            _ipt((FC - hub_r * 0.3, FC - hub_r * 0.3)),
            int(hub_r * 0.3 * 16),
            (200, 200, 200),
            -1,
            cv2.LINE_AA,
            4,
        )
    if spec.drag_pointer is not None:
        # in front of the needle (it sits under the glass), with its own knob over the hub
        a = fraction_to_angle(spec.start_angle, spec.sweep, spec.drag_pointer)
        poly, _ = _needle_poly(spec, a, spec.needle_len * FR * 0.97, FR * 0.025, "line", FR * 0.1)
        for canvas, value in ((img, (40, 40, 220)), (alpha, 1.0)):
            cv2.fillPoly(canvas, [poly], value, cv2.LINE_AA, 4)
            cv2.circle(canvas, _ipt((FC, FC)), int(FR * 0.045 * 16), value, -1, cv2.LINE_AA, 4)
    return img, alpha, tip


# -- placing gauges in a picture --------------------------------------------------------


def _homography(
    cx: float,
    cy: float,
    radius: float,
    rotation: float,
    tilt: float,
    tilt_axis: float,
    depth: float,
) -> np.ndarray:
    """Face canvas -> image: centre at (cx, cy), face radius ``radius`` px, perspective tilt."""
    cv2 = import_cv2()
    src = np.array([[0, 0], [FACE, 0], [FACE, FACE], [0, FACE]], np.float32)
    rot = np.radians(rotation)
    ct, st = math.cos(np.radians(tilt)), math.sin(np.radians(tilt))
    ax = np.radians(tilt_axis)
    axis = np.array([math.cos(ax), math.sin(ax), 0.0])
    # Rodrigues rotation about ``axis`` by ``tilt``
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rmat = np.eye(3) + st * k + (1 - ct) * (k @ k)
    dst = []
    for u, v in src:
        x = (u - FC) / FR * radius
        y = (v - FC) / FR * radius
        xr = x * math.cos(rot) - y * math.sin(rot)
        yr = x * math.sin(rot) + y * math.cos(rot)
        p = rmat @ np.array([xr, yr, 0.0])
        d = depth * radius
        dst.append([cx + p[0] * d / (d + p[2]), cy + p[1] * d / (d + p[2])])
    return cv2.getPerspectiveTransform(src, np.array(dst, np.float32))


def _apply(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    q = np.c_[pts, np.ones(len(pts))] @ h.T
    return q[:, :2] / q[:, 2:3]


@dataclass
class Placement:
    cx: float
    cy: float
    radius: float  # face radius in image px
    rotation: float = 0.0
    tilt: float = 0.0
    tilt_axis: float = 0.0
    depth: float = 6.0
    parallax: float = 0.0  # needle height above the dial, in face radii


def composite_gauge(
    image: np.ndarray, spec: GaugeSpec, place: Placement, shadow: float = 0.0
) -> GaugeLabel:
    """Draw ``spec`` into ``image`` (in place) and return its label."""
    cv2 = import_cv2()
    h, w = image.shape[:2]
    hmat = _homography(
        place.cx, place.cy, place.radius, place.rotation, place.tilt, place.tilt_axis, place.depth
    )
    face, falpha = draw_face(spec)
    needle, nalpha, tip = draw_needle(spec)
    # parallax: the needle is above the dial, so it shifts along the tilt direction
    shift = place.parallax * FR * math.sin(math.radians(place.tilt))
    ax = math.radians(place.tilt_axis + 90.0 - place.rotation)
    tmat = np.array(
        [[1, 0, shift * math.cos(ax)], [0, 1, shift * math.sin(ax)], [0, 0, 1]], np.float64
    )
    hn = hmat @ tmat
    flags = cv2.INTER_LINEAR
    fa = cv2.warpPerspective(falpha, hmat, (w, h), flags=flags)
    if shadow > 0:
        sh = cv2.GaussianBlur(fa, (0, 0), max(1.0, place.radius * 0.08))
        sh = np.roll(sh, (int(place.radius * 0.06), int(place.radius * 0.08)), axis=(0, 1))
        image[:] = (image * (1 - shadow * sh[..., None])).astype(np.uint8)
    fimg = cv2.warpPerspective(face, hmat, (w, h), flags=flags)
    _blend(image, fimg, fa)
    nimg = cv2.warpPerspective(needle, hn, (w, h), flags=flags)
    na = cv2.warpPerspective(nalpha, hn, (w, h), flags=flags)
    _blend(image, nimg, na)
    sa = fraction_to_angle(spec.start_angle, spec.sweep, 0.0)
    ea = fraction_to_angle(spec.start_angle, spec.sweep, 1.0)
    qa = fraction_to_angle(spec.start_angle, spec.sweep, 0.25)
    rk = (spec.tick_radius - spec.major_len * 0.5) * FR
    flat = np.array([_pt(rk, sa), _pt(rk, ea), _pt(rk, qa)])
    s_e_q = _apply(hmat, flat)
    c_t = _apply(hn, np.array([[FC, FC], tip]))
    face_c = _apply(hmat, np.array([[FC, FC]]))
    rim_angles = np.arange(0, 360, 15.0)
    # a panel meter has no round rim: no ring target, and the reader fits no ellipse to it
    rim = (
        np.zeros((0, 2)) if spec.panel else _apply(hmat, np.array([_pt(FR, a) for a in rim_angles]))
    )
    kp: Dict[str, Tuple[float, float, int]] = {}
    for name, p in zip(KEYPOINTS, [c_t[0], c_t[1], s_e_q[0], s_e_q[1], s_e_q[2]]):
        vis = int(0 <= p[0] < w and 0 <= p[1] < h)
        kp[name] = (float(p[0]), float(p[1]), vis)
    return GaugeLabel(
        keypoints=kp,
        rim=[(float(x), float(y)) for x, y in rim],
        value=float(spec.value),
        min_value=spec.min_value,
        max_value=spec.max_value,
        start_angle=spec.start_angle,
        sweep=spec.sweep,
        readable=bool(kp["tip"][2] and kp["center"][2]),
        radius=float(place.radius),
        face_center=(float(face_c[0][0]), float(face_c[0][1])),
        spec=spec,
    )


def _blend(dst: np.ndarray, src: np.ndarray, alpha: np.ndarray) -> None:
    m = alpha > 0.002
    if not m.any():
        return
    a = alpha[m][:, None]
    dst[m] = (src[m] * a + dst[m] * (1.0 - a) + 0.5).astype(np.uint8)


# -- backgrounds and degradations -----------------------------------------------------------


def background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    cv2 = import_cv2()
    if rng.random() < 0.12:  # a product shot: plain white or light grey, nothing else
        level = rng.integers(225, 256, 3)
        return np.broadcast_to(level.astype(np.uint8), (h, w, 3)).copy()
    c0 = rng.integers(0, 256, 3).astype(np.float32)
    c1 = rng.integers(0, 256, 3).astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx * math.cos(ang) + yy * math.sin(ang)) / max(w, h)
    t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    img = (c0 * (1 - t[..., None]) + c1 * t[..., None]).astype(np.uint8)
    for _ in range(int(rng.integers(0, 7))):
        col = tuple(int(x) for x in rng.integers(0, 256, 3))
        kind = rng.random()
        p0 = (int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h)))
        if kind < 0.4:  # pipes, frames, cables
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, p0, p1, col, int(rng.integers(1, max(2, w // 10))), cv2.LINE_AA)
        elif kind < 0.7:
            p1 = (p0[0] + int(rng.integers(4, w // 2)), p0[1] + int(rng.integers(4, h // 2)))
            cv2.rectangle(img, p0, p1, col, -1 if rng.random() < 0.6 else 2)
        elif kind < 0.85:
            cv2.circle(
                img,
                p0,
                int(rng.integers(3, max(4, w // 5))),
                col,
                int(rng.choice([-1, 2, 3])),
                cv2.LINE_AA,
            )
        else:  # stray text (labels, digits of a meter's counter)
            txt = str(int(rng.integers(0, 100000)))
            cv2.putText(
                img,
                txt,
                p0,
                int(rng.choice(_FONTS)),
                rng.uniform(0.3, 1.2) * w / 160,
                col,
                1,
                cv2.LINE_AA,
            )
    if rng.random() < 0.5:
        noise = rng.normal(0, rng.uniform(3, 20), (h // 8 + 1, w // 8 + 1, 1)).astype(np.float32)
        noise = cv2.resize(noise, (w, h))[..., None] if noise.ndim == 3 else noise
        img = np.clip(img + noise.reshape(h, w, 1), 0, 255).astype(np.uint8)
    return img


def _glare(
    image: np.ndarray, rng: np.random.Generator, near: Optional[Tuple[float, float]], radius: float
) -> np.ndarray:
    """Add a soft specular blob; returns its alpha map (1 = washed out)."""
    h, w = image.shape[:2]
    if near is not None:
        gx = near[0] + rng.normal(0, radius * 0.5)
        gy = near[1] + rng.normal(0, radius * 0.5)
    else:
        gx, gy = rng.uniform(0, w), rng.uniform(0, h)
    sx = radius * rng.uniform(0.1, 0.5)
    sy = sx * rng.uniform(0.3, 1.0)
    th = rng.uniform(0, math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx - gx, yy - gy
    u = (dx * math.cos(th) + dy * math.sin(th)) / sx
    v = (-dx * math.sin(th) + dy * math.cos(th)) / sy
    strength = rng.uniform(0.4, 1.0)
    a = np.clip(strength * 1.6 * np.exp(-0.5 * (u * u + v * v) ** 1.5), 0, 1).astype(np.float32)
    tint = np.array([255, 255, 255], np.float32) - rng.uniform(0, 30, 3).astype(np.float32)
    image[:] = (image * (1 - a[..., None]) + tint * a[..., None]).astype(np.uint8)
    return a


def degrade(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Lighting, colour cast, blur, noise and JPEG, scaled by ``strength`` (0 = none)."""
    cv2 = import_cv2()
    if strength <= 0:
        return image
    h, w = image.shape[:2]
    img = image.astype(np.float32)
    if rng.random() < 0.7 * strength:  # uneven light
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ang = rng.uniform(0, 2 * math.pi)
        t = (xx * math.cos(ang) + yy * math.sin(ang)) / max(w, h)
        lo, hi = sorted(rng.uniform(0.35, 1.35, 2))
        ramp = lo + (hi - lo) * (t - t.min()) / max(1e-6, float(t.max() - t.min()))
        img *= ramp[..., None]
    if rng.random() < 0.6 * strength:  # colour cast, gamma
        img *= rng.uniform(0.75, 1.2, 3).astype(np.float32)
        img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** rng.uniform(0.7, 1.4)
    img = np.clip(img, 0, 255).astype(np.uint8)
    r = rng.random()
    if r < 0.35 * strength:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.6) * max(1.0, w / 256))
    elif r < 0.45 * strength:  # motion blur
        k = int(rng.integers(3, 8))
        ker = np.zeros((k, k), np.float32)
        ker[k // 2, :] = 1.0 / k
        m = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        ker = cv2.warpAffine(ker, m, (k, k))
        img = cv2.filter2D(img, -1, ker / max(1e-6, ker.sum()))
    if rng.random() < 0.25 * strength:  # low resolution, upsampled
        f = rng.uniform(0.35, 0.8)
        small = cv2.resize(
            img, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA
        )
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.6 * strength:
        img = np.clip(img + rng.normal(0, rng.uniform(2, 12), img.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.8 * strength:
        _ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 96))])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img


#: what ``field_looks`` draws from, with their odds: a night or IR frame (grey), an
#: under-exposed frame with its sensor noise, a strong white-balance error, a hazy (fogged
#: glass, low contrast) picture; photometric only, so every label stays true
FIELD_LOOKS = (("grey", 0.35), ("dark", 0.25), ("white_balance", 0.25), ("haze", 0.15))


def field_looks(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One camera look of field photos that ``degrade`` draws too mildly or never: a
    training augmentation (``train --field-looks``), not part of the renderer, so the
    benchmarks' renders do not change with it. Real photos read unlike their own grey,
    darkened or warm copies (``bench/results/gauge.md``, session 15)."""
    cv2 = import_cv2()
    names = [n for n, _ in FIELD_LOOKS]
    look = names[int(rng.choice(len(names), p=[p for _, p in FIELD_LOOKS]))]
    img = image.astype(np.float32)
    if look == "grey":
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        img = np.repeat(grey[..., None], 3, axis=2)
        if rng.random() < 0.5:  # an IR frame: flat and a little lifted
            img = img * rng.uniform(0.5, 0.9) + rng.uniform(10, 50)
    elif look == "dark":
        img = img * rng.uniform(0.2, 0.55)
        img = img + rng.normal(0, rng.uniform(1.5, 6), img.shape)
    elif look == "white_balance":
        warm = rng.random() < 0.6
        gains = np.array([0.6, 0.9, 1.25] if warm else [1.3, 1.05, 0.7], np.float32)
        img = img * (gains * rng.uniform(0.85, 1.15, 3).astype(np.float32))
    else:  # haze: contrast squeezed towards a light veil
        veil = rng.uniform(140, 230)
        k = rng.uniform(0.35, 0.65)
        img = img * k + veil * (1 - k)
    return np.clip(img, 0, 255).astype(np.uint8)


def _luma(bgr: Sequence[float]) -> float:
    return 0.114 * bgr[0] + 0.587 * bgr[1] + 0.299 * bgr[2]


VISIBLE_CONTRAST = 25.0  # grey levels between needle and face that still show the needle


def _washed_out(glare: np.ndarray, label: GaugeLabel) -> bool:
    """True when glare leaves too little of the needle's outer half to see its direction.

    Glare blends towards white, so needle and face differ by only ``(1 - a)`` of their
    contrast under it: a white needle on a dark face vanishes under moderate glare, a black
    one on white only under strong glare. Fewer than 3 of 11 points along the outer half
    still showing the needle means nobody could read it.
    """
    spec = label.spec
    if spec is None:
        return False
    h, w = glare.shape
    cx, cy, _ = label.keypoints["center"]
    tx, ty, _ = label.keypoints["tip"]
    t = np.linspace(0.5, 1.0, 11)
    xs = np.clip(np.round(cx + (tx - cx) * t).astype(int), 0, w - 1)
    ys = np.clip(np.round(cy + (ty - cy) * t).astype(int), 0, h - 1)
    contrast = abs(_luma(spec.needle_color) - _luma(_face_colors(spec.face)[0]))
    visible = (1.0 - glare[ys, xs]) * contrast >= VISIBLE_CONTRAST
    return int(visible.sum()) < 3


def _occlude(image: np.ndarray, rng: np.random.Generator, label: GaugeLabel) -> np.ndarray:
    """A blob (a hand, a pipe, a sticker) over part of the gauge; returns its mask."""
    cv2 = import_cv2()
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    cx, cy, _ = label.keypoints["center"]
    r = label.radius
    ang = rng.uniform(0, 2 * math.pi)
    d = r * rng.uniform(0.7, 1.4)
    p = (int(cx + d * math.cos(ang)), int(cy + d * math.sin(ang)))
    axes = (int(r * rng.uniform(0.2, 0.6)), int(r * rng.uniform(0.2, 0.6)))
    cv2.ellipse(mask, p, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    col = rng.integers(0, 256, 3)
    image[mask > 0] = col
    return mask


def render_gauges(
    rng: np.random.Generator,
    width: int,
    height: int,
    specs: Sequence[GaugeSpec],
    placements: Sequence[Placement],
    clean: bool = False,
    base: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, List[GaugeLabel]]:
    """Draw given gauges on a background, then (unless ``clean``) degrade the picture."""
    image = background(rng, width, height) if base is None else base.copy()
    labels = []
    for spec, place in zip(specs, placements):
        shadow = 0.0 if clean or rng.random() < 0.5 else float(rng.uniform(0.2, 0.6))
        labels.append(composite_gauge(image, spec, place, shadow))
    if clean:
        return image, labels
    for label in labels:
        u = rng.random()
        if u < 0.3:
            tip = label.keypoints["tip"]
            near = (tip[0], tip[1]) if rng.random() < 0.5 else None
            a = _glare(image, rng, near, label.radius)
            for other in labels:  # the blob may reach a neighbour's needle too
                if other.readable and _washed_out(a, other):
                    other.readable = False
                    t = other.keypoints["tip"]
                    other.keypoints["tip"] = (t[0], t[1], 0)
        elif u < 0.38:
            m = _occlude(image, rng, label)
            for name in KEYPOINTS:
                x, y, v = label.keypoints[name]
                xi, yi = int(round(x)), int(round(y))
                if v and 0 <= xi < width and 0 <= yi < height and m[yi, xi]:
                    label.keypoints[name] = (x, y, 0)
            if not label.keypoints["tip"][2] or not label.keypoints["center"][2]:
                label.readable = False
    return degrade(image, rng), labels


def _filling_panel(
    rng: np.random.Generator, spec: GaugeSpec, size: int
) -> Tuple[float, float, float]:
    """A panel meter filling the picture, as in a photo of one meter: its pivot low (and to
    the right for a corner pivot), where the whole picture is read before any crop."""
    r = size * float(rng.uniform(0.45, 0.8))
    reach = r * (spec.tick_radius + 0.25)  # the scale and its numbers stay in the picture
    cy = float(rng.uniform(min(reach, size - 4), size - 4))
    if spec.layout == "panel_corner":
        cx = float(rng.uniform(min(reach, size - 4), size - 4))
    else:
        cx = size / 2 + float(rng.normal(0, size * 0.05))
    return cx, cy, r


def random_placement(rng: np.random.Generator, cx: float, cy: float, radius: float) -> Placement:
    tilt = 0.0 if rng.random() < 0.35 else 45.0 * float(rng.random()) ** 1.3
    rotation = float(rng.normal(0, 8)) if rng.random() < 0.8 else float(rng.uniform(-180, 180))
    return Placement(
        cx=cx,
        cy=cy,
        radius=radius,
        rotation=rotation,
        tilt=tilt,
        tilt_axis=float(rng.uniform(0, 180)),
        depth=float(rng.uniform(2.5, 12)),
        parallax=float(rng.uniform(0, 0.08)),
    )


def render_sample(
    seed: int,
    size: int = 128,
    split: str = "train",
    mode: Optional[str] = None,
    clean: bool = False,
    direction: Optional[str] = None,
) -> Tuple[np.ndarray, List[GaugeLabel]]:
    """One training/benchmark picture, a pure function of ``seed`` (and ``direction``).

    ``mode``: ``crop`` (one gauge filling most of the picture, maybe cut by the
    edges, maybe with neighbours as on a water meter) or ``scene`` (one to four
    smaller gauges); by default crop 75 %, scene 25 %. ``direction`` (``cw``/``ccw``)
    makes the main dial of a crop one whose scale has ends and runs that way.
    """
    rng = np.random.default_rng(seed)
    if mode is None:
        mode = "crop" if rng.random() < 0.75 else "scene"
    specs: List[GaugeSpec] = []
    places: List[Placement] = []
    if mode == "crop":
        water = rng.random() < 0.12
        spec = sample_spec(rng, split, water_meter=water and direction is None, direction=direction)
        # the face radius; the bezel adds up to 18 %
        r = size * float(rng.uniform(0.26, 0.44))
        cx = size / 2 + float(rng.normal(0, size * 0.05))
        cy = size / 2 + float(rng.normal(0, size * 0.05))
        filling = spec.panel and rng.random() < 0.5
        if filling:
            cx, cy, r = _filling_panel(rng, spec, size)
        specs.append(spec)
        places.append(random_placement(rng, cx, cy, r))
        if filling:  # a photo of one meter is taken square on, near enough
            places[-1].rotation = float(np.clip(places[-1].rotation, -6, 6))
            places[-1].tilt = min(places[-1].tilt, 20.0)
        if water or rng.random() < 0.1:  # neighbouring dials cut by the edges
            for _ in range(int(rng.integers(1, 3))):
                ang = rng.uniform(0, 2 * math.pi)
                d = r * rng.uniform(2.3, 2.8)
                other = sample_spec(rng, split, water_meter=water)
                specs.insert(0, other)
                pl = random_placement(
                    rng, cx + d * math.cos(ang), cy + d * math.sin(ang), r * rng.uniform(0.8, 1.1)
                )
                places.insert(0, pl)
    else:
        n = int(rng.integers(1, 5))
        taken: List[Tuple[float, float, float]] = []
        for _ in range(n * 6):
            if len(specs) == n:
                break
            r = size * float(rng.uniform(0.08, 0.26))
            cx = float(rng.uniform(r * 0.6, size - r * 0.6))
            cy = float(rng.uniform(r * 0.6, size - r * 0.6))
            if any(math.hypot(cx - x, cy - y) < (r + rr) * 1.25 for x, y, rr in taken):
                continue
            taken.append((cx, cy, r))
            specs.append(sample_spec(rng, split))
            places.append(random_placement(rng, cx, cy, r))
    image, labels = render_gauges(rng, size, size, specs, places, clean=clean)
    return image, labels
