"""Read a dial from its crop with the pointer model (fixed cameras: meter sub-dials, panel meters).

The keypoint reader (``reader``) finds dials anywhere and reads thin needles
to a fraction of a degree, but a water meter's paddle pointer in a 60-130 px
crop has no thin ridge and no sharp tip to find. Where the dial's place is
known (a configured ``roi``, a labelled box, or a picture that is itself a
small crop) the pointer model reads its direction from the whole crop.

The scale comes from the configuration: ``start_angle`` and ``sweep`` as
everywhere. On a full-circle dial the model also measures where the scale's
zero sits; a configured start within ``ZERO_SNAP_DEG`` of it is moved onto it,
so a camera mounted a few degrees askew still reads right. Without a
configured scale the sub-dial model takes the dial to be a full-circle dial (0
at the zero the model sees, the direction the model sees), which is what
sub-dials are; the panel model measures where the scale ends too (its ``end``
head), so a panel meter configured with only its min and max reads on the
clockwise arc from the zero to the end it sees (``decode_arc``; snapped to a
standard sweep as the keypoint reader's are). Such a reading is only as
confident as the model is of its scale.

``reader: auto`` asks the panel model for a second opinion on a region the
keypoints read unsure or not at all, or read on a scale of their own without
finding a round rim (``wants_second_opinion``), and takes its
reading where the panel model is sure, or where both are unsure and see the needle in
about the same place (``second_opinion``; far apart: ``unreadable``), or where the
keypoints read nothing and the panel reading holds in most framings of the region
(``read_reframed``): the panel meters whose hidden pivot and 90-degree scale the
keypoint model misses.

The panel model learnt crops that the meter's scale fills; a region it reads
unsure it searches for the meter, zooming in (``PointerReader.search``). A
pipeline hands back the window where its last search found the meter and read it sure
(``remembered``): a fixed camera's meter stays put.

The model measures directions, not places: a reading's ``center`` keypoint is the
crop's centre (the searched window's) and its ``tip`` a point along the measured
direction (for the overlay and the message), not the pivot and the tip found in
the picture.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from edged.config import gauge as config_gauge
from edged.pipelines.display.decode import softmax
from edged.pipelines.gauge.angles import angle_between, angle_of, direction, point_at
from edged.pipelines.gauge.exposure import brighten
from edged.pipelines.gauge.pointer_model import (
    CCW,
    END,
    HEADS,
    INPUT,
    DirectionEstimate,
    decode_arc,
    decode_bins,
    model_input,
)
from edged.pipelines.gauge.reader import EngineModel, call_in_chunks
from edged.pipelines.gauge.reading import GaugeReading, Scale, snap_sweep
from edged.pipelines.gauge.reframed import (
    agreed,
    framed_options,
    reframings,
    unturned,
    value_range,
)
from edged.weights import resolve_model

__all__ = [
    "DEFAULT_PANEL_MODEL",
    "DEFAULT_POINTER_MODEL",
    "POINTER_MAX_SIDE",
    "PointerModel",
    "PointerReader",
    "Window",
    "dial_window",
    "prefers_pointer",
    "second_opinion",
    "wants_second_opinion",
    "window_fell_short",
    "with_second_opinion",
]

#: the bundled model, wherever the install put it (the config's default, resolved)
DEFAULT_POINTER_MODEL = resolve_model(config_gauge.DEFAULT_POINTER_MODEL)
#: the bundled panel-meter model (the same network, trained on panel meters: ``panel_crop``)
DEFAULT_PANEL_MODEL = resolve_model(config_gauge.DEFAULT_PANEL_MODEL)

MAX_BATCH = 32  # crops per engine call (the TensorRT profile's largest batch)
#: a whole picture at most this many pixels on its long side is taken as a crop of one dial
POINTER_MAX_SIDE = 160
#: a configured full-circle start this far from the zero the model sees is moved onto it: less
#: is within the zero's own noise (an upright camera keeps its exact start), more is no match
ZERO_MIN_OFFSET_DEG = 6.0
ZERO_SNAP_DEG = 25.0
ZERO_MIN_CONFIDENCE = 0.5
#: below this share of probability near the peak the direction is a guess: unreadable (chosen
#: on validation renders, seeds 8e12 + i: what falls below is all gross errors, 0.2 %)
UNREADABLE_BELOW = 0.5
#: the panel model's answers are nearly all sure by that measure (validation renders, seeds
#: 9e12 + i: 5 % below 0.98): a panel reading less sure than this is ``low_confidence``. It
#: flags the least sure eighth there (12.5 %), whose mean error is 3.4 % of span against
#: 1.73 % for the rest with the scale given (3.5 against 1.83 % with the model's scale); the
#: 12,000-step model (session 11) is surer: 6.6 % flagged there, 6.3 % off against 1.65 %
PANEL_SURE = 0.994
#: a panel scale the model measures runs clockwise, at least this far and under 180 degrees
#: (wider panel meters, and counter-clockwise ones, need start_angle/sweep configured)
MIN_MEASURED_SWEEP = 30.0
MAX_MEASURED_SWEEP = 180.0
#: a crop and its mirror image whose pointers lie further apart than this are not averaged:
#: the crop's own view is read, flagged (above the 99th percentile of the two views' gap on
#: validation panel renders: 8.4 degrees with session 10's panel model, whose crops above it
#: read 21.6 % off averaged and 15.7 % from their own view; 6.3 with session 11's, 34.5 and
#: 30.2 %)
FLIP_AGREE_DEG = 10.0
#: the panel reader's search for the meter in a crop it reads unsure (``_searched``): each
#: step zooms to a window this share of the last one's sides, at most this many steps (the
#: last windows are 0.34 of the crop's sides), none under ``MIN_WINDOW`` px. Chosen on
#: validation renders of panel meters framed up to 2x loose (1,000, seeds 9e12 + i, training
#: styles, only min/max): mean error 5.27 % of span without the search; 0.7 and 3 steps
#: 2.41 % (4 steps: the same), 0.65 and 3: 2.78 %, 0.75 and 4: 2.77 %, 0.8 and 4: 2.63 %,
#: 0.9 and 6: 3.38 %
ZOOM = 0.7
ZOOM_STEPS = 3
MIN_WINDOW = 16
#: a second opinion on a dial the keypoints found in a picture far larger than the dial is
#: asked of a square this many times its radius around it (the panel model's search zooms
#: to a third of the region's sides at most) where that square is at most this share of
#: the picture's short side
DIAL_WINDOW = 2.4
SMALL_IN_REGION = 0.5
MIN_DIAL_WINDOW = float(INPUT)
#: a window in a crop: x, y, width, height in the crop's pixels
Window = Tuple[int, int, int, int]
#: the panel model's ``ccw`` head this sure of counter-clockwise numbers: no measured scale
#: (real panel meters run clockwise; on the 20 real ones its logit is -8.4 to -0.2)
PANEL_CCW_SURE = 0.9
#: ``second_opinion``: two unsure readings whose needles lie further apart than this see
#: different things (``_needles_apart``, session 16) ...
NEEDLES_APART_DEG = 45.0
#: ... and the panel model's is then taken only where its confidence is at least this
APART_PANEL_SURE = 0.9
#: keypoints that found the needle but no scale (``unreadable`` with a needle direction),
#: this close to the panel model's unsure pointer, saw the same needle: the panel model's
#: reading, on its own scale, is taken. On the real panel meters under twelve camera looks
#: these 6 readings (4 of one meter) were 0.6-3.5 % off; held-out renders have none (session 16)
SAME_NEEDLE_DEG = 6.0
#: keypoints that read no value, and an unsure panel reading that at least this share of
#: its nine framings agree on (``reframed``: 8 of 9): the panel model's reading is taken.
#: On the real industrial photos under twelve camera looks, 24 such readings: 22 within
#: 0.2-3.4 %, two (one meter whose needle the model misplaces in every framing) 21-27 %;
#: at 7 of 9, 7 more: 3 of them 27-66 % off; on 2,000 held-out renders the 7-of-9 ones were a
#: hidden needle and a round dial 24 % off (session 17)
STEADY_SHARE = 0.85
#: why a rim-less dial the keypoints read ``ok`` is not, where the panel model could not read
#: it sure (``second_opinion``)
UNCONFIRMED_RIMLESS = "a dial without a round rim, unconfirmed: the panel model was not sure of it"


def prefers_pointer(
    choice: str, width: int, height: int, sweep: Optional[float], located: bool
) -> bool:
    """Whether ``reader: auto`` reads this region with the pointer model: a region known to
    hold one dial (an roi or box, or a picture of at most ``POINTER_MAX_SIDE`` px, roughly
    square) configured as a full-circle dial. Other scales, and scenes, go to the keypoints."""
    if choice != "auto":
        return choice == "pointer"
    if sweep is None or abs(sweep) < 360.0:
        return False
    square = max(width, height) <= 1.6 * min(width, height)
    return square and (located or max(width, height) <= POINTER_MAX_SIDE)


def wants_second_opinion(reading: Optional[GaugeReading]) -> bool:
    """Whether ``reader: auto`` also reads a keypoint-read region with the panel model: the
    keypoints found no dial there, read it less than sure, or read it on a scale of their
    own on a dial without a round rim (``extra["rimless_scale"]``: a panel meter, whose
    scale ends nothing checks against a round face). Round dials read ``ok`` are left
    alone: on held-out round dials the panel model is sure only where the keypoints are
    too, and then wrong (bench/results/gauge.md, session 11). Rim-less ones are not: on the
    22 real industrial dials, only min/max, the ``ok`` readings were 2.05 % off as
    photographed and 3.00 % as one part of a larger picture (p19 8.2 %, p13 5.1 %); with
    the panel model asked of those too, 1.59 and 1.70 %, and all readings pooled over twelve
    camera looks 3.10 -> 2.87 % (session 20). With the scale configured they are not asked:
    the needle, measured in the pixels, is all the keypoints read there, and the panel model
    read those worse (pooled 2.66 -> 2.90 %)."""
    if reading is None or reading.quality != "ok":
        return True
    return bool(reading.extra.get("rimless_scale"))


def second_opinion(
    keypoints: Optional[GaugeReading], panel: GaugeReading
) -> Optional[GaugeReading]:
    """The panel model's reading of the region where it is sure of it (``ok``), or where it
    is unsure but has a value and the keypoints' value is no surer (``_unsure``) and the two
    do not see the needle in different places
    (``_needles_apart``; if they do, ``unreadable``: ``_disputed``), or where the keypoints
    found the needle but no scale to read it on and the panel model sees the same needle
    (``SAME_NEEDLE_DEG``), or where the keypoints read no value and the panel model's
    unsure reading holds when its crop is framed a little differently (``_steady``, not
    more than ``NEEDLES_APART_DEG`` from a needle the keypoints found); else the keypoints'.

    Sure: on 2,000 held-out renders given only min and max, 21 of the 22 such sure readings
    were of panel meters (one round dial, read 0.1 % off but unsure by the keypoints, went
    14 % off); on the 20 real panel meters it turned five 6.6-55 % keypoint readings and one
    unreadable into 0.7-2.7 % (bench/results/gauge.md, session 11). Unsure against unsure:
    on the real panel meters seen with twelve camera looks, the panel model's 37 such
    readings were 11.1 % off (median 1.8 %), the keypoints' 26.7 % (median 18.9 %) (session
    15); it says ``unreadable`` of round dials (the real pressure gauge in every look),
    which leaves those to the keypoints. A dial the keypoints cannot read at all stays
    unreadable unless the panel model is sure, sees the needle the keypoints saw, or is
    steady: its other unsure readings there were 22.6 % off, and their confidence did not
    tell the gross ones (session 16); the framings did (session 17). The panel model's
    ``out_of_range`` readings are never taken. A rim-less dial the keypoints read ``ok``
    (``wants_second_opinion``) is weighed as unsure where the panel model is not sure
    (``_unconfirmed``), and stays ``low_confidence`` where the panel model reads no usable
    value."""
    if panel.quality == "ok":
        return _taken(panel, keypoints)
    if keypoints is not None and keypoints.quality == "ok" and keypoints.extra.get("rimless_scale"):
        keypoints = _unconfirmed(keypoints)  # weighed as unsure from here on
    if panel.quality != "low_confidence":
        return keypoints
    gap = None if keypoints is None else _needle_gap(keypoints, panel)
    if keypoints is not None and _unsure(keypoints):
        if _needles_apart(gap, panel):
            return _disputed(keypoints, gap)
        return _taken(panel, keypoints)
    if keypoints is not None and keypoints.value is not None:
        return keypoints
    if gap is not None and gap <= SAME_NEEDLE_DEG:
        return _taken(panel, keypoints)  # the needle the keypoints found, on the panel's scale
    if _steady(panel) and (gap is None or gap <= NEEDLES_APART_DEG):
        return _taken(panel, keypoints)
    return keypoints


def _steady(panel: GaugeReading) -> bool:
    """Whether at least ``STEADY_SHARE`` of the framings the panel reading was read in
    (``PointerReader.read_reframed``) agree on its value; a reading not so checked is not."""
    return float(panel.extra.get("views_agree", 0.0)) >= STEADY_SHARE


def _unsure(keypoints: GaugeReading) -> bool:
    """Whether the keypoints read a value but doubt it (``low_confidence``,
    ``out_of_range``), or read the needle on a scale of their own that contradicts itself
    (``unreadable``, ``decode.QUARTER_UNREADABLE``): an unsure panel reading is weighed
    against either alike."""
    unsure = keypoints.quality in ("low_confidence", "out_of_range")
    return unsure or bool(keypoints.extra.get("scale_contradicts"))


def _unconfirmed(keypoints: GaugeReading) -> GaugeReading:
    """A rim-less dial's ``ok`` keypoint reading on the keypoints' own scale that the panel
    model was not sure of: ``low_confidence`` (``UNCONFIRMED_RIMLESS``), then weighed as
    any unsure one."""
    extra = dict(keypoints.extra, keypoints_quality=keypoints.quality, why=UNCONFIRMED_RIMLESS)
    return replace(keypoints, quality="low_confidence", extra=extra)


def _keypoints_quality(keypoints: GaugeReading) -> str:
    """The quality the keypoints read with (an ``_unconfirmed`` reading's before it was)."""
    return str(keypoints.extra.get("keypoints_quality", keypoints.quality))


def _taken(panel: GaugeReading, keypoints: Optional[GaugeReading]) -> GaugeReading:
    """``panel``, noting what the keypoints said."""
    said = "unreadable" if keypoints is None else _keypoints_quality(keypoints)
    panel.extra["keypoints_quality"] = said
    return panel


def _needle_gap(keypoints: GaugeReading, panel: GaugeReading) -> Optional[float]:
    """Degrees between the two readings' needles as the picture shows them (the keypoints'
    ``needle_picture_angle``: their ``angle_deg`` is corrected for a tilted dial, which turns
    it by up to 22 degrees, the panel model's is the picture's), None without both."""
    seen = keypoints.extra.get("needle_picture_angle", keypoints.angle_deg)
    if seen is None or panel.angle_deg is None:
        return None
    return angle_between(float(seen), panel.angle_deg)


def _needles_apart(gap: Optional[float], panel: GaugeReading) -> bool:
    """Whether two unsure readings see the needle more than ``NEEDLES_APART_DEG`` apart
    (``gap``) while the panel reading's confidence is under ``APART_PANEL_SURE``: one of
    them read something else for the needle, and nothing says which. On the real industrial
    photos under twelve camera looks 11 of 264 readings were so far apart: the 5 where the
    panel reading's confidence was lower were 3.6-71 % off (mean 45 %), the 6 where it was
    higher 0.9-4.0 % (taken); on 2,000 held-out renders given only min and max, 5, all
    lower, 7-94 % off (session 16)."""
    return gap is not None and gap > NEEDLES_APART_DEG and panel.confidence < APART_PANEL_SURE


def _disputed(keypoints: GaugeReading, gap: float) -> GaugeReading:
    """``unreadable``: the keypoints' reading without its value, the needles' ``gap`` noted."""
    extra = dict(keypoints.extra)
    extra.update(
        needles_disputed=True,
        needles_apart=round(gap, 2),
        keypoints_quality=_keypoints_quality(keypoints),
        why=f"the keypoint and panel models, both unsure, see the needle {gap:.0f} degrees apart",
    )
    return replace(keypoints, value=None, quality="unreadable", fraction=None, extra=extra)


def with_second_opinion(
    panel: Optional[PointerReader],
    keypoints: Optional[GaugeReading],
    region: np.ndarray,
    opts: Any,
    origin: Tuple[float, float] = (0.0, 0.0),
    around_dial: bool = True,
) -> Optional[GaugeReading]:
    """``keypoints``, the reading of one ``region`` (``origin``: its top-left corner in the
    frame), after ``panel``'s second opinion where it wants one and can give one (a pipeline
    asks its dials' in one batch instead): of the window around the dial where it is small
    in the region (``dial_window``; not with ``around_dial`` false: a configured roi is
    asked about as it is), and of the region where that gives no value."""
    if panel is None or not panel.can_read(opts) or not wants_second_opinion(keypoints):
        return keypoints
    window, at = dial_window(keypoints, region, origin) if around_dial else (region, origin)
    opinion = panel.read_reframed([window], [opts], [at])[0]
    if window_fell_short(window, region, opinion):
        opinion = panel.read_reframed([region], [opts], [origin])[0]
    return second_opinion(keypoints, opinion)


def window_fell_short(
    window: np.ndarray, region: np.ndarray, opinion: Optional[GaugeReading]
) -> bool:
    """Whether the panel model, asked about a ``dial_window`` of ``region``, is to be asked
    about the whole region: the window gave no value (it may have cut the meter off)."""
    return window is not region and opinion is not None and opinion.value is None


def dial_window(
    keypoints: Optional[GaugeReading], region: np.ndarray, origin: Tuple[float, float]
) -> Tuple[np.ndarray, Tuple[float, float]]:
    """Where the panel model is asked about the dial the keypoints found in ``region``: a
    square ``DIAL_WINDOW`` times the dial's radius around its centre (cut at the region's
    edges), where that is at most ``SMALL_IN_REGION`` of the region's short side and at
    least ``MIN_DIAL_WINDOW`` on each side, else the region itself (with its origin in the
    frame)."""
    if keypoints is None or not keypoints.radius or "center" not in keypoints.keypoints:
        return region, origin
    side = DIAL_WINDOW * float(keypoints.radius)
    h, w = region.shape[:2]
    if side > SMALL_IN_REGION * min(h, w) or side < MIN_DIAL_WINDOW:
        return region, origin
    cx = keypoints.keypoints["center"][0] - origin[0]
    cy = keypoints.keypoints["center"][1] - origin[1]
    x0, y0 = max(0, int(round(cx - side / 2))), max(0, int(round(cy - side / 2)))
    x1, y1 = min(w, int(round(cx + side / 2))), min(h, int(round(cy + side / 2)))
    if min(x1 - x0, y1 - y0) < MIN_DIAL_WINDOW:  # (cut by the region's edge, too)
        return region, origin
    return region[y0:y1, x0:x1], (origin[0] + x0, origin[1] + y0)


class PointerModel(EngineModel):
    """The pointer network behind one seam: ``model(batch) -> (pointer, zero, ccw)`` logits;
    ``name`` labels its engine in logs and errors (``gauge-panel`` for the panel model)."""

    outputs = HEADS

    def __init__(
        self,
        path: str = DEFAULT_POINTER_MODEL,
        backend: str = "onnxruntime",
        threads: int = 1,
        triton: Any = None,
        name: str = "gauge-pointer",
    ):
        shapes = {
            "image": {"min": [1, 3, INPUT, INPUT], "opt": [4, 3, INPUT, INPUT],
                      "max": [MAX_BATCH, 3, INPUT, INPUT]}
        }  # fmt: skip
        super().__init__(path, backend, threads, shapes, name, triton)
        if END in {spec.name for spec in self.engine.outputs}:
            self.outputs = (*HEADS, END)

    @property
    def measures_end(self) -> bool:
        """Whether the model measures where the scale ends (the panel model: a panel meter
        configured with only min and max can be read)."""
        return END in self.outputs


class PointerReader:
    """Read crops of single dials with the pointer model (tight ones; the panel model's it
    searches for the meter where it reads them unsure)."""

    def __init__(
        self,
        model: Any,
        refine_zero: bool = True,
        flip: bool = True,
        kind: str = "pointer",
        search: Optional[bool] = None,
    ):
        """``flip`` reads each crop's mirror image too and averages the two views where they
        agree (``FLIP_AGREE_DEG``; on validation renders: mean error 1.51 -> 1.45 % of span,
        for 1.2 ms more per crop); ``refine_zero`` see the module;
        ``kind`` names the model in each reading's ``extra["reader"]`` (``pointer`` for
        sub-dials, ``panel`` for the panel-meter model, which runs here too, its readings
        ``low_confidence`` below ``PANEL_SURE``); ``search``: a crop read less than sure is
        searched for the meter in it (``_searched``; by default the panel model's are, a
        sub-dial crop is the dial)."""
        self.model = model
        self.refine_zero = refine_zero
        self.flip = flip
        self.kind = kind
        self.sure = PANEL_SURE if kind == "panel" else 0.0
        self.search = kind == "panel" if search is None else search

    def can_read(self, opts: Any) -> bool:
        """Whether this reader has a scale for ``opts``: the panel model needs a configured
        one, or an ``end`` head to measure it (sub-dials are full circles without one)."""
        measures_end = getattr(self.model, "measures_end", True)
        return self.kind != "panel" or opts.sweep is not None or measures_end

    def read_crops(
        self,
        crops: Sequence[np.ndarray],
        options: Sequence[Any],
        origins: Optional[Sequence[Tuple[float, float]]] = None,
        remembered: Optional[Sequence[Optional[Window]]] = None,
    ) -> List[GaugeReading]:
        """One reading per crop, each with its ``ReadOptions``-like scale; ``origins`` are the
        crops' top-left corners in the frame (keypoints are reported in frame pixels); where
        ``self.search``, a crop read less than sure is searched for the meter in it.
        ``remembered``: per crop, the window (x, y, w, h, in the crop's pixels) where the
        last search found the meter and read it sure, or None; a crop read unsure is read
        there first (``_recalled``), and searched only where that window does not read sure.
        An under-exposed crop is brightened first (``exposure.brighten``)."""
        origins = _origins(crops, origins, remembered)
        return self._read_lit(_Crops([brighten(c) for c in crops], options, origins), remembered)

    def _read_lit(
        self, batch: _Crops, remembered: Optional[Sequence[Optional[Window]]] = None
    ) -> List[GaugeReading]:
        """``read_crops`` of crops already brightened (a crop's framings keep the crop's
        gain: brightened again, a crop darker than ``exposure.MAX_GAIN`` can lift would get
        a second gain on top of the first)."""
        if not batch.images:
            return []
        readings = self._read_batch(batch)
        if not self.search:
            return readings
        if remembered is not None:
            readings = self._recalled(batch, readings, remembered)
        return self._searched(batch, readings)

    def read_reframed(
        self,
        crops: Sequence[np.ndarray],
        options: Sequence[Any],
        origins: Optional[Sequence[Tuple[float, float]]] = None,
        remembered: Optional[Sequence[Optional[Window]]] = None,
    ) -> List[GaugeReading]:
        """``read_crops``, and each ``low_confidence`` reading checked against its crop's
        other ``reframed.reframings`` (read in one call, each searched as a crop is): the
        readings ``agreed`` on, with how many framings agree (``extra["views_agree"]``). An
        unsure second opinion that a camera nudged a little would overturn is no opinion;
        a sure one is taken as it is (``second_opinion``), and one without a usable value
        is no opinion anyway, so neither costs anything more. Each
        framing is searched on its own: framings of the one window a search found agree on
        what that window shows, right or wrong (real panel meters under twelve looks:
        pooled mean 3.54 % searched each, 5.49 % that window reframed, both taking 7 of 9;
        session 17)."""
        origins = _origins(crops, origins, remembered)
        crops = [brighten(crop) for crop in crops]  # once: its framings keep the gain
        own = self._read_lit(_Crops(crops, options, origins), remembered)
        unsure = [i for i, reading in enumerate(own) if _checkable(reading)]
        framings = {i: reframings(crops[i]) for i in unsure}
        images, opts_of, places = [], [], []
        for i in unsure:
            for f in framings[i][1:]:
                images.append(f.image)
                opts_of.append(framed_options(options[i], f))
                places.append((origins[i][0] + f.offset[0], origins[i][1] + f.offset[1]))
        others = self._read_lit(_Crops(images, opts_of, places))
        out, first = list(own), 0
        for i in unsure:
            n = len(framings[i]) - 1
            h, w = crops[i].shape[:2]
            centre = (origins[i][0] + w / 2.0, origins[i][1] + h / 2.0)
            views = [
                unturned(reading, f, centre)
                for reading, f in zip(others[first : first + n], framings[i][1:])
            ]
            out[i] = agreed([own[i], *views], value_range(options[i]))
            first += n
        return out

    def _recalled(
        self,
        batch: _Crops,
        readings: List[GaugeReading],
        remembered: Sequence[Optional[Window]],
    ) -> List[GaugeReading]:
        """``readings``, where one is not ``ok``, replaced by the reading of its remembered
        window where that reads ``ok`` (marked ``extra["window_remembered"]``). A fixed
        camera's meter stays where the last search found it: one window read (in one
        batch for all crops) instead of up to ``5 * ZOOM_STEPS``, and the reading's window and
        ``center`` keypoint stay put from frame to frame instead of jumping between windows
        the search finds about as sure."""
        tried = [
            (i, window)
            for i, window in enumerate(remembered)
            if window is not None
            and readings[i].quality != "ok"
            and _inside(window, batch.images[i].shape[1], batch.images[i].shape[0])
        ]
        readings = list(readings)
        for (i, _), reading in zip(tried, self._read_windows(batch, tried)):
            if reading.quality == "ok":
                reading.extra["window_remembered"] = True
                readings[i] = reading
        return readings

    def _searched(self, batch: _Crops, readings: List[GaugeReading]) -> List[GaugeReading]:
        """``readings``, where one is not ``ok``, replaced by the surest reading of a window in
        its crop: ``ZOOM_STEPS`` times, the five windows ``ZOOM`` the size of the last one
        (its corners and its middle) are read, in one batch for all crops, and the surest is
        kept and zoomed into while it has a value and is surer than what it replaces
        (``_search_rank``: a value before none, two views that agree before two that do
        not, then the confidence). The model learnt crops the meter's scale fills; a crop with room
        around the meter (a loose roi, a photo of a meter on its panel) it reads unsure, or
        sure of a wrong scale (bench/results/gauge.md, session 13). The window read is
        ``extra["window"]`` (x, y, w, h, frame pixels). ``reader: auto`` asks the panel
        model about round dials too, whose windows the first panel model was often sure of,
        and wrong; the shipped one learnt to be unsure of them (``pointer_train
        --negatives``)."""
        windows = {
            i: (0, 0, c.shape[1], c.shape[0])
            for i, c in enumerate(batch.images)
            if readings[i].quality != "ok"
        }
        for _ in range(ZOOM_STEPS):
            tried = [(i, sub) for i, win in windows.items() for sub in _sub_windows(win)]
            if not tried:
                break
            surer = {}
            for (i, win), reading in zip(tried, self._read_windows(batch, tried)):
                # a window without a value is no answer, however sure: the search stops
                # there (a round dial, which the panel model is unsure of, costs one step)
                if reading.value is not None and _search_rank(reading) > _search_rank(readings[i]):
                    readings[i], surer[i] = reading, win
            windows = surer
        return readings

    def _read_windows(
        self, batch: _Crops, tried: Sequence[Tuple[int, Window]]
    ) -> List[GaugeReading]:
        """The readings of windows ``(i, (x, y, w, h))`` of crop ``i``, in one batch, each
        saying which window it read: ``extra["window"]``, in frame pixels."""
        if not tried:
            return []
        windows = batch.windows(tried)
        readings = self._read_batch(windows)
        for (_, (_, _, w, h)), (x, y), reading in zip(tried, windows.origins, readings):
            reading.extra["window"] = [x, y, w, h]
        return readings

    def _read_batch(self, batch: _Crops) -> List[GaugeReading]:
        """One reading per crop, in one batch (``read_crops`` without the search)."""
        inputs = np.stack([model_input(c) for c in batch.images])
        heads, disagree = self._heads(inputs)
        out = []
        for i, (crop, opts, origin) in enumerate(zip(*batch)):
            h, w = crop.shape[:2]
            out.append(
                self._reading([head[i] for head in heads], opts, w, h, origin, bool(disagree[i]))
            )
        return out

    def _heads(self, inputs: np.ndarray) -> Tuple[List[np.ndarray], np.ndarray]:
        """The model's outputs for a batch (``HEADS``, and ``end`` from the panel model) and
        which crops' views disagree; with ``flip`` averaged with the mirrored crops' (their
        classes mirrored back) where the two views' pointers agree, else the crop's own."""
        heads = list(call_in_chunks(self.model, inputs, MAX_BATCH))
        if not self.flip:
            return heads, np.zeros(len(inputs), bool)
        mirrored = call_in_chunks(
            self.model, np.ascontiguousarray(inputs[:, :, :, ::-1]), MAX_BATCH
        )
        disagree = _views_apart(heads[0], mirrored[0]) > FLIP_AGREE_DEG
        averaged = [
            (a - b) / 2.0 if k == CCW else _mean_of_mirrored(a, b)
            for k, (a, b) in enumerate(zip(heads, mirrored))
        ]
        return [np.where(_rows(disagree, a), a, m) for a, m in zip(heads, averaged)], disagree

    def _reading(
        self,
        heads: Sequence[np.ndarray],
        opts: Any,
        w: int,
        h: int,
        origin: Tuple[float, float],
        views_disagree: bool = False,
    ) -> GaugeReading:
        """One crop's reading from its heads; ``views_disagree``: they are the crop's own
        view's, its mirror image having seen the pointer elsewhere, so never ``ok`` (on
        validation renders such readings were 16-30 % of span off)."""
        # the model saw the crop squashed to a square: directions back into the crop's shape
        p = decode_bins(heads[0])
        angle = _unsquash(p.angle, w, h)
        end = None
        if len(heads) > len(HEADS):  # the panel model: the scale's two ends, clockwise
            z, e = decode_arc(heads[1], heads[len(HEADS)], MIN_MEASURED_SWEEP, MAX_MEASURED_SWEEP)
            end = DirectionEstimate(_unsquash(e.angle, w, h), e.confidence)
        else:
            z = decode_bins(heads[1])
        zero = DirectionEstimate(_unsquash(z.angle, w, h), z.confidence)
        start, sweep, scale_confidence, scale_note = self._scale(
            opts, zero, float(heads[CCW][0]), end
        )
        cx, cy = origin[0] + w / 2.0, origin[1] + h / 2.0
        tip = point_at(cx, cy, 0.35 * min(w, h), angle)
        kps = {"center": [cx, cy, p.confidence], "tip": [tip[0], tip[1], p.confidence]}
        extra = {"reader": self.kind, "zero_angle": zero.angle, "zero_confidence": z.confidence}
        if end is not None:
            extra.update(end_angle=end.angle, end_confidence=end.confidence)
        if views_disagree:
            extra["views_disagree"] = True
        extra.update(scale_note)
        if p.confidence < UNREADABLE_BELOW or sweep is None:
            extra["why"] = (
                "the pointer's direction is unsure"
                if sweep is not None
                else f"no scale ({extra['scale']})"
            )
            sure = p.confidence if sweep is not None else p.confidence * scale_confidence
            return GaugeReading(None, sure, "unreadable", angle, kps, extra=extra)
        scale = Scale(start, sweep, opts.min_value, opts.max_value, opts.table)
        fraction, in_range = scale.angle_to_fraction(angle, 4.0)
        confidence = p.confidence * scale_confidence
        quality = "ok"
        if not in_range:
            quality, extra["why"] = "out_of_range", "the pointer points outside the scale"
        elif views_disagree:
            quality = "low_confidence"
            extra["why"] = "the crop and its mirror image see the pointer apart"
        elif p.confidence < self.sure:
            quality, extra["why"] = "low_confidence", "the panel model is unsure of the meter"
        elif confidence < opts.min_confidence:
            quality, extra["why"] = "low_confidence", "the pointer's direction or scale is unsure"
        return GaugeReading(
            scale.value_of_fraction(fraction),
            confidence,
            quality,
            angle,
            kps,
            start_angle=start,
            sweep=sweep,
            fraction=fraction,
            radius=0.5 * min(w, h),
            extra=extra,
        )

    def _scale(
        self,
        opts: Any,
        zero: DirectionEstimate,
        ccw_logit: float,
        end: Optional[DirectionEstimate],
    ) -> Tuple[float, Optional[float], float, Dict[str, str]]:
        """``(start, sweep, confidence, note)``: the configured scale, its start moved onto the
        measured zero where the two clearly differ but agree roughly; else the model's own
        scale (``_measured``). A sweep of None: no scale to read on."""
        if opts.start_angle is None or opts.sweep is None:
            if end is None and self.kind == "panel":  # a panel meter is no full circle
                return zero.angle, None, 0.0, {"scale": "not configured, no end measured"}
            return _measured(zero, ccw_logit, end, getattr(opts, "snap_sweep", True))
        start, sweep = float(opts.start_angle), float(opts.sweep)
        off = angle_between(zero.angle, start)
        turned = ZERO_MIN_OFFSET_DEG <= off <= ZERO_SNAP_DEG
        sure = zero.confidence >= ZERO_MIN_CONFIDENCE
        if self.refine_zero and abs(sweep) >= 360.0 and turned and sure:
            return zero.angle % 360.0, sweep, 1.0, {"scale": "configured, start refined"}
        return start, sweep, 1.0, {"scale": "configured"}


def _measured(
    zero: DirectionEstimate, ccw_logit: float, end: Optional[DirectionEstimate], snap: bool
) -> Tuple[float, Optional[float], float, Dict[str, str]]:
    """The scale the model sees: from the panel model, the clockwise arc from the zero to
    the ``end`` (snapped to a standard sweep with ``snap``), as sure as the model is of both
    ends (none below ``UNREADABLE_BELOW``), and not at all where its ``ccw`` head leans to
    counter-clockwise numbers (none where it is sure of them: such a meter needs its scale
    configured); from a model that measures no end, the full circle from the zero
    (sub-dials), as sure as it is of the zero and the direction."""
    if end is None:
        direction_sure = abs(2.0 / (1.0 + math.exp(-ccw_logit)) - 1.0)
        sweep = -360.0 if ccw_logit > 0 else 360.0
        return zero.angle, sweep, zero.confidence * direction_sure, {"scale": "model"}
    clockwise = 1.0 / (1.0 + math.exp(ccw_logit))
    if clockwise < 1.0 - PANEL_CCW_SURE:
        note = "model: counter-clockwise numbers (configure start_angle/sweep)"
        return zero.angle, None, 0.0, {"scale": note}
    sure = min(zero.confidence, end.confidence)
    if sure < UNREADABLE_BELOW:  # no two ends the model is sure of: no scale to read on
        return zero.angle, None, sure, {"scale": "model: no clockwise scale seen"}
    start, sweep = zero.angle, (end.angle - zero.angle) % 360.0
    if sweep < MIN_MEASURED_SWEEP:  # the two peaks are one: no scale either
        return zero.angle, None, 0.0, {"scale": "model: its ends not told apart"}
    if snap:
        start, sweep = snap_sweep(start, sweep)
    if clockwise < 0.5:  # read on the clockwise arc, but the model leans the other way
        return start, sweep, 0.0, {"scale": "model, direction unsure"}
    return start, sweep, sure, {"scale": "model"}


def _search_rank(reading: GaugeReading) -> Tuple[bool, bool, float]:
    """How the search orders two readings of one meter: one with a value before one
    without (an unreadable reading's confidence is its pointer's alone, a readable one's
    that times its scale's: they do not compare), one whose two views agree before one whose
    do not (such readings were 16-30 % off on validation renders), then the surer."""
    agree = not reading.extra.get("views_disagree", False)
    return reading.value is not None, agree, reading.confidence


class _Crops(NamedTuple):
    """Crops read together: each with its ``ReadOptions``-like scale and its top-left corner
    in the frame."""

    images: Sequence[np.ndarray]
    options: Sequence[Any]
    origins: Sequence[Tuple[float, float]]

    def windows(self, tried: Sequence[Tuple[int, Window]]) -> _Crops:
        """Windows ``(i, (x, y, w, h))`` of crop ``i`` as crops of their own."""
        return _Crops(
            [self.images[i][y : y + h, x : x + w] for i, (x, y, w, h) in tried],
            [self.options[i] for i, _ in tried],
            [(self.origins[i][0] + x, self.origins[i][1] + y) for i, (x, y, _, _) in tried],
        )


def _origins(
    crops: Sequence[np.ndarray],
    origins: Optional[Sequence[Tuple[float, float]]],
    remembered: Optional[Sequence[Optional[Window]]],
) -> List[Tuple[float, float]]:
    """The crops' top-left corners in the frame (none given: the crops are the frames),
    once ``remembered`` is checked to hold a window, or None, for each crop."""
    if remembered is not None and len(remembered) != len(crops):
        raise ValueError(
            f"{len(remembered)} remembered windows for {len(crops)} crops: give one per "
            "crop (None where there is none)"
        )
    return list(origins) if origins is not None else [(0.0, 0.0)] * len(crops)


def _checkable(reading: GaugeReading) -> bool:
    """Whether a reading is worth checking against its crop's other framings: an unsure
    value (``agreed`` leaves a sure reading, and one without a usable value, as they are)."""
    return reading.quality == "low_confidence" and reading.value is not None


def _inside(window: Window, width: int, height: int) -> bool:
    """Whether ``window`` lies in a ``width`` x ``height`` crop and is no smaller than the
    search's smallest (a remembered window of a crop whose size changed need not)."""
    x, y, w, h = window
    return min(w, h) >= MIN_WINDOW and x >= 0 and y >= 0 and x + w <= width and y + h <= height


def _sub_windows(window: Window) -> List[Window]:
    """The five windows ``ZOOM`` the size of ``window`` (x, y, w, h) at its corners and in its
    middle; none once they would be smaller than ``MIN_WINDOW`` px."""
    x, y, w, h = window
    sw, sh = round(w * ZOOM), round(h * ZOOM)
    if min(sw, sh) < MIN_WINDOW:
        return []
    places = ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (0.5, 0.5))
    return [(x + round((w - sw) * fx), y + round((h - sh) * fy), sw, sh) for fx, fy in places]


def _views_apart(logits: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """Per crop, degrees between the pointer a crop's view and its mirror image's see."""
    own = np.array([decode_bins(row).angle for row in logits])
    other = np.array([decode_bins(row[::-1]).angle for row in mirrored])
    return np.abs((own - other + 180.0) % 360.0 - 180.0)


def _rows(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``mask`` (one flag per crop) shaped to select whole rows of ``like``."""
    return mask.reshape((-1,) + (1,) * (like.ndim - 1))


def _mean_of_mirrored(logits: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """Log of the mean class probabilities of a crop and its mirror image (class k of the
    mirror is class ``BINS - 1 - k`` here): two views that disagree spread the mass."""
    return np.log((softmax(logits) + softmax(mirrored[:, ::-1])) / 2.0 + 1e-12)


def _unsquash(angle: float, w: int, h: int) -> float:
    """A direction measured in the square model input, in the ``w`` x ``h`` crop."""
    if w == h:
        return angle
    dx, dy = direction(angle)
    return angle_of(dx * w, dy * h)
