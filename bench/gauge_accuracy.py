"""Gauge reading accuracy on held-out synthetic gauges (held-out seeds and held-out styles).

    python bench/gauge_accuracy.py --n 2000 [--model weights/gauge_kp_w32.onnx]
    python bench/gauge_accuracy.py --photos DIR [--scale-given]   # labelled real photos
    python bench/gauge_accuracy.py --subdials --n 2000   # the pointer model, sub-dial crops
    python bench/gauge_accuracy.py --panels --n 2000 [--scale-given]  # the panel model

Every picture is rendered with full degradations from a seed outside the
training range and only from styles the training never draws
(``synth.is_heldout``). The reader gets the gauge's min/max (as a user's config
would) and uses the model's scale endpoints. Errors are in % of span (circular
for 360-degree dials). Pictures whose needle tip the renderer hid (glare,
occluders) are scored separately: the reader should say ``unreadable``.
Failures (no reading for a readable gauge) are the no-read rate, not folded
into the error statistics. ``ms/reading`` is the wall time of a full read
(both passes, decode, geometry) on this machine, one thread. With
``--scale-given``, ``scale_floor`` is what the configured scale alone costs: the
error of a perfect needle reading through it (a panel meter seen at an angle has
no round rim to correct by, so its angles do not grow evenly with the value).

``--photos DIR`` scores labelled photographs instead, with the same statistics:
``DIR/labels.jsonl`` holds one JSON object per line, e.g.

    {"image": "p001.jpg", "value": 0.42, "min": 0, "max": 1.6,
     "start_angle": 225, "sweep": 270, "box": [40, 30, 260, 250]}

``image`` is relative to DIR; ``value`` is the true reading; ``start_angle`` and
``sweep`` (optional, together; degrees clockwise from 12 o'clock, as for
``edged read-gauge``) are given to the reader with ``--scale-given`` and tell a
360-degree dial apart; ``box`` (optional, ``[x0, y0, x1, y1]`` in pixels)
picks the dial to score in a picture that shows several. A photo whose needle
cannot be seen takes ``"value": null``: the right answer is ``unreadable``.
Each dial is read as a config's ``reader: auto`` would (``--reader`` to force
one): a dial in a ``box``, or a picture that is a small crop, whose scale is
given as a full circle goes to the pointer model; the rest to the keypoints,
with the panel model's second opinion where they are unsure or read a dial
without a round rim on their own scale (renders too:
``--reader keypoints`` for the keypoints alone).

``--subdials`` scores the pointer model on held-out sub-dial crops
(``subdial_synth``): water/gas-meter dials as fixed cameras see them, with the
start a person would configure (the crop's zero rounded to a right angle).
``--panels`` scores the panel model on held-out panel-meter crops (``panel_crop``)
with min and max (the scale from the model, as ``reader: panel`` without
``start_angle``/``sweep``), with ``--scale-given`` the scale too, as seen in the
crop; ``--photos DIR --reader panel`` reads every photo with it as ``reader:
panel`` with an roi around the meter would (the scale where labelled with
``--scale-given``).

``--pad F`` reads every photo framed looser, as a camera further back or an roi
drawn with room to spare sees it: the photo in the middle of a picture ``F``
times its size, the border its edge pixels carried outward with a little noise.
The development photos are the meter and little else; the real photos a user
points edged at seldom are. A dial with a ``box`` is read in its box, which
moves with the photo: padding changes only what is read whole.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from camera_looks import LOOKS, apply_look, parse_looks

from edged.pipelines.gauge.angles import angle_of
from edged.pipelines.gauge.panel_crop import render_loose_panel, render_panel_crop
from edged.pipelines.gauge.pointer_reader import (
    DEFAULT_PANEL_MODEL,
    DEFAULT_POINTER_MODEL,
    PointerModel,
    PointerReader,
    prefers_pointer,
    with_second_opinion,
)
from edged.pipelines.gauge.reader import (
    CROP_SIZE,
    DEFAULT_DIRECTION_MODEL,
    DEFAULT_MODEL,
    FACE_FILL,
    GaugeReader,
    KeypointModel,
    ReadOptions,
    ScaleDirectionModel,
    roi_region,
)
from edged.pipelines.gauge.reading import GaugeReading, Scale, circle_transform, fit_ellipse
from edged.pipelines.gauge.subdial_synth import render_subdial
from edged.pipelines.gauge.synth import render_sample

SEED_BASE = 7_000_000_000_000  # training seeds are hashes; these are never drawn


def _stats(errors: List[float]) -> Dict[str, Any]:
    """Error statistics (% of span); None where there is nothing to count (valid JSON)."""
    e = np.array(errors)

    def figure(f: Any) -> Optional[float]:
        return float(f(e)) if len(e) else None

    return {
        "n": len(errors),
        "mean_pct": figure(np.mean),
        "median_pct": figure(np.median),
        "p95_pct": figure(lambda x: np.percentile(x, 95)),
        "within_1pct": figure(lambda x: np.mean(x <= 1.0)),
        "within_2pct": figure(lambda x: np.mean(x <= 2.0)),
        "gross_gt5pct": figure(lambda x: np.mean(x > 5.0)),
    }


def _summary(
    errors: List[float], ok_errors: List[float], no_read: int, readable: int, times: List[float]
) -> Dict[str, Any]:
    """The figures every run reports: error statistics over the readings made, the no-read
    rate over the readable dials (never folded into the errors), readings flagged ``ok``."""
    res: Dict[str, Any] = {"readable_gauges": readable, "read": len(errors)}
    res.update({k: v for k, v in _stats(errors).items() if k != "n"})
    res.update(
        {
            "no_read_rate": no_read / readable if readable else None,
            "flagged_ok_share": len(ok_errors) / len(errors) if errors else None,
            "ok_only": _stats(ok_errors),
            "ms_per_picture_mean": float(np.mean(times)) if times else None,
            "ms_per_picture_median": float(np.median(times)) if times else None,
        }
    )
    return res


def span_error_pct(value: float, truth: float, lo: float, hi: float, sweep: float) -> float:
    """|value - truth| in % of the span; on a full-circle dial the short way round."""
    err = abs(value - truth) / abs(hi - lo) * 100.0
    return min(err, 100.0 - err) if abs(sweep) >= 360 else err


def load_photo_labels(directory: str) -> List[Dict[str, Any]]:
    """``directory/labels.jsonl``, checked: a bad line is named with its field and the fix."""
    path = os.path.join(directory, "labels.jsonl")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: not found; write one JSON object per photo (see --help)")
    items = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                items.append(_photo_label(directory, f"{path}:{n}", line))
    if not items:
        raise ValueError(f"{path}: no photos listed")
    return items


PHOTO_FIELDS = ("image", "value", "min", "max", "start_angle", "sweep", "box")


def _photo_label(directory: str, where: str, line: str) -> Dict[str, Any]:
    try:
        item = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"{where}: not JSON ({exc})") from None
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a JSON object")
    unknown = sorted(set(item) - set(PHOTO_FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown field {unknown[0]!r}; the fields are {PHOTO_FIELDS}")
    if "value" not in item:
        raise ValueError(f"{where}: field 'value' is missing (null: the needle cannot be seen)")

    def number(key: str, required: bool = True) -> Any:
        v = item.get(key)
        if v is None and not required:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{where}: field '{key}' must be a finite number, got {v!r}")
        return float(v)

    image = item.get("image")
    if not isinstance(image, str) or not os.path.isfile(os.path.join(directory, image)):
        raise ValueError(f"{where}: field 'image' must name a file in {directory}, got {image!r}")
    lo, hi = number("min"), number("max")
    if lo == hi:
        raise ValueError(f"{where}: 'min' and 'max' must differ")
    start, sweep = number("start_angle", False), number("sweep", False)
    if (start is None) != (sweep is None):
        raise ValueError(f"{where}: give 'start_angle' and 'sweep' together, or neither")
    if sweep is not None and not 0 < abs(sweep) <= 360:
        raise ValueError(f"{where}: field 'sweep' must be within ±(0, 360], got {sweep}")
    box = item.get("box")
    if box is not None and (
        not isinstance(box, list)
        or len(box) != 4
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
        or not (box[0] < box[2] and box[1] < box[3])
    ):
        raise ValueError(f"{where}: field 'box' must be [x0, y0, x1, y1] with x0 < x1, y0 < y1")
    return {
        "where": where,
        "image": os.path.join(directory, image),
        "value": number("value", False),
        "min": lo,
        "max": hi,
        "start_angle": start,
        "sweep": sweep,
        "box": box,
    }


def evaluate_photos(
    reader: GaugeReader,
    items: List[Dict[str, Any]],
    scale_given: bool = False,
    snap: bool = True,
    pointer: Optional[PointerReader] = None,
    choice: str = "auto",
    panel: Optional[PointerReader] = None,
    pad: float = 1.0,
    look: str = "none",
) -> Dict[str, Any]:
    """The same figures as ``evaluate`` on labelled photos (see ``load_photo_labels``),
    each framed ``pad`` times looser (``padded``) and seen with the camera ``look``
    (``camera_looks``). A
    dial's error goes the short way round only when its label says it is a 360-degree dial.
    ``choice`` picks the reader per dial as ``reader:`` does in a config (``auto``: the
    pointer model for located full-circle dials, see ``prefers_pointer``; ``panel``: the
    panel model, reading the scale from the picture where it is not given, or, a model that
    measures no scale end, only the dials whose scale is given, the keypoints the rest)."""
    from edged.cvutil import import_cv2

    cv2 = import_cv2()
    times: List[float] = []
    hidden = hidden_unreadable = given = 0
    per_photo: List[Dict[str, Any]] = []
    outcomes: List[Outcome] = []  # the readable dials'
    for item in items:
        image = cv2.imread(item["image"], cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{item['where']}: cannot decode the image {item['image']}")
        if pad != 1.0:
            image, item = padded(image, item, pad)
        if look != "none":
            image, item = apply_look(look, image, item)
        opts = ReadOptions(min_value=item["min"], max_value=item["max"])
        opts.snap_sweep = snap
        if scale_given and item["sweep"] is not None:
            opts.start_angle, opts.sweep = item["start_angle"], item["sweep"]
            given += 1
        t0 = time.perf_counter()
        region = _region(image, item["box"])
        h, w = region.shape[:2]
        located = item["box"] is not None
        reading: Optional[GaugeReading]
        if panel is not None and choice == "panel" and panel.can_read(opts):
            reading = panel.read_crops([region], [opts])[0]
        elif pointer is not None and prefers_pointer(choice, w, h, opts.sweep, located):
            reading = pointer.read_crops([region], [opts])[0]
        else:
            reading = _photo_reading(reader, image, opts, item["box"])
            if choice == "auto":
                # (a labelled box is asked about as it is, as read-gauge asks about an roi)
                reading = with_second_opinion(panel, reading, region, opts, around_dial=not located)
        times.append((time.perf_counter() - t0) * 1000.0)
        err = _photo_error(item, reading)
        per_photo.append(_photo_line(item, reading, err))
        if item["value"] is None:
            hidden += 1
            hidden_unreadable += reading is None or reading.value is None
            continue
        ok = reading is not None and reading.quality == "ok"
        outcomes.append(Outcome(per_photo[-1]["reader"], err, ok))
    res: Dict[str, Any] = {"pictures": len(items)}
    res.update(_figures(outcomes, times))
    res["scale_given_pictures"] = given
    readers = [line["reader"] for line in per_photo]
    res["read_by_pointer_model"] = readers.count("pointer")
    res["read_by_panel_model"] = readers.count("panel")
    # the same figures for the dials each reader read (an older panel model reads only those
    # whose scale is labelled; the rest go to the keypoints)
    res["by_reader"] = {
        name: _figures([o for o in outcomes if o.reader == name], [])
        for name in sorted({o.reader for o in outcomes})
    }
    res["per_photo"] = per_photo
    res["hidden_tip_pictures"] = hidden
    res["hidden_tip_said_unreadable"] = hidden_unreadable / hidden if hidden else None
    return res


class Outcome(NamedTuple):
    """One readable labelled dial: which reader read it, its error (% of span; None: no
    value) and whether the reading was flagged ``ok``."""

    reader: str
    error: Optional[float]
    ok: bool


def _figures(outcomes: List[Outcome], times: List[float]) -> Dict[str, Any]:
    """``_summary`` of the readable dials' outcomes."""
    errors = [o.error for o in outcomes if o.error is not None]
    ok_errors = [o.error for o in outcomes if o.error is not None and o.ok]
    return _summary(errors, ok_errors, len(outcomes) - len(errors), len(outcomes), times)


def pooled_looks(by_look: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """``--looks``' figures: every look's readings pooled (a photo counts once per look),
    then each look's own (its photos' lines included)."""
    outcomes = [
        Outcome(line["reader"], line["error_pct"], line["quality"] == "ok")
        for res in by_look.values()
        for line in res["per_photo"]
        if line["truth"] is not None
    ]
    pooled: Dict[str, Any] = {"looks": list(by_look), "pooled": _figures(outcomes, [])}
    pooled["by_look"] = by_look
    return pooled


def _photo_error(item: Dict[str, Any], reading: Optional[GaugeReading]) -> Optional[float]:
    """The reading's error in % of span; None without a value or a true one."""
    if reading is None or reading.value is None or item["value"] is None:
        return None
    sweep = item["sweep"] if item["sweep"] is not None else 0.0
    return span_error_pct(reading.value, item["value"], item["min"], item["max"], sweep)


def _photo_line(
    item: Dict[str, Any], reading: Optional[GaugeReading], err: Optional[float]
) -> Dict[str, Any]:
    """One photo's outcome (``err``: ``_photo_error``), to look at the failures."""
    value = None if reading is None else reading.value
    line = {
        "image": os.path.basename(item["image"]),
        "box": item["box"],
        "truth": item["value"],
        "read": None if value is None else round(float(value), 4),
        "error_pct": None if err is None else round(err, 2),
        "quality": None if reading is None else reading.quality,
        "reader": "keypoints" if reading is None else reading.reader,
    }
    if reading is not None and "needles_apart" in reading.extra:  # second_opinion's dispute
        line["needles_apart"] = reading.extra["needles_apart"]
    if reading is not None and "views_agree" in reading.extra:  # a reframed second opinion
        line["views_agree"] = reading.extra["views_agree"]
    if reading is not None and reading.why is not None:
        line["why"] = reading.why
    return line


def padded(
    image: np.ndarray, item: Dict[str, Any], factor: float
) -> Tuple[np.ndarray, Dict[str, Any]]:
    """``image`` in the middle of a picture ``factor`` times its size whose border carries its
    edge pixels outward, with noise (seeded by the image's name: the same every run), and the
    label with its ``box`` moved along (the border stands for what surrounds a meter)."""
    from edged.cvutil import import_cv2

    cv2 = import_cv2()
    h, w = image.shape[:2]
    top, left = round(h * (factor - 1) / 2), round(w * (factor - 1) / 2)
    bottom, right = round(h * (factor - 1)) - top, round(w * (factor - 1)) - left
    out = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REPLICATE)
    rng = np.random.default_rng(list(os.path.basename(item["image"]).encode()))
    for y in range(0, out.shape[0], 256):  # in bands: a phone photo's noise would be GBs
        band = out[y : y + 256]
        band[:] = np.clip(band + rng.normal(0.0, 6.0, band.shape), 0, 255).astype(np.uint8)
    out[top : top + h, left : left + w] = image
    moved = dict(item)
    if item["box"] is not None:
        x0, y0, x1, y1 = item["box"]
        moved["box"] = [x0 + left, y0 + top, x1 + left, y1 + top]
    return out, moved


def _region(image: np.ndarray, box: Any) -> np.ndarray:
    """The labelled dial's box (clipped to the picture), or the whole picture."""
    if box is None:
        return image
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    region = roi_region(image, x0, y0, x1 - x0, y1 - y0)
    if region is None:
        h, w = image.shape[:2]
        raise ValueError(f"box {box} lies (almost) outside the {w}x{h} picture")
    return region


def _photo_reading(
    reader: GaugeReader, image: np.ndarray, opts: ReadOptions, box: Any
) -> Optional[GaugeReading]:
    """The reading of the labelled dial: the one centred in ``box``, else the main one."""
    if box is None:
        return reader.read_one(image, opts)
    x0, y0, x1, y1 = box
    inside = [
        r
        for r in reader.read(image, opts)
        if "center" in r.keypoints
        and x0 <= r.keypoints["center"][0] <= x1
        and y0 <= r.keypoints["center"][1] <= y1
    ]
    mid = ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
    return min(
        inside,
        key=lambda r: math.hypot(
            r.keypoints["center"][0] - mid[0], r.keypoints["center"][1] - mid[1]
        ),
        default=None,
    )


def given_scale(label: Any) -> Tuple[float, float]:
    """The start angle and sweep a user would configure for this dial, as seen in the picture
    (after the same perspective correction the reader applies), seen from the dial's centre:
    the needle's pivot, which parallax moves, would bias the configured angle."""
    cx, cy = label.face_center
    sx, sy, _ = label.keypoints["start"]
    q = _rim_correction(label) @ np.array([sx - cx, sy - cy])
    return angle_of(float(q[0]), float(q[1])), float(label.sweep)


def _rim_correction(label: Any) -> np.ndarray:
    """The 2x2 map that makes the dial's rim round (the identity where it has no round rim:
    a panel meter's face is a rectangle, and nothing corrects its perspective)."""
    fit = fit_ellipse(np.array(label.rim))
    return circle_transform(fit[1]) if fit is not None else np.eye(2)


def scale_floor_pct(label: Any) -> float:
    """The error (% of span) of a perfect needle reading through the configured scale: the
    true tip's direction round the true pivot, corrected as ``given_scale`` corrects, read
    on ``given_scale``'s start and sweep. Where a view warps the dial beyond what its rim
    corrects (a panel meter seen at an angle: angles do not grow evenly with the value), no
    reader given that scale does better than this."""
    start, sweep = given_scale(label)
    px, py, _ = label.keypoints["center"]
    tx, ty, _ = label.keypoints["tip"]
    q = _rim_correction(label) @ np.array([tx - px, ty - py])
    scale = Scale(start, sweep, label.min_value, label.max_value)
    value, _ = scale.value_at(angle_of(float(q[0]), float(q[1])))
    return span_error_pct(value, label.value, label.min_value, label.max_value, label.sweep)


def evaluate(
    reader: GaugeReader,
    n: int,
    seed_base: int = SEED_BASE,
    mode: str = "mixed",
    scale_given: bool = False,
    snap: bool = True,
    panel: Optional[PointerReader] = None,
) -> Dict[str, Any]:
    """Held-out renders: the keypoint reading of the rendered dial (the one found at its
    centre) and, with ``panel``, the panel model's second opinion on it, read from the whole
    picture as ``edged read-gauge`` asks it about a picture's main dial (in a scene with
    several dials the rendered one need not be the main one; crops hold one)."""
    errors: List[float] = []
    ok_errors: List[float] = []
    no_read = 0
    readable_total = 0
    hidden_total = 0
    hidden_said_unreadable = 0
    out_of_range = 0
    by_kind: Dict[str, List[float]] = {}
    floors: Dict[str, List[float]] = {}  # scale_floor_pct of every readable dial
    times: List[float] = []
    rng = np.random.default_rng(seed_base)
    for i in range(n):
        seed = seed_base + i
        m = mode
        if mode == "mixed":
            m = "crop" if rng.random() < 0.7 else "scene"
        size = int(rng.integers(96, 321)) if m == "crop" else int(rng.integers(256, 481))
        image, labels = render_sample(seed, size=size, split="heldout", mode=m)
        target = labels[-1]  # in crop mode the main dial is drawn last
        opts = ReadOptions(min_value=target.min_value, max_value=target.max_value)
        opts.snap_sweep = snap
        if scale_given:
            opts.start_angle, opts.sweep = given_scale(target)
        t0 = time.perf_counter()
        readings = reader.read(image, opts)
        cx, cy, _ = target.keypoints["center"]
        match = None
        for r in readings:
            c = r.keypoints.get("center")
            if c is not None and math.hypot(c[0] - cx, c[1] - cy) < 0.5 * target.radius:
                match = r
                break
        match = with_second_opinion(panel, match, image, opts)
        times.append((time.perf_counter() - t0) * 1000.0)
        if not target.readable:
            hidden_total += 1
            if match is None or match.value is None:
                hidden_said_unreadable += 1
            continue
        readable_total += 1
        if scale_given:
            floor = scale_floor_pct(target)
            floors.setdefault("all", []).append(floor)
            if target.spec is not None and target.spec.panel:
                floors.setdefault("panel", []).append(floor)
        if match is None or match.value is None:
            no_read += 1
            continue
        if match.quality == "out_of_range":
            out_of_range += 1
        err = span_error_pct(
            match.value, target.value, target.min_value, target.max_value, target.sweep
        )
        errors.append(err)
        if match.quality == "ok":
            ok_errors.append(err)
        kind = "360" if abs(target.sweep) >= 360 else ("ccw" if target.sweep < 0 else "cw")
        by_kind.setdefault(kind, []).append(err)
        if target.spec is not None and target.spec.panel:  # also counted in its direction
            by_kind.setdefault("panel", []).append(err)
    res: Dict[str, Any] = {"pictures": n}
    res.update(_summary(errors, ok_errors, no_read, readable_total, times))
    res.update(
        {
            "out_of_range_flagged": out_of_range,
            "hidden_tip_pictures": hidden_total,
            "hidden_tip_said_unreadable": (
                hidden_said_unreadable / hidden_total if hidden_total else None
            ),
            "by_kind": {
                k: {"n": len(v), "median_pct": float(np.median(v)), "mean_pct": float(np.mean(v))}
                for k, v in sorted(by_kind.items())
            },
        }
    )
    if scale_given:  # what the configured scale itself costs a perfect needle reading
        res["scale_floor"] = {k: _stats(v) for k, v in sorted(floors.items())}
    return res


def evaluate_subdials(
    pointer: PointerReader, n: int, seed_base: int = SEED_BASE, nominal: bool = True
) -> Dict[str, Any]:
    """Held-out sub-dial crops (``subdial_synth``, held-out seeds and styles) read by the
    pointer model with the scale given: ``nominal`` gives the start a person would write for
    a camera roughly upright or turned (the true zero rounded to a right angle), else the
    exact zero of the crop."""

    def cases() -> Iterator[Case]:
        for i in range(n):
            crop, label = render_subdial(seed_base + i, split="heldout")
            start = label.zero_angle
            if nominal:
                start = (round(start / 90.0) * 90.0) % 360.0
            truth = label.value
            yield (
                crop,
                ReadOptions(0.0, 10.0, start, label.sweep),
                lambda value, truth=truth: span_error_pct(value, truth, 0.0, 10.0, 360.0),
            )

    res = _score_crops(cases(), lambda crop, opts: pointer.read_crops([crop], [opts])[0])
    res["start_given"] = "nominal" if nominal else "exact"
    return res


def evaluate_panels(
    read: Callable[[np.ndarray, ReadOptions], GaugeReading],
    n: int,
    seed_base: int = SEED_BASE,
    scale_given: bool = True,
    snap: bool = True,
    loose: float = 1.0,
) -> Dict[str, Any]:
    """Held-out panel-meter crops (``panel_crop``, held-out seeds and styles) read by
    ``read(crop, options)`` (the panel model, or the keypoint reader for comparison) with
    min and max, and with ``scale_given`` the scale too, as a person would write it from the
    picture: the minimum's direction seen from the pivot, the meter's sweep. ``loose`` above
    1: each meter framed up to that many times loose (``render_loose_panel``) instead."""

    def cases() -> Iterator[Case]:
        for i in range(n):
            if loose > 1.0:
                crop, label = render_loose_panel(seed_base + i, "heldout", loose)
            else:
                crop, label = render_panel_crop(seed_base + i, split="heldout")
            t = label.label
            opts = ReadOptions(t.min_value, t.max_value)
            opts.snap_sweep = snap
            if scale_given:
                opts.start_angle, opts.sweep = label.zero_angle, t.sweep
            yield (
                crop,
                opts,
                lambda value, t=t: span_error_pct(
                    value, t.value, t.min_value, t.max_value, t.sweep
                ),
            )

    res = _score_crops(cases(), read)
    res["start_given"] = "from the picture" if scale_given else None
    res["scale"] = "given" if scale_given else "model"
    res["snap_sweep"] = snap
    res["framed_loose_up_to"] = loose
    return res


#: one test crop: the picture, the scale the reader is given, and the error (% of span) of a
#: value read from it
Case = Tuple[np.ndarray, ReadOptions, Callable[[float], float]]


def _score_crops(
    cases: Iterable[Case], read: Callable[[np.ndarray, ReadOptions], GaugeReading]
) -> Dict[str, Any]:
    """The figures of ``read`` over ``cases`` (every crop holds a readable dial)."""
    errors: List[float] = []
    ok_errors: List[float] = []
    times: List[float] = []
    no_read = pictures = 0
    for crop, opts, error_of in cases:
        pictures += 1
        t0 = time.perf_counter()
        reading = read(crop, opts)
        times.append((time.perf_counter() - t0) * 1000.0)
        if reading.value is None:
            no_read += 1
            continue
        err = error_of(reading.value)
        errors.append(err)
        if reading.quality == "ok":
            ok_errors.append(err)
    res: Dict[str, Any] = {"pictures": pictures}
    res.update(_summary(errors, ok_errors, no_read, pictures, times))
    return res


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--mode", default="mixed", choices=["mixed", "crop", "scene"])
    p.add_argument("--seed-base", type=int, default=SEED_BASE)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--scale-given",
        action="store_true",
        help="give the reader each dial's start angle and sweep (as --start-angle/--sweep)",
    )
    p.add_argument("--no-snap", action="store_true", help="do not snap sweeps (ablation)")
    p.add_argument("--flip", action="store_true", help="mirror test-time augmentation in pass 2")
    p.add_argument(
        "--no-needle-pixels", action="store_true", help="keypoint/PAF angle only (ablation)"
    )
    p.add_argument("--crop-size", type=int, default=CROP_SIZE, help="pass-2 crop side (px)")
    p.add_argument("--face-fill", type=float, default=FACE_FILL, help="face radius / crop side")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--photos", metavar="DIR", help="score the labelled photos in DIR instead")
    p.add_argument(
        "--pad",
        type=_pad_factor,
        default=1.0,
        metavar="F",
        help="with --photos: read each photo framed F times looser (a border of its edge "
        "pixels around it; default 1, the photo as it is)",
    )
    p.add_argument(
        "--looks",
        metavar="LIST",
        help="with --photos: read every photo once per camera look in LIST (comma-separated "
        f"names of {', '.join(LOOKS)}; all: every one but scene and far, which frame the photo in "
        "a picture 2.2 and 4 times its size, and night, which makes it grey, dark and noisy at "
        "once): the figures "
        "per look, and pooled",
    )
    p.add_argument(
        "--subdials",
        action="store_true",
        help="score the pointer model on held-out sub-dial crops (subdial_synth) instead",
    )
    p.add_argument(
        "--panels",
        action="store_true",
        help="score the panel model (--panel-model) on held-out panel-meter crops instead "
        "(with --reader keypoints: the keypoint model on the same crops)",
    )
    p.add_argument(
        "--exact-start",
        action="store_true",
        help="with --subdials: give each crop's exact zero, not the nominal right angle",
    )
    p.add_argument(
        "--reader",
        default="auto",
        choices=["auto", "keypoints", "pointer", "panel"],
        help="which model reads each dial (auto: as a config's reader: auto, the panel model's "
        "second opinion included; renders take auto or keypoints; --panels: panel or keypoints)",
    )
    p.add_argument("--pointer-model", default=DEFAULT_POINTER_MODEL)
    p.add_argument("--panel-model", default=DEFAULT_PANEL_MODEL)
    p.add_argument(
        "--direction-model",
        default="none",
        help="scale direction model for dials read without a given scale, e.g. "
        f"{DEFAULT_DIRECTION_MODEL} (default none: the keypoints alone, as a config's default)",
    )
    p.add_argument(
        "--pointer-flip",
        choices=["on", "off"],
        default=None,
        help="pointer and panel model: also read each crop's mirror image (default: the reader's)",
    )
    p.add_argument(
        "--panel-search",
        choices=["on", "off"],
        default="on",
        help="the panel model (reader panel, and auto's second opinion) searches a region it "
        "reads unsure for the meter in it, as the reader does (default on; off: the region as "
        "a whole, as before session 13)",
    )
    p.add_argument(
        "--loose",
        type=_pad_factor,
        default=1.0,
        metavar="F",
        help="with --panels: each meter framed up to F times loose, anywhere in the picture",
    )
    p.add_argument(
        "--no-zero-refine",
        action="store_true",
        help="pointer model: keep the configured start as given (ablation)",
    )
    args = p.parse_args()
    if args.loose != 1.0 and not args.panels:
        print(
            "gauge_accuracy: --loose frames panel renders looser: use it with --panels",
            file=sys.stderr,
        )
        return 2
    looks = ["none"]
    if args.looks is not None:
        try:
            looks = parse_looks(args.looks)
        except ValueError as exc:
            print(f"gauge_accuracy: --looks: {exc}", file=sys.stderr)
            return 2
        if not args.photos:
            print(
                "gauge_accuracy: --looks changes how photos look: use it with --photos DIR",
                file=sys.stderr,
            )
            return 2
    if args.pad != 1.0 and not args.photos:
        print(
            "gauge_accuracy: --pad frames photos looser: use it with --photos DIR", file=sys.stderr
        )
        return 2
    if args.reader == "panel" and not (args.panels or args.photos):
        print(
            "gauge_accuracy: --reader panel reads panel meters filling their picture: use it "
            "with --photos DIR (or score the panel model with --panels)",
            file=sys.stderr,
        )
        return 2
    pointer = _pointer_reader(args, args.pointer_model, "pointer")
    if pointer is None and (args.subdials or args.reader == "pointer"):
        print(f"gauge_accuracy: no pointer model at {args.pointer_model}", file=sys.stderr)
        return 2
    renders = not (args.photos or args.subdials or args.panels)
    if renders and args.reader not in ("auto", "keypoints"):
        print(
            f"gauge_accuracy: --reader {args.reader} reads tight crops of one dial, not the "
            "keypoint benchmark's pictures: use auto or keypoints here (or --photos, "
            "--subdials, --panels)",
            file=sys.stderr,
        )
        return 2
    panel = None
    if not args.subdials and args.reader != "keypoints":
        panel = _pointer_reader(args, args.panel_model, "panel")
        if panel is None and (args.panels or args.reader == "panel"):
            print(f"gauge_accuracy: no panel model at {args.panel_model}", file=sys.stderr)
            return 2
        if panel is None and args.reader == "auto":
            print(
                f"gauge_accuracy: no panel model at {args.panel_model}: the keypoints alone, "
                "without reader: auto's second opinion",
                file=sys.stderr,
            )
    if args.panels and args.reader != "keypoints":
        assert panel is not None
        res = evaluate_panels(
            lambda c, o: panel.read_crops([c], [o])[0],
            args.n,
            args.seed_base,
            args.scale_given,
            not args.no_snap,
            args.loose,
        )
        res["model"] = os.path.basename(args.panel_model)
        res["panel_search"] = panel.search
        return _emit(res, args.json)
    if args.subdials:
        assert pointer is not None
        res = evaluate_subdials(pointer, args.n, args.seed_base, not args.exact_start)
        res["model"] = os.path.basename(args.pointer_model)
        return _emit(res, args.json)
    model = KeypointModel(args.model, "onnxruntime", threads=args.threads)
    direction = None
    if args.direction_model != "none":
        direction = ScaleDirectionModel(args.direction_model, "onnxruntime", threads=args.threads)
    reader = GaugeReader(
        model, args.crop_size, args.face_fill, args.flip, not args.no_needle_pixels, direction
    )
    if args.panels:  # the keypoint reader on the panel model's test crops
        res = evaluate_panels(
            reader.read_one, args.n, args.seed_base, args.scale_given, not args.no_snap, args.loose
        )
        res["model"] = os.path.basename(args.model)
        return _emit(res, args.json)
    if args.photos:
        try:
            items = load_photo_labels(args.photos)
            by_look = {
                look: evaluate_photos(
                    reader,
                    items,
                    args.scale_given,
                    not args.no_snap,
                    pointer,
                    args.reader,
                    panel,
                    args.pad,
                    look,
                )
                for look in looks
            }
            res = by_look[looks[0]] if args.looks is None else pooled_looks(by_look)
        except ValueError as exc:
            print(f"gauge_accuracy: {exc}", file=sys.stderr)
            return 2
    else:
        res = evaluate(
            reader, args.n, args.seed_base, args.mode, args.scale_given, not args.no_snap, panel
        )
    res["model"] = os.path.basename(args.model)
    res["reader"] = {
        "flip": args.flip,
        "crop_size": args.crop_size,
        "face_fill": args.face_fill,
        "needle_pixels": not args.no_needle_pixels,
        "scale": "given" if args.scale_given else "model",
        "snap_sweep": not args.no_snap,
        "choice": args.reader,
        "pad": args.pad,
        "panel_search": panel.search if panel is not None else None,
        "pointer_model": os.path.basename(args.pointer_model) if pointer else None,
        "panel_model": os.path.basename(args.panel_model) if panel else None,
        "direction_model": os.path.basename(args.direction_model) if direction else None,
    }
    return _emit(res, args.json)


def _pad_factor(text: str) -> float:
    """``--pad``'s and ``--loose``'s value: a factor of at least 1 (1: as it is)."""
    factor = float(text)
    if factor < 1.0:
        raise argparse.ArgumentTypeError(f"{text}: a factor of at least 1 (1: framed as it is)")
    return factor


def _pointer_reader(args: argparse.Namespace, path: str, kind: str) -> Optional[PointerReader]:
    """A pointer-model reader of ``path`` with the command's options; None without the file."""
    if not os.path.exists(path):
        return None
    pointer = PointerReader(
        PointerModel(path, "onnxruntime", threads=args.threads),
        refine_zero=not args.no_zero_refine,
        kind=kind,
    )
    if args.pointer_flip is not None:
        pointer.flip = args.pointer_flip == "on"
    if kind == "panel":
        pointer.search = args.panel_search == "on"
    return pointer


def _emit(res: Dict[str, Any], path: Optional[str]) -> int:
    """Print the figures (and write them to ``path``)."""
    print(json.dumps(res, indent=2, allow_nan=False))
    if path:
        with open(path, "w") as f:
            json.dump(res, f, indent=2, allow_nan=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
