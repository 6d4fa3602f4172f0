"""Fixed camera looks for labelled photos: the same dial as another camera would see it.

A development set of a few dozen photos says little about photos nobody here has seen; how
much a reading moves when the same photo is turned grey, darkened, rolled a few degrees or
shrunk says how far the reader can be trusted on other cameras. Each look is deterministic
(the same pixels every run) and maps the photo's label along with it: a box follows the
geometry, and a labelled start angle turns with a roll. Used by
``bench/gauge_accuracy.py --photos DIR --looks ...``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from edged.cvutil import import_cv2

__all__ = ["ALL", "LOOKS", "apply_look", "parse_looks"]

#: a look: the picture -> (new picture, 3x3 map of old pixel positions to new, roll in
#: degrees clockwise that a labelled start angle turns by)
Look = Callable[[np.ndarray], Tuple[np.ndarray, np.ndarray, float]]


def _same(image: np.ndarray) -> Tuple[np.ndarray, np.ndarray, float]:
    return image, np.eye(3), 0.0


def _photometric(f: Callable[[np.ndarray], np.ndarray]) -> Look:
    return lambda image: (f(image), np.eye(3), 0.0)


def _grey(image: np.ndarray) -> np.ndarray:
    cv2 = import_cv2()
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def _gains(b: float, g: float, r: float) -> Callable[[np.ndarray], np.ndarray]:
    gains = np.array([b, g, r], np.float32)
    return lambda image: np.clip(image * gains, 0, 255).astype(np.uint8)


def _glare(image: np.ndarray) -> np.ndarray:
    """A specular spot on the glass, upper right of the middle (a lamp behind the camera)."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sigma = 0.12 * max(h, w)
    spot = np.exp(-((xx - 0.65 * w) ** 2 + (yy - 0.3 * h) ** 2) / (2 * sigma**2))
    return np.clip(image + 150.0 * spot[..., None], 0, 255).astype(np.uint8)


def _jpeg(quality: int) -> Callable[[np.ndarray], np.ndarray]:
    def look(image: np.ndarray) -> np.ndarray:
        cv2 = import_cv2()
        _ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)

    return look


def _blur(image: np.ndarray) -> np.ndarray:
    """Out of focus: a blur that scales with the picture (1.5 px at 400 px)."""
    cv2 = import_cv2()
    return cv2.GaussianBlur(image, (0, 0), 1.5 * max(image.shape[:2]) / 400.0)


def _roll(degrees: float) -> Look:
    """The camera rolled ``degrees`` clockwise: the picture turns that much anticlockwise
    about its middle, and a dial's start angle (clockwise from 12 o'clock) with it."""

    def look(image: np.ndarray) -> Tuple[np.ndarray, np.ndarray, float]:
        cv2 = import_cv2()
        h, w = image.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
        out = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        return out, np.vstack([m, [0.0, 0.0, 1.0]]), -degrees

    return look


def _tilt(image: np.ndarray) -> Tuple[np.ndarray, np.ndarray, float]:
    """Seen from below: the top edge 8 % narrower on each side (a keystone)."""
    cv2 = import_cv2()
    h, w = image.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    d = 0.08 * w
    dst = np.float32([[d, 0], [w - d, 0], [w, h], [0, h]])
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE), m, 0.0


def _long_side(pixels: int) -> Look:
    """The picture scaled so its long side is ``pixels`` (a CCTV frame, a phone photo)."""

    def look(image: np.ndarray) -> Tuple[np.ndarray, np.ndarray, float]:
        cv2 = import_cv2()
        h, w = image.shape[:2]
        s = pixels / float(max(h, w))
        size = (max(1, round(w * s)), max(1, round(h * s)))
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
        sx, sy = size[0] / float(w), size[1] / float(h)
        return cv2.resize(image, size, interpolation=interp), np.diag([sx, sy, 1.0]), 0.0

    return look


def _night(image: np.ndarray) -> np.ndarray:
    """A night frame: a camera lit by its infrared LEDs or a dim lamp, black and white, 0.3
    as bright as by day, with the sensor noise of its high gain (4 grey levels, the
    same noise every run) and a cheap camera's JPEG (quality 60)."""
    grey = _grey(image).astype(np.float32) * 0.3
    noise = np.random.default_rng(0).normal(0.0, 4.0, image.shape[:2]).astype(np.float32)
    dim = np.clip(grey + noise[..., None], 0, 255).astype(np.uint8)
    return _jpeg(60)(dim)


def _plant_wall(width: int, height: int) -> np.ndarray:
    """What a phone sees around a dial in a plant room, drawn here (not by the training
    renderer, whose changes would move this look): a painted wall, two pipes with a flange,
    a junction box, a cable, a warning sign and a label. Placed in shares of the frame, so
    it scales with the photo; the same pixels every run."""
    cv2 = import_cv2()
    w, h = width, height
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    wall = (1 - t) * np.float32([150, 160, 150]) + t * np.float32([95, 105, 100])
    img = np.ascontiguousarray(np.broadcast_to(wall, (h, w, 3)).astype(np.uint8))

    def at(fx: float, fy: float) -> Tuple[int, int]:
        return int(fx * w), int(fy * h)

    thick = max(4, h // 12)
    for fy, colour in ((0.12, (60, 60, 150)), (0.86, (150, 150, 150))):  # pipes
        cv2.line(img, at(0.0, fy), at(1.0, fy), colour, thick)
        cv2.line(img, at(0.0, fy - 0.02), at(1.0, fy - 0.02), (230, 230, 230), max(1, thick // 6))
        x, y = at(0.82, fy)
        flange = ((x - thick // 3, y - thick), (x + thick // 3, y + thick))
        cv2.rectangle(img, *flange, (40, 40, 40), -1)
    cv2.rectangle(img, at(0.80, 0.30), at(0.97, 0.62), (175, 180, 185), -1)  # junction box
    cv2.rectangle(img, at(0.80, 0.30), at(0.97, 0.62), (60, 60, 60), max(2, w // 300))
    pts = np.array([at(0.88, 0.62), at(0.86, 0.70), at(0.70, 0.74), at(0.62, 0.86)], np.int32)
    cv2.polylines(img, [pts], False, (20, 20, 20), max(2, w // 200))  # cable
    cv2.rectangle(img, at(0.05, 0.70), at(0.18, 0.80), (0, 200, 240), -1)  # warning sign
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.4, w / 1600.0)
    cv2.putText(img, "400V", at(0.07, 0.77), font, scale, (0, 0, 0), max(1, w // 800))
    cv2.putText(img, "PUMP 2", at(0.82, 0.28), font, scale, (30, 30, 30), max(1, w // 800))
    return img


def _in_scene(factor: float) -> Look:
    """The photo as one part of a larger picture (a phone shot across a plant room): its own
    pixels, not resampled, in a frame ``factor`` times its width and height
    (``_plant_wall``), left of and above the middle (at 2.2: 0.35 of its width from the
    left, 0.3 of its height from the top), so the dial is no longer what the picture is
    framed on."""

    def look(image: np.ndarray) -> Tuple[np.ndarray, np.ndarray, float]:
        h, w = image.shape[:2]
        frame = _plant_wall(int(round(factor * w)), int(round(factor * h)))
        at = (factor - 1.0) / 1.2
        x0, y0 = int(round(0.35 * w * at)), int(round(0.3 * h * at))
        frame[y0 : y0 + h, x0 : x0 + w] = image
        return frame, np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]]), 0.0

    return look


LOOKS: Dict[str, Look] = {
    "none": _same,
    "grey": _photometric(_grey),  # a night or IR frame, a black-and-white camera
    "dark": _photometric(lambda im: (im * 0.4).astype(np.uint8)),  # under-exposed
    "warm": _photometric(_gains(0.75, 0.95, 1.15)),  # tungsten light, no white balance
    "glare": _photometric(_glare),
    "jpeg25": _photometric(_jpeg(25)),
    "blur": _photometric(_blur),
    "roll+8": _roll(8.0),
    "roll-8": _roll(-8.0),
    "tilt": _tilt,
    "small": _long_side(320),
    "large": _long_side(1024),
    "scene": _in_scene(2.2),  # a phone shot across a plant room: not in "all", see ALL
    "far": _in_scene(4.0),  # the same from further off, the dial a quarter of the frame
    "night": _photometric(_night),  # grey, dark, noisy and compressed at once: not in "all"
}
#: ``--looks all``: the looks of the photo as it is framed, one change at a time; ``scene``
#: and ``far`` change the framing, as ``--pad`` does, and ``night`` makes several changes
#: at once: they are named on their own (and the pooled figures from before they came stay
#: comparable)
FRAMED_ALONE = ("scene", "far", "night")
ALL = [name for name in LOOKS if name not in FRAMED_ALONE]


def parse_looks(text: str) -> List[str]:
    """``--looks``' value: names from ``LOOKS`` separated by commas, ``all`` among them
    standing for ``ALL``."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    names = [look for n in names for look in (ALL if n == "all" else [n])]
    names = list(dict.fromkeys(names))  # each look once, in the order given
    unknown = [n for n in names if n not in LOOKS]
    if unknown or not names:
        raise ValueError(
            f"unknown look(s) {', '.join(unknown) or '(none given)'}: choose from "
            f"{', '.join(LOOKS)}, or all (every one but {', '.join(FRAMED_ALONE)})"
        )
    return names


def apply_look(
    name: str, image: np.ndarray, item: Dict[str, Any]
) -> Tuple[np.ndarray, Dict[str, Any]]:
    """``image`` with the look ``name``, and its label moved along: a ``box`` becomes the box
    around its four corners' new places, a labelled ``start_angle`` turns with a roll."""
    out, m, turn = LOOKS[name](image)
    moved = dict(item)
    if item.get("box") is not None:
        x0, y0, x1, y1 = item["box"]
        corners = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], np.float64)
        p = corners @ m.T
        p = p[:, :2] / p[:, 2:3]
        moved["box"] = [float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()),
                        float(p[:, 1].max())]  # fmt: skip
    if turn and item.get("start_angle") is not None:
        moved["start_angle"] = math.fmod(item["start_angle"] + turn, 360.0) % 360.0
    return out, moved
