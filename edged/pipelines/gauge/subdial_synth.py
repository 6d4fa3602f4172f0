"""Procedural pointer sub-dials seen by a fixed camera, as tight crops, for the pointer model.

The x0.1 / x0.01 / x0.001 dials of water and gas meters are read by cheap
fixed cameras through the meter's window, from a region of interest a person
drew once. Their pointers are broad paddles, teardrops or clubs (or thin clock
hands on gas meters), not needles, and the crops are small (60-130 px),
off-centre, cut by their edges, a little rotated, with neighbouring dials
peeking in, soft focus, LED hot spots, reflections of the window, droplets,
colour casts of cameras without an IR-cut filter and greyscale night frames.
This module draws exactly that, as a pure function of a seed.

Labels (``SubdialLabel``) are directions in the picture (degrees clockwise
from 12 o'clock, ``edged.pipelines.gauge.angles``): where the pointer's axis
points (``pointer_angle``), where the scale's zero sits (``zero_angle``, the
"0" numeral of a 0-9 ring) and whether the numbers run counter-clockwise.
The reading follows from them; the model learns directions, so a rotated or
upside-down camera needs no retraining.

Styles are split by a hash of their key as in ``synth``: held-out styles are
never drawn for training, only for benchmarks.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import numpy as np

from edged.cvutil import import_cv2
from edged.pipelines.gauge.angles import angle_of, point_at, wrap360

__all__ = [
    "RENDERER_VERSION",
    "SubdialLabel",
    "SubdialSpec",
    "is_heldout",
    "render_subdial",
    "sample_subdial_spec",
]

#: bumped whenever a seed renders differently; training records it and refuses to resume a
#: run begun with another version. (The keypoint renderer ``synth`` counts its own versions.)
RENDERER_VERSION = 1

CANVAS = 400  # drawing canvas side (px)
CC = CANVAS / 2.0  # dial centre on the canvas
R = 80.0  # the dial's ring radius on the canvas (px)
HELDOUT_BUCKETS = 10

_FONTS = (0, 1, 2, 3, 4, 6, 7)  # Hershey faces (5, script, is unreadable)
_POINTERS = ("paddle", "teardrop", "club", "hand", "hollow")
_POINTER_WEIGHTS = (0.4, 0.2, 0.1, 0.2, 0.1)
_FACES = ("white", "cream", "grey", "yellowish", "dim")
_DIGIT_STYLES = ("upright", "radial")
_TICKS = ("none", "lines", "dots", "both")


@dataclass
class SubdialSpec:
    """One sub-dial's look (where it goes and the camera come separately)."""

    pointer: str
    pointer_color: Tuple[int, int, int]
    face: str
    face_color: Tuple[int, int, int]
    ink: Tuple[int, int, int]
    digits: str
    ticks: str
    font: int
    ccw: bool
    value: float  # 0 <= value < 10
    hub_width: float  # pointer width at the hub, in ring radii
    length: float  # pointer reach, in ring radii
    tip_width: float  # rounded tip's width, in ring radii
    tail: float  # counterweight reach (0: none), in ring radii
    digit_radius: float
    digit_scale: float
    ring_width: int

    @property
    def style_key(self) -> Tuple[Any, ...]:
        return (self.pointer, self.face, self.digits, self.ticks, self.font)


@dataclass
class SubdialLabel:
    """Ground truth of one rendered crop, directions in the picture's own frame."""

    pointer_angle: float  # where the pointer's axis points
    zero_angle: float  # where the scale's 0 sits
    ccw: bool  # numbers run counter-clockwise
    value: float  # the reading, 0..10
    center: Tuple[float, float]  # the pivot in the picture
    radius: float  # the ring's radius in the picture (px, mean of the axes)
    tip: Tuple[float, float]  # the pointer's tip in the picture
    spec: SubdialSpec

    @property
    def sweep(self) -> float:
        return -360.0 if self.ccw else 360.0


def is_heldout(style_key: Any) -> bool:
    digest = hashlib.sha256(repr(style_key).encode()).digest()
    return digest[0] % HELDOUT_BUCKETS == 0


def _color(rng: np.random.Generator, base: Tuple[int, int, int], spread: int) -> Tuple[int, ...]:
    jitter = rng.integers(-spread, spread + 1, 3)
    return tuple(min(255, max(0, int(c + j))) for c, j in zip(base, jitter))


def _pointer_color(rng: np.random.Generator, pointer: str) -> Tuple[int, int, int]:
    r = rng.random()
    if pointer == "hand":  # gas-meter clock hands: dark
        return _color(rng, (35, 35, 35), 30)  # type: ignore[return-value]
    if r < 0.6:  # red (BGR)
        return _color(rng, (45, 40, 200), 35)  # type: ignore[return-value]
    if r < 0.72:  # dark red
        return _color(rng, (35, 30, 120), 25)  # type: ignore[return-value]
    if r < 0.82:  # orange
        return _color(rng, (30, 110, 230), 25)  # type: ignore[return-value]
    return _color(rng, (30, 30, 30), 25)  # type: ignore[return-value]


def sample_subdial_spec(rng: np.random.Generator, split: str = "train") -> SubdialSpec:
    """A random look; ``split`` picks from the training or the held-out styles."""
    for _ in range(100):
        spec = _sample_once(rng)
        if is_heldout(spec.style_key) == (split == "heldout"):
            return spec
    return spec


def _sample_once(rng: np.random.Generator) -> SubdialSpec:
    pointer = str(rng.choice(_POINTERS, p=_POINTER_WEIGHTS))
    face = str(rng.choice(_FACES))
    face_color = {
        "white": (240, 240, 240),
        "cream": (205, 230, 240),
        "grey": (195, 195, 195),
        "yellowish": (170, 225, 235),
        "dim": (120, 140, 140),  # a gas meter's olive-grey face in poor light
    }[face]
    if pointer == "hand":
        hub, length, tip, tail = rng.uniform(0.08, 0.16), rng.uniform(0.6, 0.9), 0.02, 0.0
    elif pointer == "club":  # wider towards the end than at the hub
        hub, length = rng.uniform(0.15, 0.25), rng.uniform(0.6, 0.85)
        tip, tail = rng.uniform(0.2, 0.3), rng.uniform(0.0, 0.25)
    else:  # paddle, teardrop, hollow
        hub, length = rng.uniform(0.3, 0.6), rng.uniform(0.6, 0.9)
        tip = rng.uniform(0.0, 0.12) if pointer != "teardrop" else rng.uniform(0.0, 0.05)
        tail = rng.uniform(0.0, 0.3) if rng.random() < 0.4 else 0.0
    return SubdialSpec(
        pointer=pointer,
        pointer_color=_pointer_color(rng, pointer),
        face=face,
        face_color=_color(rng, face_color, 12),  # type: ignore[arg-type]
        ink=_color(rng, (25, 25, 25), 20),  # type: ignore[arg-type]
        digits=str(rng.choice(_DIGIT_STYLES, p=(0.7, 0.3))),
        ticks=str(rng.choice(_TICKS)),
        font=int(rng.choice(_FONTS)),
        ccw=bool(rng.random() < 0.3),
        value=float(rng.uniform(0, 10)),
        hub_width=float(hub),
        length=float(length),
        tip_width=float(tip),
        tail=float(tail),
        digit_radius=float(rng.uniform(0.6, 0.84)),
        digit_scale=float(rng.uniform(0.9, 1.7)),
        ring_width=int(rng.integers(1, 5)),
    )


def _dial_angle(spec: SubdialSpec, fraction: float) -> float:
    """Dial-frame angle of a scale position (0..1 of the turn), zero at 12 o'clock."""
    return wrap360((-360.0 if spec.ccw else 360.0) * fraction)


def _pt(c: Tuple[float, float], r: float, angle: float) -> Tuple[float, float]:
    return point_at(c[0], c[1], r, angle)


def _ipts(pts: Any) -> np.ndarray:
    return np.round(np.asarray(pts, np.float64) * 16).astype(np.int32)


def _draw_face(img: np.ndarray, c: Tuple[float, float], spec: SubdialSpec, rng: Any) -> None:
    """Plate, ring, ticks and the 0-9 numerals (drawn with 4 bits of sub-pixel precision)."""
    cv2 = import_cv2()
    r = R
    cv2.circle(img, _ipts(c), int(r * 1.04 * 16), spec.face_color, -1, cv2.LINE_AA, 4)
    cv2.circle(img, _ipts(c), int(r * 16), spec.ink, spec.ring_width, cv2.LINE_AA, 4)
    if rng.random() < 0.3:  # a second, inner ring
        cv2.circle(img, _ipts(c), int(r * 0.9 * 16), spec.ink, 1, cv2.LINE_AA, 4)
    for k in range(50 if spec.ticks != "none" else 0):
        a = _dial_angle(spec, k / 50.0)
        major = k % 5 == 0
        if spec.ticks in ("lines", "both") and (major or spec.ticks == "lines"):
            r0 = 0.86 if major else 0.92
            p0, p1 = _pt(c, r * r0, a), _pt(c, r * 0.98, a)
            cv2.line(img, _ipts(p0), _ipts(p1), spec.ink, 2 if major else 1, cv2.LINE_AA, 4)
        elif spec.ticks in ("dots", "both"):
            p = _pt(c, r * 0.94, a)
            cv2.circle(img, _ipts(p), int((3.5 if major else 2.0) * 16), spec.ink, -1, 16, 4)
    for d in range(10):
        _draw_digit(img, c, spec, d)
    if rng.random() < 0.3:  # the dial's factor, printed under the hub
        txt = str(rng.choice(["x0,1", "x0,01", "x0.001", "x0,0001", "X10", "x1"]))
        org = (int(c[0] - 18), int(c[1] + r * rng.uniform(0.3, 0.5)))
        cv2.putText(img, txt, org, spec.font, 0.5, spec.ink, 1, cv2.LINE_AA)


def _draw_digit(img: np.ndarray, c: Tuple[float, float], spec: SubdialSpec, d: int) -> None:
    cv2 = import_cv2()
    a = _dial_angle(spec, d / 10.0)
    scale = 0.034 * R * spec.digit_scale / 3.0
    thick = max(1, int(round(scale * 2.2)))
    (tw, th), _ = cv2.getTextSize(str(d), spec.font, scale, thick)
    px, py = _pt(c, R * spec.digit_radius, a)
    if spec.digits == "upright":
        org = (int(round(px - tw / 2)), int(round(py + th / 2)))
        cv2.putText(img, str(d), org, spec.font, scale, spec.ink, thick, cv2.LINE_AA)
        return
    # radial: the digit's top points away from the hub
    side = int(max(tw, th) * 2 + 4)
    patch = np.zeros((side, side), np.uint8)
    org = (int(round(side / 2 - tw / 2)), int(round(side / 2 + th / 2)))
    cv2.putText(patch, str(d), org, spec.font, scale, 255, thick, cv2.LINE_AA)
    m = cv2.getRotationMatrix2D((side / 2, side / 2), -a, 1.0)
    mask = cv2.warpAffine(patch, m, (side, side)).astype(np.float32)[..., None] / 255.0
    x0, y0 = int(round(px - side / 2)), int(round(py - side / 2))
    h, w = img.shape[:2]
    if x0 < 0 or y0 < 0 or x0 + side > w or y0 + side > h:
        return  # only on neighbours far off the crop
    roi = img[y0 : y0 + side, x0 : x0 + side]
    ink = np.array(spec.ink, np.float32)
    np.copyto(roi, (roi * (1 - mask) + ink * mask).astype(np.uint8))


def _hull(circles: List[Tuple[Tuple[float, float], float]]) -> np.ndarray:
    """Convex hull of discs: a teardrop, paddle or club outline."""
    cv2 = import_cv2()
    pts = []
    for (x, y), rad in circles:
        for t in np.linspace(0, 2 * math.pi, 24, endpoint=False):
            pts.append((x + max(rad, 0.3) * math.cos(t), y + max(rad, 0.3) * math.sin(t)))
    return cv2.convexHull(_ipts(pts))


def _draw_pointer(
    img: np.ndarray, c: Tuple[float, float], spec: SubdialSpec, angle: float, rng: Any
) -> Tuple[float, float]:
    """The pointer pointing at dial-frame ``angle``; returns its tip on the canvas."""
    cv2 = import_cv2()
    tip = _pt(c, R * spec.length, angle)
    tip_r = R * spec.tip_width / 2
    hub_r = R * spec.hub_width / 2
    tip_c = _pt(c, R * spec.length - tip_r, angle)
    body = [(c, hub_r), (tip_c, tip_r)]
    if spec.pointer == "club":
        body = [(c, hub_r), (_pt(c, R * spec.length * 0.55, angle), tip_r * 0.7), (tip_c, tip_r)]
    shapes = [_hull(body)]
    if spec.tail > 0:
        tail_c = _pt(c, R * spec.tail, angle + 180)
        shapes.append(_hull([(c, hub_r * 0.6), (tail_c, hub_r * 0.45)]))
    col = spec.pointer_color
    if rng.random() < 0.6:  # drop shadow on the face
        shadow = img.copy()
        off = _ipts(rng.uniform(1, 4, 2))
        for s in shapes:
            cv2.fillConvexPoly(shadow, s + off, (60, 60, 60), cv2.LINE_AA, 4)
        cv2.addWeighted(shadow, 0.35, img, 0.65, 0, img)
    for s in shapes:
        if spec.pointer == "hollow":
            cv2.polylines(img, [s], True, col, int(rng.integers(2, 5)), cv2.LINE_AA, 4)
        else:
            cv2.fillConvexPoly(img, s, col, cv2.LINE_AA, 4)
            if rng.random() < 0.4:  # a darker edge
                dark = tuple(int(v * 0.55) for v in col)
                cv2.polylines(img, [s], True, dark, 2, cv2.LINE_AA, 4)
    if spec.pointer != "hollow" and rng.random() < 0.4:  # highlight stripe along the axis
        light = tuple(int(min(255, v + 70)) for v in col)
        p0, p1 = _pt(c, hub_r * 0.3, angle + 90), _pt(tip_c, tip_r * 0.3, angle + 90)
        w = max(1, int(hub_r * rng.uniform(0.1, 0.25)))
        cv2.line(img, _ipts(p0), _ipts(p1), light, w, cv2.LINE_AA, 4)
    if rng.random() < 0.6:  # hub cap
        cap = col if rng.random() < 0.5 else _color(rng, (90, 90, 90), 60)
        rad = R * rng.uniform(0.06, 0.18)
        cv2.circle(img, _ipts(c), int(rad * 16), cap, -1, cv2.LINE_AA, 4)
        if rng.random() < 0.5:
            hl = _pt(c, rad * 0.4, 315)
            cv2.circle(img, _ipts(hl), int(rad * 0.3 * 16), (235, 235, 235), -1, cv2.LINE_AA, 4)
    return tip


def _draw_neighbours(img: np.ndarray, rng: Any, split: str) -> None:
    """Other dials and a counter's digit wheels around the read one, to be cut by the crop."""
    cv2 = import_cv2()
    for _ in range(int(rng.integers(0, 4))):
        side = 1 if rng.random() < 0.5 else -1
        a = (90 if side > 0 else 270) + rng.normal(0, 25)
        dist = R * rng.uniform(2.1, 2.6)
        c = _pt((CC, CC), dist, a)
        if rng.random() < 0.75:
            spec = sample_subdial_spec(rng, split)
            _draw_face(img, c, spec, rng)
            _draw_pointer(img, c, spec, rng.uniform(0, 360), rng)
        else:  # a digit wheel window
            x, y = int(c[0]), int(c[1])
            w, h = int(R * 0.7), int(R * 1.0)
            cv2.rectangle(img, (x - w // 2, y - h // 2), (x + w // 2, y + h // 2), (20, 20, 20), -1)
            digit = str(int(rng.integers(0, 10)))
            cv2.putText(img, digit, (x - w // 3, y + h // 4), 0, R / 60, (230, 230, 230), 3, 16)


def _plate(rng: Any) -> np.ndarray:
    """The meter's body behind the dials: a colour, a gradient and a little texture."""
    cv2 = import_cv2()
    base = rng.integers(0, 256, 3) if rng.random() < 0.4 else np.full(3, rng.integers(150, 256))
    n = CANVAS // 16
    small = np.empty((n, n, 3), np.float32)
    small[:] = base
    small *= 1 + rng.uniform(-0.25, 0.25) * np.linspace(-1, 1, n, dtype=np.float32)[:, None, None]
    small += rng.normal(0, rng.uniform(0, 10), (n, n, 1)).astype(np.float32)
    small = np.clip(small, 0, 255).astype(np.uint8)
    return cv2.resize(small, (CANVAS, CANVAS), interpolation=cv2.INTER_LINEAR)


def render_subdial(
    seed: int,
    size: int = 0,
    split: str = "train",
    strength: float = 1.0,
    value: Optional[float] = None,
) -> Tuple[np.ndarray, SubdialLabel]:
    """A tight crop of one sub-dial (``size`` px square; 0 picks 56-136 as cameras give).
    ``value`` (0..10) turns the pointer of the seed's dial and changes nothing else."""
    rng = np.random.default_rng(seed)
    spec = sample_subdial_spec(rng, split)
    if value is not None:
        spec.value = float(value) % 10.0
    img = _plate(rng)
    _draw_neighbours(img, rng, split)
    c = (CC, CC)
    _draw_face(img, c, spec, rng)
    dial_pointer = _dial_angle(spec, spec.value / 10.0)
    tip = _draw_pointer(img, c, spec, dial_pointer, rng)
    if size <= 0:
        size = int(rng.integers(56, 137))
    crop, m = _camera_geometry(img, rng, size)
    crop = camera_look(crop, rng, strength)
    label = _label(spec, m, c, tip, dial_pointer)
    return crop, label


def _camera_geometry(img: np.ndarray, rng: Any, size: int) -> Tuple[np.ndarray, np.ndarray]:
    """A region of interest around the dial: rotated, off-centre, cut, a little oblique."""
    cv2 = import_cv2()
    rot = rng.normal(0, 8) if rng.random() < 0.85 else rng.uniform(0, 360)
    fill = rng.uniform(0.75, 1.15)  # ring radius / half the crop side
    scale = fill * (size / 2.0) / R
    aniso = rng.uniform(0.88, 1.0)
    tilt = rng.uniform(0, math.pi)
    rot_m = cv2.getRotationMatrix2D((0, 0), -rot, 1.0)[:, :2]
    ct, st = math.cos(tilt), math.sin(tilt)
    squash = (
        np.array([[ct, -st], [st, ct]]) @ np.diag([1.0, aniso]) @ np.array([[ct, st], [-st, ct]])
    )
    a = scale * rot_m @ squash
    shift = rng.uniform(-0.15, 0.15, 2) * size
    t = np.array([size / 2.0, size / 2.0]) + shift - a @ np.array([CC, CC])
    m = np.hstack([a, t[:, None]])
    # the canvas is drawn large: render at 2x and shrink, as a lens would average
    big = m * np.array([[2.0], [2.0]])
    out = cv2.warpAffine(img, big, (2 * size, 2 * size), flags=cv2.INTER_AREA)
    out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
    return out, m


def _map(m: np.ndarray, p: Tuple[float, float]) -> Tuple[float, float]:
    q = m[:, :2] @ np.array(p, np.float64) + m[:, 2]
    return float(q[0]), float(q[1])


def _label(
    spec: SubdialSpec, m: np.ndarray, c: Tuple[float, float], tip: Tuple[float, float], angle: float
) -> SubdialLabel:
    pc = _map(m, c)
    axis = _map(m, _pt(c, R, angle))
    zero = _map(m, _pt(c, R, 0.0))
    t = _map(m, tip)
    radius = float(np.sqrt(abs(np.linalg.det(m[:, :2])))) * R
    return SubdialLabel(
        pointer_angle=angle_of(axis[0] - pc[0], axis[1] - pc[1]),
        zero_angle=angle_of(zero[0] - pc[0], zero[1] - pc[1]),
        ccw=spec.ccw,
        value=spec.value,
        center=pc,
        radius=radius,
        tip=t,
        spec=spec,
    )


def camera_look(img: np.ndarray, rng: Any, strength: float = 1.0) -> np.ndarray:
    """What a cheap fixed camera behind a plastic window adds; ``strength`` 0 adds nothing."""
    if strength <= 0:
        return img
    out = img.astype(np.float32)
    h, w = out.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.6 * strength:  # uneven light
        a = rng.uniform(0, 2 * math.pi)
        ramp = (xx * math.cos(a) + yy * math.sin(a)) / max(w, h)
        out *= (1 + rng.uniform(-0.5, 0.5) * (ramp - ramp.mean()))[..., None]
    if rng.random() < 0.35 * strength:  # LED hot spot
        gx, gy, s = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.08, 0.3) * w
        blob = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * s * s))
        out += rng.uniform(60, 220) * blob[..., None] * rng.uniform(0.8, 1.0, 3)
    if rng.random() < 0.3 * strength:  # the window's reflection, a soft band
        a = rng.uniform(0, math.pi)
        d = (xx - w / 2) * math.cos(a) + (yy - h / 2) * math.sin(a) - rng.uniform(-0.4, 0.4) * w
        band = np.exp(-(d**2) / (2 * (rng.uniform(0.03, 0.15) * w) ** 2))
        out = out * (1 - 0.5 * band[..., None]) + rng.uniform(60, 160) * band[..., None]
    if rng.random() < 0.2 * strength:
        out = _droplets(out, rng)
    out = _colour(out, rng, strength)
    return _lens_and_codec(np.clip(out, 0, 255).astype(np.uint8), rng, strength)


def _droplets(out: np.ndarray, rng: Any) -> np.ndarray:
    """Water droplets or condensation: small discs that darken and sparkle at one edge."""
    cv2 = import_cv2()
    h, w = out.shape[:2]
    mask = np.zeros((h, w), np.float32)
    spark = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(3, 25))):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.01, 0.06) * w
        cv2.circle(mask, (int(x), int(y)), max(1, int(r)), 1.0, -1)
        cv2.circle(spark, (int(x - r / 3), int(y - r / 3)), max(1, int(r / 4)), 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.0)[..., None]
    spark = cv2.GaussianBlur(spark, (0, 0), 0.7)[..., None]
    return out * (1 - 0.25 * mask) + 150 * spark


def _colour(out: np.ndarray, rng: Any, strength: float) -> np.ndarray:
    r = rng.random()
    if r < 0.1 * strength:  # night: infrared, greyscale
        grey = out @ np.array([0.114, 0.587, 0.299], np.float32)
        out = np.repeat(grey[..., None], 3, axis=2)
    elif r < 0.22 * strength:  # no IR-cut filter: pink, purple or green
        cast = [(1.15, 0.8, 1.2), (1.25, 0.75, 1.05), (0.85, 1.2, 0.85)][int(rng.integers(0, 3))]
        out = out * np.array(cast, np.float32) * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    elif r < 0.6 * strength:
        out = out * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    contrast, bright = rng.uniform(0.55, 1.2), rng.uniform(-40, 40)
    out = (out - 128) * contrast + 128 + bright
    out = np.clip(out, 0, 255)
    return 255.0 * (out / 255.0) ** rng.uniform(0.7, 1.4)


def _lens_and_codec(img: np.ndarray, rng: Any, strength: float) -> np.ndarray:
    cv2 = import_cv2()
    h, w = img.shape[:2]
    if rng.random() < 0.6 * strength:  # soft focus
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.8) * w / 100)
    if rng.random() < 0.3 * strength:  # a smaller sensor, upscaled
        f = rng.uniform(0.4, 0.85)
        small = cv2.resize(img, (max(8, int(w * f)), max(8, int(h * f))), cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.7 * strength:
        noise = rng.normal(0, rng.uniform(2, 14), img.shape)
        img = np.clip(img + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.85 * strength:
        q = int(rng.integers(20, 96))
        _ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img
