"""Sub-degree needle direction from the pixels, around the model's estimate.

The heatmaps place the tip to a fraction of a heatmap cell, which is still a
degree or more on a small dial. The needle itself is a long, straight, high
contrast line, so its direction can be measured far more precisely: the
region around the needle is resampled so the needle is ~60 px long, then
straight lines at angles within a few degrees of the model's and at small
offsets beside its centre are averaged along their length. The needle is the
sharpest ridge (dark on a light face or light on a dark one) in that
(angle, offset) table, searched in luma and in each colour channel (a red
needle on a black face barely shows in luma). A line is then fitted through
the centres of the needle's cross-sections, counting only what is darker
(or lighter) than most of the ridge so a drop shadow beside the needle does
not pull it, and refitted along the new line until it stops turning. Searching
offsets too makes the result independent of small errors in the centre
keypoint. When no clear ridge is found the model's angle stands.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional, Tuple

import numpy as np

from edged.cvutil import import_cv2
from edged.pipelines.gauge.angles import angle_of, direction

__all__ = ["outer_line", "pointer_redness", "refine_needle_angle"]

NORM_LEN = 60.0  # needle length (px) after resampling
# how far from the model's angle the needle is searched; chosen on validation seeds: the
# model is more than 6 degrees off on ~1 % of dials, and those dominated the largest errors
SEARCH_DEG = 10.0
STEP_DEG = 0.5  # the axis fit refines below the step: 0.25 was no better (validation seeds)
OFFSET_STEP = 0.5
HALF_WIDTHS = (2.0, 3.5, 5.0)  # px, after resampling
MAX_HALF_WIDTH = 5.0
OFFSETS = np.arange(-10.0, 10.01, OFFSET_STEP)
ALONG = np.linspace(0.25, 0.8, 28)
MIN_CONTRAST = 10.0  # grey levels


def refine_needle_angle(
    image: np.ndarray, center: Tuple[float, float], tip: Tuple[float, float]
) -> Optional[Tuple[float, float]]:
    """``(angle_deg, contrast)`` of the needle line near centre->tip in image pixels, or None."""
    cx, cy = center
    length = math.hypot(tip[0] - cx, tip[1] - cy)
    if length < 5:
        return None
    window = _Resampled.around(image, center, length)
    if window is None:
        return None
    got = _search(window.small, window.ccx, window.ccy, angle_of(tip[0] - cx, tip[1] - cy))
    if got is None:
        return None
    angle, contrast = got
    # the angle in the resampled window equals the image angle only for equal x/y scales
    ddx, ddy = direction(angle)
    return angle_of(ddx / window.sx, ddy / window.sy), contrast


class _Resampled(NamedTuple):
    """A window of the picture around the pivot, resized so that a given length from the
    pivot is ``NORM_LEN`` px: the pivot's place in it and its x/y scales."""

    small: np.ndarray
    ccx: float
    ccy: float
    sx: float
    sy: float

    @classmethod
    def around(
        cls, image: np.ndarray, center: Tuple[float, float], length: float
    ) -> Optional[_Resampled]:
        """The window reaching ``length`` * 1.15 from ``center`` each way (cut at the
        picture's edges), float32; None where less than 4 px of it lie in the picture."""
        cv2 = import_cv2()
        cx, cy = center
        scale = NORM_LEN / length
        half = int(math.ceil(length * 1.15))
        x0, y0 = int(math.floor(cx)) - half, int(math.floor(cy)) - half
        h, w = image.shape[:2]
        xa, ya = max(0, x0), max(0, y0)
        xb, yb = min(w, x0 + 2 * half + 1), min(h, y0 + 2 * half + 1)
        if xb - xa < 4 or yb - ya < 4:
            return None
        window = image[ya:yb, xa:xb]
        size = (max(2, int(round((xb - xa) * scale))), max(2, int(round((yb - ya) * scale))))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        if window.ndim == 3 and window.shape[2] != 3:  # BGRA: drop alpha; one channel: grey
            window = window[..., :3] if window.shape[2] > 3 else window[..., 0]
        small = cv2.resize(window, size, interpolation=interp).astype(np.float32)
        sx, sy = size[0] / float(xb - xa), size[1] / float(yb - ya)
        return cls(small, (cx - xa) * sx, (cy - ya) * sy, sx, sy)


#: where along the radius a pointer shows and its tail does not (``outer_line``): a tail or
#: counterweight reaches 0.1-0.5 of the face radius behind the pivot, a pointer 0.6-0.95
OUTER = (0.5, 0.7)
OUTER_SAMPLES = 16
#: at least this many of them must lie in the picture (a dial cut by its edge: too few
#: left to tell a line by, and a cut edge is no line)
OUTER_SEEN = 12


def outer_line(
    image: np.ndarray, center: Tuple[float, float], angle_deg: float, radius: float
) -> Optional[float]:
    """How clearly a line runs from ``center`` along ``angle_deg`` (degrees clockwise from 12
    o'clock, in the picture) over the ``OUTER`` part of the face ``radius``: the contrast
    (grey levels) between a strip on the line and strips beside it, averaged along the line
    before its size is taken (noise and a numeral crossing the line average out, a line
    does not), in luma or the colour channel that shows it most, for a thin or a wide line.
    A pointer shows there, the tail on the pivot's other side does not
    (``reader._tail_check``). None where it cannot be told: fewer than ``OUTER_SEEN`` of the
    ``OUTER_SAMPLES`` places along the line lie in the picture (what lies outside is
    neither a line nor no line), or a face under 4 px."""
    cv2 = import_cv2()
    if radius < 4:
        return None
    window = _Resampled.around(image, center, radius)
    if window is None:
        return None
    small, ccx, ccy, sx, sy = window
    dx, dy = direction(angle_deg)
    ux, uy = dx * sx, dy * sy  # the direction and its normal in the resized window
    norm = math.hypot(ux, uy)
    ux, uy = ux / norm, uy / norm
    along = np.linspace(OUTER[0], OUTER[1], OUTER_SAMPLES) * NORM_LEN
    across = np.arange(-MAX_HALF_WIDTH - 1.0, MAX_HALF_WIDTH + 1.01, OFFSET_STEP)
    px = ccx + ux * along[:, None] - uy * across[None, :]
    py = ccy + uy * along[:, None] + ux * across[None, :]
    h, w = small.shape[:2]
    inside = ((px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)).all(axis=1)
    if inside.sum() < OUTER_SEEN:
        return None
    vals = cv2.remap(
        small, px[inside].astype(np.float32), py[inside].astype(np.float32), cv2.INTER_LINEAR
    )
    planes = vals @ PLANES.T if vals.ndim == 3 else vals[..., None]
    mid = len(across) // 2
    core = planes[:, mid - 1 : mid + 2].mean(axis=1)
    best = 0.0
    for half_px in HALF_WIDTHS:
        k = int(round(half_px / OFFSET_STEP))
        beside = 0.5 * (planes[:, mid - k] + planes[:, mid + k])
        best = max(best, float(np.abs((core - beside).mean(axis=0)).max()))
    return best


#: the planes a colour picture is searched in, as weights of its B, G, R channels: luma, and
#: each channel alone, where a red needle on a black face stands out three times as much as
#: in luma (grey contrast ~60, red channel ~190); the plane with the sharpest ridge wins
PLANES = np.array([[0.114, 0.587, 0.299], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
#: a single colour channel must show the needle this much sharper than luma to be used: luma
#: averages the channels' noise, so it measures black and white needles best (chosen on
#: validation seeds: mean error 0.79 -> 0.75 degrees, P95 1.77 -> 1.60)
CHANNEL_MARGIN = 1.2
PLANE_PREFERENCE = np.array([1.0] + [1.0 / CHANNEL_MARGIN] * 3, np.float32)


def _search(small: np.ndarray, ccx: float, ccy: float, a0: float) -> Optional[Tuple[float, float]]:
    """``(angle, contrast)`` of the sharpest ridge within SEARCH_DEG of ``a0`` in ``small``.

    The grid is sampled once for all channels; each plane's profile is a weighted sum of
    the channels' profiles (sampling and averaging are linear), so extra planes cost little.
    """
    cv2 = import_cv2()
    angles = a0 + np.arange(-SEARCH_DEG, SEARCH_DEG + 1e-6, STEP_DEG)
    rad = np.radians(angles)
    dx, dy = np.sin(rad), -np.cos(rad)  # along the needle
    nx, ny = -dy, dx  # across it
    s = ALONG * NORM_LEN
    # (angle, offset, along) sample grid
    px = ccx + dx[:, None, None] * s[None, None, :] + nx[:, None, None] * OFFSETS[None, :, None]
    py = ccy + dy[:, None, None] * s[None, None, :] + ny[:, None, None] * OFFSETS[None, :, None]
    na, no, ns = px.shape
    vals = cv2.remap(
        small,
        px.reshape(na * no, ns).astype(np.float32),
        py.reshape(na * no, ns).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    ).reshape(na * no, ns, -1)
    # the mean along each line, (angle, offset, channel); as a product: numpy's mean over a
    # middle axis is four times slower
    channels = (np.full(ns, 1.0 / ns, np.float32) @ vals).reshape(na, no, -1)
    planes, preference = PLANES, PLANE_PREFERENCE
    if channels.shape[2] != 3:
        planes, preference = np.ones((1, 1), np.float32), np.ones(1, np.float32)
    # ridge filters for thin and wide needles: the profile minus the mean of the profile
    # ``half`` px to either side, with the offset windows aligned across widths
    best: Optional[Tuple[float, float, int, int, int, int]] = None
    m = int(round(MAX_HALF_WIDTH / OFFSET_STEP))
    for p, weights in enumerate(planes):
        profile = channels @ weights
        for half_px in HALF_WIDTHS:
            k = int(round(half_px / OFFSET_STEP))
            for sign in (1.0, -1.0):
                r = sign * _ridge(profile, m, k)
                i, j = np.unravel_index(int(np.argmax(r)), r.shape)
                if best is None or r[i, j] * preference[p] > best[0]:
                    best = (float(r[i, j] * preference[p]), float(r[i, j]), int(i), int(j), k, p)
    assert best is not None
    _score, contrast, i, j, k, p = best
    if contrast < MIN_CONTRAST or i == 0 or i == na - 1:
        return None
    ridge = _ridge(channels @ planes[p], m, k)
    sign = 1.0 if ridge[i, j] > 0 else -1.0
    col = ridge[:, j] * sign
    lo, c, hi = col[i - 1], col[i], col[i + 1]
    den = lo - 2 * c + hi
    off = 0.0 if den >= 0 else float(np.clip(0.5 * (lo - hi) / den, -0.5, 0.5))
    angle = float(angles[i] + off * STEP_DEG)
    plane = small @ planes[p] if small.ndim == 3 else small
    ridge = _Ridge(plane, ccx, ccy, k * OFFSET_STEP, sign)
    fitted = _fit_axis(ridge, angle, float(OFFSETS[m + j]))
    if fitted is not None:
        angle = fitted
    return angle, contrast


def _ridge(profile: np.ndarray, m: int, k: int) -> np.ndarray:
    """The profile minus the mean of the profile ``k`` offsets to either side."""
    no = profile.shape[1]
    beside = profile[:, m - k : no - m - k] + profile[:, m + k : no - m + k]
    return profile[:, m:-m] - 0.5 * beside


FIT_ALONG = np.linspace(0.15, 0.85, 40)  # chosen on validation seeds, not the bench's
FIT_ROUNDS = 4
MAX_TURN = 5.0  # degrees the refits may walk from the grid's angle (chosen on validation seeds)
PEAK_FRACTION = 0.6  # chosen on validation seeds: mean error 0.97 -> 0.86 deg, median 0.39 -> 0.32


class _Ridge(NamedTuple):
    """The needle as the grid search found it: the plane it shows in, the pivot in that
    plane's pixels, its half-width and whether it is darker (-1) or lighter (+1)."""

    plane: np.ndarray
    ccx: float
    ccy: float
    half: float
    sign: float


def _fit_axis(ridge: _Ridge, angle: float, offset: float) -> Optional[float]:
    """The needle's axis, refitted from the line found until it stops turning.

    The grid search can settle on a wide dark band (a lance with its drop shadow) a few
    degrees off the needle; each refit samples the cross-sections along the last line, so
    the fit walks onto the needle. None when it does not settle or walks too far.
    """
    start = angle
    for _ in range(FIT_ROUNDS):
        line = _axis_line(ridge, angle, offset)
        if line is None:
            return None
        turn, offset = line
        angle += turn
        if abs(turn) < 0.05:
            break
    else:
        return None
    if abs(angle - start) > MAX_TURN:
        return None
    return angle


def _axis_line(ridge: _Ridge, angle: float, offset: float) -> Optional[Tuple[float, float]]:
    """The needle's axis fitted through its cross-section centres along its length.

    The grid search gives the angle to a fraction of its step; the centroid of the
    needle's cross-section at 40 points along it, and a weighted line through them,
    measures the direction without a grid. Cross-sections where the needle is weak
    (glare, the hub, a crossing tick) are left out. Returns the line's turn from ``angle``
    (degrees) and its offset at the pivot, or None when too few cross-sections remain.
    """
    cv2 = import_cv2()
    small, ccx, ccy, half, sign = ridge
    dx, dy = direction(angle)
    nx, ny = -dy, dx  # d(direction)/d(angle): a positive slope turns the angle up
    span = 2.0 * half
    u = offset + np.arange(-span, span + 1e-6, 0.25)
    s = FIT_ALONG * NORM_LEN
    px = ccx + dx * s[:, None] + nx * u[None, :]
    py = ccy + dy * s[:, None] + ny * u[None, :]
    vals = sign * cv2.remap(
        small,
        px.astype(np.float32),
        py.astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    edge = max(1, len(u) // 5)
    base = 0.5 * (vals[:, :edge].mean(axis=1) + vals[:, -edge:].mean(axis=1))
    inner = np.abs(u - offset) <= 1.5 * half + 0.25
    r = np.clip(vals - base[:, None], 0, None) * inner[None, :]
    strength = r.max(axis=1)
    mass = r.sum(axis=1)
    ok = (strength >= max(MIN_CONTRAST * 0.5, 0.5 * float(np.median(strength)))) & (mass > 0)
    if ok.sum() < 8:
        return None
    # only the part of each cross-section above PEAK_FRACTION of its peak: the needle's
    # own body, not the fainter drop shadow beside it, which would pull the centroid
    # (and, on a tapered needle, the slope) toward the shadow's side
    core = np.clip(r[ok] - PEAK_FRACTION * strength[ok][:, None], 0, None)
    centre = (core * u[None, :]).sum(axis=1) / np.maximum(core.sum(axis=1), 1e-9)
    ss, w = s[ok], strength[ok]
    for _ in range(2):
        slope, icept = np.polyfit(ss, centre, 1, w=w)
        resid = np.abs(centre - (icept + slope * ss))
        keep = resid < max(0.75, 2.5 * float(np.median(resid)))
        if keep.sum() < 8:
            return None
        ss, centre, w = ss[keep], centre[keep], w[keep]
    slope, icept = np.polyfit(ss, centre, 1, w=w)
    return math.degrees(math.atan(float(slope))), float(icept)


def pointer_redness(
    image: np.ndarray, center: Tuple[float, float], angle_deg: float, length: float
) -> float:
    """How red the pointer from ``center`` along ``angle_deg`` is: the red channel minus the
    larger of green and blue, averaged along its middle (0 for black, white and grey; ~180 for
    a clean red pointer; 0 for a grey picture). Sampled along the measured direction: a
    pointer is only a few pixels wide, and a keypoint a few degrees off misses it."""
    if image.ndim != 3 or image.shape[2] < 3:
        return 0.0
    f = np.linspace(0.35, 0.8, 24) * length
    dx, dy = direction(angle_deg)
    h, w = image.shape[:2]
    xs = np.clip(np.round(center[0] + f * dx).astype(int), 0, w - 1)
    ys = np.clip(np.round(center[1] + f * dy).astype(int), 0, h - 1)
    bgr = image[ys, xs, :3].astype(np.float32).mean(axis=0)
    return float(bgr[2] - max(bgr[0], bgr[1]))
