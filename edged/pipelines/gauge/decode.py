"""Model outputs -> gauges: sub-pixel peaks, PAF grouping, needle angle, rim ellipse.

The same steps as trt_pose's parse (find peaks, refine, score links by the part
affinity field, assign greedily) in plain numpy, for a 5-keypoint star
topology around each dial's centre. Coordinates come back in the model input's
pixels; callers map them to the original image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from edged.pipelines.gauge.angles import angle_between, angle_of, direction
from edged.pipelines.gauge.model import LINKS, STRIDE
from edged.pipelines.gauge.reading import (
    GaugeReading,
    Scale,
    angle_to_fraction,
    axis_ratio,
    circle_transform,
    fit_ellipse,
    scale_from_keypoints,
    snap_sweep,
)
from edged.pipelines.gauge.scale_direction import (
    ScaleArc,
    ccw_from_larger_first,
    first_end,
    orient_scale,
)
from edged.pipelines.gauge.synth import KEYPOINTS

__all__ = ["Detection", "decode", "find_peaks", "keypoint_arc", "read_detection"]

PEAK_THRESHOLD = 0.2
LINK_THRESHOLD = 0.25
#: a needle tip weaker than this is taken as hidden (glare, an occluder): ``unreadable``, no
#: value. Chosen for the bundled model on validation seeds (not the benchmark's): the highest
#: value that keeps no-reads of readable dials under 1.5 % there (1.4 %); it says
#: ``unreadable`` for 58 % of the dials whose needle is washed out.
HIDDEN_TIP_SCORE = 0.48
FAINT_TIP = "the needle's tip is too faint to trust (glare or something in front of it?)"
CONFIGURE_SCALE = "configure start_angle/sweep (edged read-gauge: --start-angle/--sweep)"
FAINT_UNTIL_WIDENED = "the needle's tip was faint until its thin lines were widened"
#: a tip fainter than ``HIDDEN_TIP_SCORE`` is read all the same (``low_confidence``) where the
#: pixels show its needle clearly: a line at least this many grey levels darker or lighter
#: than the face beside it (``needle.refine_needle_angle``'s contrast), within
#: ``CLEAR_LINE_DEG`` of the model's direction, with no second needle-like pointer, pointing
#: inside the scale. The model's tip score says how sure it is of the tip; a washed-out
#: needle shows no such line. Chosen on validation renders (seeds 8e12 + i, 3,000): of the
#: 85 readable dials whose tip scored under 0.48, the 12 passing read 0.05-1.39 % of span
#: off; with a line under 90 grey levels up to 10 %, beside a rival or more than 5 degrees
#: from the model's direction up to 66 % (bench/results/gauge.md, session 22)
CLEAR_LINE_CONTRAST = 90.0
CLEAR_LINE_DEG = 5.0
FAINT_TIP_CLEAR_LINE = (
    "faint tip, read on the needle's line (the model barely sees the tip; the pixels show "
    "the needle clearly)"
)
#: a keypoint (x, y, score) -> its offset from the pivot in the dial's corrected frame
Corrector = Callable[[Tuple[float, float, float]], Tuple[float, float]]
RIVAL_RATIO = 0.5  # a second needle this strong relative to the chosen one: low_confidence
#: with the scale from the model (no configured start_angle/sweep), a ``quarter`` keypoint
#: further than this share of the span from the 25 % point of the scale that ``start`` and
#: ``end`` make: the scale is in doubt and the reading never ``ok`` (a share of the span, as
#: the reading's error is: 5.4 degrees on a 90-degree panel scale). On validation renders
#: (training styles, seeds 9e12 + i, 2,000 pictures) the 7.3 % of ``ok`` readings beyond it
#: read 12.7 % of span off (median 5.8 %, 54 % of them more than 5 % off); session 12
QUARTER_TOLERANCE = 0.06
#: further than this, the three scale keypoints contradict one another too much to read on:
#: ``unreadable`` (the needle's direction kept, ``scale_contradicts`` in its ``extra``: a
#: second opinion weighs it as an unsure reading). Given only min and max, the keypoint
#: readings beyond it were grossly off on renders and real photos alike: 2,000 held-out
#: renders (seeds 7e12 + i), 58 readings, median 12-29 % of span by bin; the real panel
#: meters and pressure gauge under twelve camera looks, 36, median 21-51 % (session 16). A
#: scale the direction model turns round is checked as turned (its quarter then fits at 75 %)
QUARTER_UNREADABLE = 0.12
#: the scale of round pressure gauges (EN 837-1: a 270-degree arc, its ends symmetric about
#: 6 o'clock): where the keypoints' scale contradicts itself (``QUARTER_TOLERANCE``, or a
#: full circle: an end placed beside the start) but ``quarter`` and one of ``start`` and
#: ``end`` lie within ``STANDARD_FIT_DEG`` of where this scale puts them, the other end is
#: the odd one out and the reading goes on on this scale, ``low_confidence``. On 1,000
#: validation renders (seeds 9e12 + i) 1 of the 89 contradicting scales fits it (the renders
#: draw every sweep alike; real pressure gauges mostly have this one); the real dual-scale
#: pressure gauge's `end` lands beside its `start` (session 20)
STANDARD_SCALE = (225.0, 270.0)
#: where ``STANDARD_SCALE`` puts the scale keypoints (degrees, the corrected dial frame)
STANDARD_POINTS = {"start": 225.0, "quarter": 225.0 + 0.25 * 270.0, "end": 225.0 + 270.0}
STANDARD_FIT_DEG = 10.0
STANDARD_SCALE_READ = (
    "read on the standard 270-degree scale (the model's own contradicts itself, two of its "
    "three points fit the standard's): " + CONFIGURE_SCALE
)


@dataclass
class Detection:
    """One dial found in a model output (coordinates in input pixels)."""

    keypoints: Dict[str, Tuple[float, float, float]]  # name -> (x, y, score)
    link_scores: Dict[str, float]
    needle_paf_angle: Optional[float] = None
    needle_paf_score: float = 0.0
    ellipse: Optional[Tuple[np.ndarray, np.ndarray]] = None  # (centre, M) of the rim
    rim_points: int = 0
    extra: Dict[str, float] = field(default_factory=dict)
    #: needle direction measured in the picture's pixels (``needle.refine_needle_angle``)
    needle_pixel_angle: Optional[float] = None
    #: the strongest second needle-like tip ``(x, y, score)``; its strength relative to the
    #: chosen tip is ``extra["rival_tip"]``
    rival_tip: Optional[Tuple[float, float, float]] = None
    #: where the model's tip was when the reader took it for a red drag pointer and read the
    #: rival as the needle instead ``(x, y, score)``, and that pointer's measured direction
    drag_pointer: Optional[Tuple[float, float, float]] = None
    drag_pointer_angle: Optional[float] = None

    @property
    def center(self) -> Tuple[float, float]:
        c = self.keypoints["center"]
        return c[0], c[1]

    def radius(self) -> float:
        """The face radius estimate (input pixels): rim ellipse major axis, else keypoint spread."""
        if self.ellipse is not None:
            vals = np.linalg.eigvalsh(self.ellipse[1])
            return float(1.0 / math.sqrt(vals[0]))
        cx, cy = self.center
        d = [math.hypot(p[0] - cx, p[1] - cy) for n, p in self.keypoints.items() if n != "center"]
        return max(d) / 0.75 if d else 0.0

    def transformed(self, scale: float, dx: float, dy: float) -> Detection:
        """The same detection in another frame: ``p' = p * scale + (dx, dy)``."""
        kps = {k: (v[0] * scale + dx, v[1] * scale + dy, v[2]) for k, v in self.keypoints.items()}
        ell = None
        if self.ellipse is not None:
            c, m = self.ellipse
            ell = (c * scale + np.array([dx, dy]), m / (scale * scale))
        return Detection(
            kps,
            dict(self.link_scores),
            self.needle_paf_angle,
            self.needle_paf_score,
            ell,
            self.rim_points,
            dict(self.extra),
            self.needle_pixel_angle,
            _moved(self.rival_tip, scale, dx, dy),
            _moved(self.drag_pointer, scale, dx, dy),
            self.drag_pointer_angle,
        )


def _moved(
    p: Optional[Tuple[float, float, float]], scale: float, dx: float, dy: float
) -> Optional[Tuple[float, float, float]]:
    return None if p is None else (p[0] * scale + dx, p[1] * scale + dy, p[2])


def find_peaks(
    heat: np.ndarray, threshold: float = PEAK_THRESHOLD, max_peaks: int = 16
) -> List[Tuple[float, float, float]]:
    """Local maxima (3x3) above ``threshold`` as ``(x, y, value)`` in heatmap cells, refined
    to sub-cell precision by a Gaussian (log-parabola) fit through each peak's neighbours."""
    h, w = heat.shape
    pad = np.pad(heat, 1, mode="constant", constant_values=-np.inf)
    # ties (plateaus) go to the first cell in raster order: strictly above the neighbours
    # before it, at least equal to those after it
    before = np.max(
        np.stack([pad[0:h, 0:w], pad[0:h, 1 : w + 1], pad[0:h, 2 : w + 2], pad[1 : h + 1, 0:w]]), 0
    )
    after = np.max(
        np.stack(
            [
                pad[1 : h + 1, 2 : w + 2],
                pad[2 : h + 2, 0:w],
                pad[2 : h + 2, 1 : w + 1],
                pad[2 : h + 2, 2 : w + 2],
            ]
        ),
        0,
    )
    ys, xs = np.nonzero((heat > threshold) & (heat > before) & (heat >= after))
    order = np.argsort(-heat[ys, xs])[:max_peaks]
    peaks = []
    for i in order:
        y, x = int(ys[i]), int(xs[i])
        peaks.append((x + _offset(heat, y, x, 0), y + _offset(heat, y, x, 1), float(heat[y, x])))
    return peaks


def _offset(heat: np.ndarray, y: int, x: int, axis: int) -> float:
    h, w = heat.shape
    if axis == 0:
        if x == 0 or x == w - 1:
            return 0.0
        lo, c, hi = heat[y, x - 1], heat[y, x], heat[y, x + 1]
    else:
        if y == 0 or y == h - 1:
            return 0.0
        lo, c, hi = heat[y - 1, x], heat[y, x], heat[y + 1, x]
    eps = 1e-3
    if min(lo, c, hi) > eps:
        a, b, d = math.log(lo), math.log(c), math.log(hi)
    else:
        a, b, d = float(lo), float(c), float(hi)
    den = a - 2 * b + d
    if den >= -1e-9:
        return 0.0
    return float(np.clip(0.5 * (a - d) / den, -0.5, 0.5))


def _sample(
    field_x: np.ndarray, field_y: np.ndarray, xs: np.ndarray, ys: np.ndarray
) -> Tuple[np.ndarray, np.ndarray]:
    """Bilinear samples of a 2-channel field at cell coordinates (xs, ys)."""
    h, w = field_x.shape
    xs = np.clip(xs, 0, w - 1.001)
    ys = np.clip(ys, 0, h - 1.001)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0

    def bil(f: np.ndarray) -> np.ndarray:
        return (
            f[y0, x0] * (1 - fx) * (1 - fy)
            + f[y0, x0 + 1] * fx * (1 - fy)
            + f[y0 + 1, x0] * (1 - fx) * fy
            + f[y0 + 1, x0 + 1] * fx * fy
        )

    return bil(field_x), bil(field_y)


def _link_score(
    paf_x: np.ndarray, paf_y: np.ndarray, a: Tuple[float, float], b: Tuple[float, float], n: int = 9
) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy)
    if length < 1e-6:
        return 0.0
    t = np.linspace(0.1, 0.9, n)
    vx, vy = _sample(paf_x, paf_y, a[0] + dx * t, a[1] + dy * t)
    return float(np.mean((vx * dx + vy * dy) / length))


def _paf_angle(
    paf_x: np.ndarray, paf_y: np.ndarray, a: Tuple[float, float], b: Tuple[float, float]
) -> Tuple[Optional[float], float]:
    """Needle direction from the centre->tip field averaged along the needle."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy)
    if length < 1.5:
        return None, 0.0
    t = np.linspace(0.15, 0.95, max(5, int(length * 2)))
    vx, vy = _sample(paf_x, paf_y, a[0] + dx * t, a[1] + dy * t)
    sx, sy = float(vx.sum()), float(vy.sum())
    mag = math.hypot(sx, sy) / len(t)
    return angle_of(sx, sy), mag


def decode(cmap: np.ndarray, paf: np.ndarray, stride: int = STRIDE) -> List[Detection]:
    """All dials in one output ``cmap`` (6,H,W), ``paf`` (8,H,W); coordinates in input pixels."""
    peaks = [find_peaks(cmap[k]) for k in range(len(KEYPOINTS))]
    centres = peaks[0]
    dets: List[Detection] = []
    for c in centres:
        dets.append(Detection({"center": c}, {}))
    # greedy assignment per link, best PAF score first
    for li, (_a, b) in enumerate(LINKS):
        name = KEYPOINTS[b]
        px, py = paf[2 * li], paf[2 * li + 1]
        cands = []
        for di, c in enumerate(centres):
            for pi, p in enumerate(peaks[b]):
                s = _link_score(px, py, (c[0], c[1]), (p[0], p[1]))
                if s > LINK_THRESHOLD:
                    cands.append((s, di, pi))
        cands.sort(reverse=True)
        used_d, used_p = set(), set()
        for s, di, pi in cands:
            if di in used_d or pi in used_p:
                continue
            used_d.add(di)
            used_p.add(pi)
            dets[di].keypoints[name] = peaks[b][pi]
            dets[di].link_scores[name] = s
        if name == "tip":
            _mark_rival_needles(dets, centres, peaks[b], cands)
    # needle direction from the PAF, rim ellipse from the ring channel
    ring = cmap[5]
    rys, rxs = np.nonzero(ring > 0.35)
    rw = ring[rys, rxs]
    for d in dets:
        cx, cy = d.center
        if "tip" in d.keypoints:
            t = d.keypoints["tip"]
            d.needle_paf_angle, d.needle_paf_score = _paf_angle(
                paf[0], paf[1], (cx, cy), (t[0], t[1])
            )
        r0 = d.radius()
        if len(rxs) >= 8 and r0 > 0:
            dist = np.hypot(rxs - cx, rys - cy)
            sel = (dist > 0.5 * r0) & (dist < 1.7 * r0)
            # keep the rim of this dial only: along each ray its rim is the nearest ring
            # (a neighbour's lies farther out), so per 16th of a turn keep the pixels near
            # the bin's nearest one
            bins = (np.floor((np.arctan2(rys - cy, rxs - cx) + math.pi) / (math.pi / 8))).astype(
                int
            ) % 16
            for b in np.unique(bins[sel]):
                inb = sel & (bins == b)
                sel &= ~inb | (dist <= dist[inb].min() * 1.15 + 0.5)
            if sel.sum() >= 8:
                ell = _robust_ellipse(rxs[sel], rys[sel], rw[sel], (cx, cy))
                if ell is not None:
                    d.ellipse = ell
                    d.rim_points = int(sel.sum())
    # to input pixels: cell (i, j) is centred on ((j + 0.5) * stride, (i + 0.5) * stride)
    return [d.transformed(float(stride), stride * 0.5, stride * 0.5) for d in dets]


def _mark_rival_needles(
    dets: List[Detection],
    centres: List[Tuple[float, float, float]],
    tips: List[Tuple[float, float, float]],
    cands: List[Tuple[float, int, int]],
) -> None:
    """Flag dials with a second needle-like candidate almost as strong as the chosen tip (a drag
    pointer, a tail, a shadow): ``extra["rival_tip"]`` = its strength relative to the tip's."""
    for s, di, pi in cands:
        det = dets[di]
        chosen = det.keypoints.get("tip")
        if chosen is None or tips[pi] is chosen:
            continue
        c = centres[di]
        a0 = angle_of(chosen[0] - c[0], chosen[1] - c[1])
        a1 = angle_of(tips[pi][0] - c[0], tips[pi][1] - c[1])
        if angle_between(a1, a0) < 10.0:
            continue
        rel = float((s * tips[pi][2]) / max(1e-6, det.link_scores["tip"] * chosen[2]))
        if rel > det.extra.get("rival_tip", 0.0):
            det.extra["rival_tip"] = rel
            det.rival_tip = tips[pi]


def _robust_ellipse(
    xs: np.ndarray, ys: np.ndarray, w: np.ndarray, centre: Tuple[float, float]
) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    pts = np.stack([xs, ys], 1).astype(np.float64)
    # the ring must surround the centre: need points on most sides
    ang = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    if len(np.unique(np.floor((ang + math.pi) / (math.pi / 4)))) < 5:
        return None
    keep = np.ones(len(pts), bool)
    ell = None
    for _ in range(3):
        if keep.sum() < 8:
            return None
        ell = fit_ellipse(pts[keep], w[keep])
        if ell is None:
            return None
        c, m = ell
        q = pts - c
        r = np.sqrt(np.einsum("ni,ij,nj->n", q, m, q))
        keep = np.abs(r - 1) < 0.12
    if ell is None:
        return None
    c, m = ell
    if (
        axis_ratio(m) < 0.45
        or math.hypot(c[0] - centre[0], c[1] - centre[1]) * math.sqrt(np.linalg.eigvalsh(m)[0])
        > 0.35
    ):
        return None
    return ell


def read_detection(
    det: Detection,
    min_value: float,
    max_value: float,
    start_angle: Optional[float] = None,
    sweep: Optional[float] = None,
    table: Optional[List[Tuple[float, float]]] = None,
    correct_perspective: bool = True,
    use_paf: bool = True,
    use_pixels: bool = True,
    snap: bool = True,
    min_confidence: float = 0.4,
    range_tolerance_deg: float = 4.0,
) -> GaugeReading:
    """A reading from one detection (image coordinates), using the configured scale where given."""
    kps = {k: [float(v[0]), float(v[1]), float(v[2])] for k, v in det.keypoints.items()}
    if "tip" not in det.keypoints:
        return _unreadable(det, kps, 0.0, "no needle found")
    faint = det.keypoints["tip"][2] < HIDDEN_TIP_SCORE
    if faint and not (use_pixels and clear_line(det)):
        return _unreadable(det, kps, det.keypoints["tip"][2], FAINT_TIP)
    a, corr = _corrector(det, correct_perspective)
    tip = det.keypoints["tip"]
    tx, ty = corr(tip)
    angle = angle_of(tx, ty)
    if use_pixels and det.needle_pixel_angle is not None:
        angle = _dial_direction(a, det.needle_pixel_angle)
    elif use_paf and det.needle_paf_angle is not None and det.needle_paf_score > 0.5:
        # the field's direction, corrected the same way, averaged with the keypoint's
        paf_angle = _dial_direction(a, det.needle_paf_angle)
        diff = (paf_angle - angle + 180.0) % 360.0 - 180.0
        if abs(diff) < 10:
            angle = (angle + 0.5 * diff) % 360.0
    scale_confidence = 1.0
    standard = False  # read on STANDARD_SCALE, the keypoints' own contradicting itself
    quarter_off: Optional[float] = None
    contradiction = 0.0  # how far the scale keypoints disagree, as the scale is read
    if start_angle is not None and sweep is not None:
        # configured angles are in the (corrected) dial frame, with 12 o'clock up in the picture
        s_angle, s_sweep = float(start_angle), float(sweep)
    elif "start" in det.keypoints and "end" in det.keypoints:
        s_angle, s_sweep = _keypoint_scale(det, corr, snap)
        # the keypoints checked with one another before a direction model turns the scale
        # round (QUARTER_TOLERANCE: turned, their quarter would sit at 75 %); whether they
        # contradict the scale read on (QUARTER_UNREADABLE), as turned
        quarter_off = _quarter_offset(det, corr, s_angle, s_sweep)
        contradiction = abs(quarter_off or 0.0)
        turned_round = False
        if "scale_larger_first" in det.extra:  # the direction model read the numbers
            ccw = ccw_from_larger_first(det.extra["scale_larger_first"], min_value, max_value)
            if ccw is not None:
                turned = _oriented(kps, s_angle, s_sweep, ccw)
                if (turned[1] > 0) != (s_sweep > 0):  # turned round: a quarter at 75 % fits
                    contradiction = min(contradiction, abs((quarter_off or 0.0) - 0.5))
                    turned_round = True
                s_angle, s_sweep = turned
        scale_confidence = min(1.0, det.keypoints["start"][2] / 0.5, det.keypoints["end"][2] / 0.5)
        # in doubt (or a full circle whose quarter is not at 90 degrees: an end placed beside
        # the start) and not turned round by the direction model: the standard scale?
        doubted = contradiction > QUARTER_TOLERANCE or abs(s_sweep) >= 360.0
        if doubted and not turned_round and _fits_standard(det, corr):
            s_angle, s_sweep = STANDARD_SCALE
            standard, contradiction = True, 0.0
            _place_standard_ends(kps, det, a, corr)
    else:
        why = f"the needle found, no scale seen: {CONFIGURE_SCALE}"
        return _needle_only(det, kps, _confidence(det, tip), a, angle, why)
    if contradiction > QUARTER_UNREADABLE:
        why = (
            f"the model's scale contradicts itself (its quarter point lies "
            f"{contradiction * 100:.0f} % of the span off): {CONFIGURE_SCALE}"
        )
        reading = _needle_only(det, kps, _confidence(det, tip) * scale_confidence, a, angle, why)
        reading.extra.update(quarter_off=round(quarter_off, 4), scale_contradicts=True)
        return reading
    scale = Scale(s_angle, s_sweep, min_value, max_value, table)
    two_needles = det.extra.get("rival_tip", 0.0) >= RIVAL_RATIO
    if det.drag_pointer is not None:
        # the reader read the rival as the needle, taking the model's choice for a red drag
        # pointer; that holds only if the drag pointer rests beyond the needle on the scale
        drag = angle_of(*corr(det.drag_pointer))
        if use_pixels and det.drag_pointer_angle is not None:
            drag = _dial_direction(a, det.drag_pointer_angle)
        if _rests_beyond(scale, drag, angle):
            two_needles = False  # told apart: a red drag pointer pushed beyond the needle
        else:  # not borne out: the model's choice stands, one of two look-alike pointers
            angle, tip, two_needles = drag, det.drag_pointer, True
            kps["tip"] = [float(v) for v in tip]
            if tip[2] < HIDDEN_TIP_SCORE:
                return _unreadable(det, kps, tip[2], FAINT_TIP)
    confidence = _confidence(det, tip) * scale_confidence
    fraction, in_range = scale.angle_to_fraction(angle, range_tolerance_deg)
    value = scale.value_of_fraction(fraction)
    if two_needles:
        # two needles, nearly as likely: which one is real is a guess
        confidence *= 0.5
    quality, why = "ok", None
    if faint and not in_range:  # (a faint tip off the scale: more likely no needle at all)
        return _unreadable(det, kps, tip[2], FAINT_TIP)
    if not in_range and not standard:  # (off an assumed scale is no reading of a pegged dial)
        quality, why = "out_of_range", "the needle points outside the scale"
    elif two_needles:
        why = "two needle-like pointers: which is the needle is a guess"
        if det.extra.get("tail_taken_for_tip"):
            why = "a pointer and a thick tail: the one that reaches the scale was read"
        quality = "low_confidence"
    elif det.extra.get("needle_unseen"):
        quality, why = "low_confidence", "the model sees a needle the pixels do not show"
    elif det.extra.get("faint_tip_widened"):
        quality, why = "low_confidence", FAINT_UNTIL_WIDENED
    elif faint:
        quality, why = "low_confidence", FAINT_TIP_CLEAR_LINE
    elif standard:
        quality, why = "low_confidence", STANDARD_SCALE_READ
    elif confidence < min_confidence:
        quality, why = "low_confidence", "the model is unsure of the needle or the scale"
    elif quarter_off is not None and abs(quarter_off) > QUARTER_TOLERANCE:
        # the model's scale disagrees with itself
        quality, why = "low_confidence", f"the model's scale is in doubt: {CONFIGURE_SCALE}"
    reading = GaugeReading(
        value,
        confidence,
        quality,
        angle,
        kps,
        start_angle=s_angle,
        sweep=s_sweep,
        fraction=fraction,
        radius=det.radius(),
    )
    if quarter_off is not None:  # (against the keypoints' own scale)
        reading.extra["quarter_off"] = round(quarter_off, 4)
    if standard:
        reading.extra["standard_scale"] = True
    if why is not None:
        reading.extra["why"] = why
    reading.extra["needle_picture_angle"] = _picture_direction(a, angle)
    if det.ellipse is None and (start_angle is None or sweep is None):
        # the keypoints' own scale on a dial without a round rim (a panel meter): nothing
        # corrects its view or checks its ends against a round face, so ``reader: auto``
        # asks the panel model even of an ``ok`` reading (a configured scale needs only the
        # needle, which the pixels measure: not asked)
        reading.extra["rimless_scale"] = True
    return reading


def _fits_standard(det: Detection, corr: Corrector) -> bool:
    """Whether the ``quarter`` keypoint and ``start`` or ``end`` lie within
    ``STANDARD_FIT_DEG`` of where ``STANDARD_SCALE`` puts them (corrected frame). The quarter
    must: it says which way the scale runs, and the two ends alone fit a counter-clockwise
    scale whose ends the model swapped as well."""
    near = {
        name
        for name, angle in STANDARD_POINTS.items()
        if name in det.keypoints
        and angle_between(angle_of(*corr(det.keypoints[name])), angle) <= STANDARD_FIT_DEG
    }
    return "quarter" in near and len(near) >= 2


def _place_standard_ends(
    kps: Dict[str, List[float]], det: Detection, a: np.ndarray, corr: Corrector
) -> None:
    """The reported ``start`` and ``end`` keypoints (the message's ``scale_start`` and
    ``scale_end``, the overlay) moved to the standard scale's ends, at the ``quarter``'s
    distance from the pivot, so they show the scale the value was read on."""
    radius = math.hypot(*corr(det.keypoints["quarter"]))
    inverse = np.linalg.inv(a)
    for name in ("start", "end"):
        x, y = inverse @ (radius * np.array(direction(STANDARD_POINTS[name])))
        kps[name] = [det.center[0] + float(x), det.center[1] + float(y), kps[name][2]]


def _quarter_offset(
    det: Detection, corr: Corrector, s_angle: float, s_sweep: float
) -> Optional[float]:
    """How far (a share of the span, signed) the ``quarter`` keypoint lies from the 25 % point
    of the scale ``start``/``end`` make (as snapped, the scale the value is read on): the
    model's three scale keypoints checking one another. Its position is checked, not its
    score (the scores of ``start`` and ``end`` already weigh in the confidence). None without
    a quarter keypoint: there is nothing to check, and the scale is taken clockwise."""
    if "quarter" not in det.keypoints:
        return None
    fraction, _ = angle_to_fraction(angle_of(*corr(det.keypoints["quarter"])), s_angle, s_sweep)
    return fraction - 0.25


def _keypoint_scale(det: Detection, corr: Corrector, snap: bool) -> Tuple[float, float]:
    """``(start_angle, sweep)`` from the scale's keypoints, seen through ``corr`` (offsets from
    the pivot in the corrected frame), snapped to a standard sweep with ``snap``."""
    q = det.keypoints.get("quarter")
    s_angle, s_sweep = scale_from_keypoints(
        (0.0, 0.0),
        corr(det.keypoints["start"]),
        corr(det.keypoints["end"]),
        corr(q) if q else None,
    )
    if snap:
        s_angle, s_sweep = snap_sweep(s_angle, s_sweep)
    return s_angle, s_sweep


def _oriented(
    kps: Dict[str, List[float]], start_angle: float, sweep: float, ccw: float
) -> Tuple[float, float]:
    """``orient_scale``; where it turns the scale round, the reported ``start`` and ``end``
    keypoints swap places too (the message's ``scale_start``/``scale_end``, the overlay) and
    the ``quarter`` point, which sat a quarter from the wrong end, is dropped."""
    turned = orient_scale(start_angle, sweep, ccw)
    if (turned[1] > 0) != (sweep > 0):
        kps["start"], kps["end"] = kps["end"], kps["start"]
        kps.pop("quarter", None)
    return turned


def keypoint_arc(
    det: Detection, correct_perspective: bool = True, snap: bool = True
) -> Optional[ScaleArc]:
    """The scale's arc as ``read_detection`` places it from the keypoints (the direction
    model's input), or None without both ends or for a full circle."""
    if "start" not in det.keypoints or "end" not in det.keypoints:
        return None
    a, corr = _corrector(det, correct_perspective)
    s_angle, s_sweep = _keypoint_scale(det, corr, snap)
    if abs(s_sweep) >= 360.0:
        return None
    radius = 0.5 * sum(math.hypot(*corr(det.keypoints[k])) for k in ("start", "end"))
    first = first_end(s_angle, s_sweep)
    return ScaleArc(det.center, np.linalg.inv(a), first, abs(s_sweep), radius)


def _corrector(det: Detection, correct_perspective: bool) -> Tuple[np.ndarray, Corrector]:
    """The rim's circle transform ``a`` (identity without a rim or correction) and the map
    from a keypoint to its offset from the pivot in the corrected dial frame."""
    cx, cy = det.center
    a = np.eye(2)
    if correct_perspective and det.ellipse is not None:
        a = circle_transform(det.ellipse[1])

    def corr(p: Tuple[float, float, float]) -> Tuple[float, float]:
        q = a @ np.array([p[0] - cx, p[1] - cy])
        return float(q[0]), float(q[1])

    return a, corr


def clear_line(det: Detection) -> bool:
    """Whether the pixels show the needle of a tip the model scores faint clearly enough to
    read it (``CLEAR_LINE_CONTRAST``, ``CLEAR_LINE_DEG``, no rival needle)."""
    if det.needle_pixel_angle is None or det.extra.get("rival_tip", 0.0) >= RIVAL_RATIO:
        return False
    if det.extra.get("needle_contrast", 0.0) < CLEAR_LINE_CONTRAST:
        return False
    t, (cx, cy) = det.keypoints["tip"], det.center
    model = angle_of(t[0] - cx, t[1] - cy)
    return angle_between(model, det.needle_pixel_angle) <= CLEAR_LINE_DEG


def _unreadable(
    det: Detection,
    kps: Dict[str, List[float]],
    confidence: float,
    why: str,
    angle: Optional[float] = None,
) -> GaugeReading:
    """No value: no needle, a needle too faint to trust, or no scale to read it against
    (``why``, for a person reading the output)."""
    reading = GaugeReading(None, float(confidence), "unreadable", angle, kps, radius=det.radius())
    reading.extra["why"] = why
    return reading


def _needle_only(
    det: Detection,
    kps: Dict[str, List[float]],
    confidence: float,
    a: np.ndarray,
    angle: float,
    why: str,
) -> GaugeReading:
    """``unreadable``: a needle found (``angle`` in the dial's corrected frame, ``a`` its
    rim's transform) but no scale to read it on; the needle as the picture shows it too, for
    a second opinion to compare (``pointer_reader.second_opinion``)."""
    reading = _unreadable(det, kps, confidence, why, angle)
    reading.extra["needle_picture_angle"] = _picture_direction(a, angle)
    return reading


def _confidence(det: Detection, tip: Tuple[float, float, float]) -> float:
    """The model's confidence in a dial's centre, needle tip and the link between them."""
    c = float(min(det.keypoints["center"][2], tip[2], 1.0))
    return c * float(min(1.0, max(0.0, det.link_scores.get("tip", 0.0)) / 0.8))


def _dial_direction(a: np.ndarray, picture_angle: float) -> float:
    """A direction measured in the picture, in the dial's own (perspective-corrected) frame."""
    d = math.radians(picture_angle)
    v = a @ np.array([math.sin(d), -math.cos(d)])
    return angle_of(float(v[0]), float(v[1]))


def _picture_direction(a: np.ndarray, dial_angle: float) -> float:
    """A direction in the dial's corrected frame as the picture shows it (``_dial_direction``
    undone): what another model, which sees the picture as it is, would measure."""
    d = math.radians(dial_angle)
    v = np.linalg.solve(a, np.array([math.sin(d), -math.cos(d)]))
    return angle_of(float(v[0]), float(v[1]))


def _rests_beyond(scale: Scale, drag: float, needle: float, slack: float = 0.01) -> bool:
    """Whether a drag pointer at ``drag`` lies at or beyond the needle at ``needle`` on a
    scale with ends (a full-circle dial has no "beyond")."""
    if abs(scale.sweep) >= 360.0:
        return False
    return scale.angle_to_fraction(drag)[0] >= scale.angle_to_fraction(needle)[0] - slack
