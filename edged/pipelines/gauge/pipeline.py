"""``kind: gauge``: read the configured gauges in each frame, one ``edged.gauge/1`` message each.

Gauges with an ``roi`` are looked for inside it only (fixed cameras); those the
pointer model reads (``reader: pointer``, or ``auto`` on a full-circle dial, see
``pointer_reader.prefers_pointer``) and the panel meters the panel model reads
(``reader: panel``) are read from the roi as a whole. A keypoint-read dial
with an roi (or a pipeline's only gauge, whose roi is the frame, as the picture is to
``edged read-gauge``) and ``reader: auto`` that the keypoints read unsure, or not at
all, or on a scale of their own without finding a round rim (a panel meter),
is read from its roi by the panel model too, whose reading replaces the
keypoints' where it is sure, or where both are unsure and see the needle in about the
same place (``pointer_reader.second_opinion``; far apart: ``unreadable``), or where the
keypoints read nothing and the panel model's unsure reading holds in the roi framed a
little differently (``PointerReader.read_reframed``). The rest
share one search of the whole frame; detected dials are matched to them by
``position`` (nearest centre) when given, otherwise in reading order (rows top
to bottom, left to right). A configured gauge with no dial found is reported
``unreadable`` with a null value, never a made-up number. An under-exposed frame (night)
is brightened before the dials' models and needle search see it, and each roi by its own
gain (a dial in shadow in a lit frame: ``exposure.brighten``); displays and the preview
see the frame as the camera sent it.

Digital gauges (``type: digital``) are seven-segment displays, read from their
``roi`` by the display model (loaded only when one is configured), all in one
batch: the message carries what the display shows as ``text``, and its number
as ``value`` (``display_payload`` says when a reading is not ``ok``).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional, Set, Tuple, Union

import numpy as np

from edged.config.gauge import DigitalGaugeConfig, GaugeConfig, GaugePipelineConfig
from edged.cvutil import import_cv2
from edged.engines.errors import EngineError, ModelLoadError
from edged.frames import Frame
from edged.pipelines.base import Pipeline
from edged.pipelines.display.reader import DisplayModel, DisplayReader, DisplayReading
from edged.pipelines.gauge.angles import point_at
from edged.pipelines.gauge.decode import Detection, read_detection
from edged.pipelines.gauge.exposure import brighten
from edged.pipelines.gauge.pointer_reader import (
    PointerModel,
    PointerReader,
    Window,
    dial_window,
    prefers_pointer,
    second_opinion,
    wants_second_opinion,
    window_fell_short,
)
from edged.pipelines.gauge.reader import (
    GaugeReader,
    KeypointModel,
    ReadOptions,
    ScaleDirectionModel,
    roi_region,
)
from edged.pipelines.gauge.reading import NOT_FOUND, GaugeReading, GaugeTracker
from edged.pipelines.gauge.scale_direction import CCW_SURE, TELLS_APART, larger_end
from edged.results import Result
from edged.weights import resolve_model

log = logging.getLogger("edged.pipelines.gauge")

#: a panel meter's remembered window (``GaugePipeline.panel_windows``) is read instead of a
#: search for at most this many frames in a row, then searched afresh: a window the search
#: chose wrongly, and that keeps reading sure as the needle moves, is not kept for good
#: (bench/panel_frames.py; bench/results/gauge.md, session 14)
REMEMBER_FRAMES = 5
#: a dial with an roi's ``why`` (in its message) when nothing was found to read there
NOT_FOUND_IN_ROI = f"{NOT_FOUND} in its roi (or the roi lies outside the frame)"

__all__ = [
    "GaugePipeline",
    "assign_detections",
    "display_payload",
    "display_quality",
    "reading_payload",
    "resolve_model",
]


def assign_detections(
    gauges: List[GaugeConfig], dets: List[Detection]
) -> Dict[str, Optional[Detection]]:
    """Match dials found in the whole frame to the gauges without an roi."""
    out: Dict[str, Optional[Detection]] = {g.id: None for g in gauges}
    free = list(range(len(dets)))
    pairs: List[Tuple[float, str, int]] = []
    for g in gauges:
        if g.position is not None:
            for i in free:
                c = dets[i].center
                pairs.append((math.hypot(c[0] - g.position[0], c[1] - g.position[1]), g.id, i))
    pairs.sort()
    for dist, gid, i in pairs:
        if out[gid] is None and i in free and dist < 3.0 * max(8.0, dets[i].radius()):
            out[gid] = dets[i]
            free.remove(i)
    rest = [g for g in gauges if g.position is None]
    if rest and free:
        # reading order: rows (by centre height, in bands of one dial radius), then left to right
        band = max(8.0, float(np.median([dets[i].radius() for i in free])))
        order = sorted(
            free, key=lambda i: (round(dets[i].center[1] / (2 * band)), dets[i].center[0])
        )
        for g, i in zip(rest, order):
            out[g.id] = dets[i]
    return out


def reading_payload(gauge: GaugeConfig, reading: GaugeReading) -> Dict[str, Any]:
    """One entry of the result's ``gauges`` list: exactly the ``edged.gauge/1`` fields."""
    kp = reading.keypoints
    keypoints = None
    if "center" in kp and "tip" in kp:
        c = kp["center"]
        pts: Dict[str, List[float]] = {"center": c[:2], "tip": kp["tip"][:2]}
        r = reading.radius or math.hypot(kp["tip"][0] - c[0], kp["tip"][1] - c[1])
        for name, src, frac in (("scale_start", "start", 0.0), ("scale_end", "end", 1.0)):
            if src in kp and gauge.start_angle is None:
                pts[name] = kp[src][:2]
            elif reading.start_angle is not None and reading.sweep is not None:
                pts[name] = list(
                    point_at(c[0], c[1], 0.8 * r, reading.start_angle + reading.sweep * frac)
                )
        if len(pts) == 4:
            keypoints = {k: [round(float(v[0]), 1), round(float(v[1]), 1)] for k, v in pts.items()}
    value = reading.value if reading.quality != "unreadable" else None
    payload = {
        "gauge_id": gauge.id,
        "value": None if value is None else round(float(value), 6),
        "unit": gauge.unit,
        "confidence": round(float(min(1.0, max(0.0, reading.confidence))), 3),
        "angle_deg": None if reading.angle_deg is None else round(float(reading.angle_deg), 2),
        "keypoints": keypoints,
        "quality": reading.quality,
    }
    if reading.why is not None:  # for the person behind a dashboard or SCADA
        payload["why"] = reading.why
    return payload


def display_quality(
    gauge: DigitalGaugeConfig, reading: Optional[DisplayReading]
) -> Tuple[str, Optional[float]]:
    """``(quality, value)`` of a display's reading, checked against its entry.

    ``unreadable`` (no value) when a character was not legible (or the roi is outside the
    frame), when the text is no number (dashes, a clock), or when it has another count of
    digits after the point than ``decimals``; ``out_of_range`` (with the value shown) when
    the value lies outside ``min``/``max``; else ``ok``.
    """
    if reading is None or reading.quality != "ok" or reading.text is None:
        return "unreadable", None
    value = reading.value
    if value is None:
        return "unreadable", None
    if gauge.decimals is not None:
        text = reading.text
        shown = len(text.split(".", 1)[1]) if "." in text else 0
        if shown != gauge.decimals:
            return "unreadable", None
    if (gauge.min is not None and value < gauge.min) or (
        gauge.max is not None and value > gauge.max
    ):
        return "out_of_range", value
    return "ok", value


def display_payload(gauge: DigitalGaugeConfig, reading: Optional[DisplayReading]) -> Dict[str, Any]:
    """One entry of the result's ``gauges`` list for a display: ``edged.gauge/1`` with ``text``."""
    quality, value = display_quality(gauge, reading)
    # no text read: no reading to be sure of (as a dial that was not found)
    confidence = 0.0 if reading is None or reading.text is None else reading.confidence
    return {
        "gauge_id": gauge.id,
        "value": None if value is None else round(float(value), 6),
        "unit": gauge.unit,
        "confidence": round(float(min(1.0, max(0.0, confidence))), 3),
        "angle_deg": None,
        "keypoints": None,
        "quality": quality,
        "text": None if reading is None else reading.text,
    }


class GaugePipeline(Pipeline):
    """Gauge reading with edged's models: dials (keypoints, pointer) and displays."""

    kind = "gauge"

    def __init__(
        self,
        config: GaugePipelineConfig,
        model: Any = None,
        pointer_model: Any = None,
        display_model: Any = None,
        direction_model: Any = None,
        panel_model: Any = None,
    ):
        super().__init__(config)
        # tests may hand in callables: (batch) -> (cmap, paf), (batch) -> (pointer, zero, ccw)
        # (the pointer and the panel model), (batch) -> (logits,) and (strips) -> (ccw,)
        self._model = model
        self._pointer_model = pointer_model
        self._panel_model = panel_model
        self._display_model = display_model
        self._direction_model = direction_model
        self.reader: Optional[GaugeReader] = None
        self.pointer_reader: Optional[PointerReader] = None
        self.panel_reader: Optional[PointerReader] = None
        self.display_reader: Optional[DisplayReader] = None
        self.dials: List[GaugeConfig] = [g for g in config.gauges if isinstance(g, GaugeConfig)]
        self.displays: List[DigitalGaugeConfig] = [
            g for g in config.gauges if isinstance(g, DigitalGaugeConfig)
        ]
        self.trackers = {
            g.id: GaugeTracker(g.smoothing, g.max_rate, wrap=_wrap(g)) for g in self.dials
        }
        self.by_pointer = {g.id for g in self.dials if _pointer_gauge(g)}
        self.by_panel = {g.id for g in self.dials if g.reader == "panel"}
        #: the dials read from their roi as a whole (by the pointer or the panel model)
        self.whole_roi = self.by_pointer | self.by_panel
        #: the keypoint-read dials that ``reader: auto`` gives the panel model a second
        #: opinion on (``wants_second_opinion``): those with an roi, and a pipeline's only
        #: gauge, a dial without an roi or ``position``, whose roi for this is the frame, as
        #: the picture is the dial's to ``edged read-gauge`` (beside other gauges, or picked
        #: by position among several dials, the frame is no one dial's region). ``open``
        #: keeps those its panel model can read (none where it fails to load: ``panel_error``)
        self.panel_asked = {
            g.id
            for g in self.dials
            if config.panel_second_opinion
            and g.reader == "auto"
            and g.id not in self.whole_roi
            and (g.roi is not None or (g.position is None and len(config.gauges) == 1))
        }
        self.panel_opinion: Set[str] = set()
        self.panel_error: Optional[str] = None
        #: keypoint-read dials with no configured scale whose ends' numbers differ in size:
        #: the direction model says which way they run
        self.unscaled = {
            g.id
            for g in self.dials
            if config.direction_model is not None
            and g.id not in self.whole_roi
            and g.start_angle is None
            and larger_end(g.min_value, g.max_value, TELLS_APART) is not None
        }
        self.direction_error: Optional[str] = None
        #: per dial, the direction model's last sure answer: kept through unsure frames, so a
        #: reading does not jump between a value and its mirror image from frame to frame
        self.sure_larger_first: Dict[str, float] = {}
        #: per dial, the window of its roi (in the roi's pixels) where the panel model last
        #: read the meter sure after a search, read first next frame
        #: (``PointerReader.read_crops``, and ``read_reframed`` for a second opinion, whose
        #: other framings are searched afresh), and the frames in a row it has been read from
        #: there since (``REMEMBER_FRAMES``). Keyed by dial: a pipeline fed by several
        #: cameras tries one camera's window on the next (a window is kept only where it
        #: reads sure, so this costs a read, not a wrong value)
        self.panel_windows: Dict[str, Tuple[Window, int]] = {}

    def open(self) -> None:
        config = self.config
        if self._model is None and len(self.whole_roi) < len(self.dials):
            self._model = KeypointModel(
                resolve_model(config.model), config.backend, config.threads, config.triton
            )
        if self._pointer_model is None and self.by_pointer:
            self._pointer_model = PointerModel(
                resolve_model(config.pointer_model), config.backend, config.threads, config.triton
            )
        if self._panel_model is None and self.by_panel:
            self._panel_model = self._load_panel_model()
        elif self._panel_model is None and self.panel_asked:
            self._panel_model = self._load_second_opinion_model()
        if self._display_model is None and self.displays:
            self._display_model = DisplayModel(
                resolve_model(config.display_model), config.backend, config.threads, config.triton
            )
        if self._direction_model is None and self.unscaled:
            self._direction_model = self._load_direction_model()
        self.reader = None
        if self._model is not None:
            self.reader = GaugeReader(self._model, direction=self._direction_model)
        if self._pointer_model is not None:
            self.pointer_reader = PointerReader(self._pointer_model)
        if self._panel_model is not None:
            self.panel_reader = PointerReader(self._panel_model, kind="panel")
            self._check_panel_scales()
            self.panel_opinion = {
                g.id
                for g in self.dials
                if g.id in self.panel_asked and self.panel_reader.can_read(_read_options(g))
            }
        if self._display_model is not None:
            self.display_reader = DisplayReader(self._display_model)

    def _check_panel_scales(self) -> None:
        """Refuse a panel model that measures no scale end (one trained before the ``end``
        head) for panel meters configured without start_angle/sweep: it cannot read them."""
        assert self.panel_reader is not None
        unscaled = sorted(
            g.id
            for g in self.dials
            if g.id in self.by_panel and not self.panel_reader.can_read(_read_options(g))
        )
        if unscaled:
            self.close()
            raise ModelLoadError(
                f"pipeline {self.config.id}: panel_model {self.config.panel_model} measures no "
                f"scale end, so gauges {', '.join(unscaled)} (no start_angle/sweep) cannot be "
                "read: set start_angle and sweep on them, or use the bundled panel model"
            )

    def _load_panel_model(self) -> Any:
        config = self.config
        return PointerModel(
            resolve_model(config.panel_model),
            config.backend,
            config.threads,
            config.triton,
            name="gauge-panel",
        )

    def _load_second_opinion_model(self) -> Any:
        """The panel model for ``reader: auto``'s second opinions, or None with a warning:
        without it those dials are read by the keypoints alone, as before it existed."""
        self.panel_error = None
        try:
            return self._load_panel_model()
        except EngineError as exc:
            self.panel_error = str(exc)
            log.warning(
                "pipeline %s: panel_model %s not loaded (%s); gauges %s, read unsure by the "
                "keypoints, get no second opinion: fix panel_model, or set "
                "panel_second_opinion: false",
                self.config.id,
                self.config.panel_model,
                exc,
                ", ".join(sorted(self.panel_asked)),
            )
            return None

    def _load_direction_model(self) -> Any:
        """The direction model, or None with a warning: it refines dials without a configured
        scale, and without it they are read as before it existed (the keypoints' direction),
        not refused."""
        config = self.config
        assert config.direction_model is not None
        try:
            return ScaleDirectionModel(
                resolve_model(config.direction_model), config.backend, config.threads, config.triton
            )
        except EngineError as exc:
            self.direction_error = str(exc)
            log.warning(
                "pipeline %s: direction_model %s not loaded (%s); gauges %s are read with the "
                "keypoints' scale direction alone: set start_angle/sweep on them, or fix "
                "direction_model",
                config.id,
                config.direction_model,
                exc,
                ", ".join(sorted(self.unscaled)),
            )
            return None

    def close(self) -> None:
        models = (
            self._model,
            self._pointer_model,
            self._panel_model,
            self._display_model,
            self._direction_model,
        )
        for model in models:
            close = getattr(model, "close", None)
            if close is not None:
                close()

    def describe(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {
            "model": self.config.model,
            "gauges": [g.id for g in self.config.gauges],
        }
        if self.by_pointer:
            d["pointer_model"] = self.config.pointer_model
            d["read_by_pointer_model"] = sorted(self.by_pointer)
        if self.by_panel or self.panel_opinion:
            d["panel_model"] = self.config.panel_model
        if self.by_panel:
            d["read_by_panel_model"] = sorted(self.by_panel)
        if self.panel_opinion:
            d["panel_second_opinion_for"] = sorted(self.panel_opinion)
        if self.panel_error is not None:
            d["panel_model_error"] = self.panel_error
        if self.unscaled:
            d["direction_model"] = self.config.direction_model
            if self.direction_error:
                d["direction_model_error"] = self.direction_error
        if self.displays:
            d["display_model"] = self.config.display_model
            d["displays"] = [g.id for g in self.displays]
        describe = getattr(self._model, "describe", None)
        if describe is not None:
            d["engine"] = describe()
        return d

    def infer(self, batch: Any) -> Dict[str, Union[Detection, GaugeReading, DisplayReading, None]]:
        """Detections of the keypoint-read gauges, readings of the pointer-read ones and of the
        displays."""
        frame: np.ndarray = batch
        image = self._lit(frame)  # what the keypoints and the needle search see
        found: Dict[str, Union[Detection, GaugeReading, DisplayReading, None]] = {}
        free = [g for g in self.dials if g.roi is None]
        if free:
            assert self.reader is not None, "open() first"
            dets = self.reader.detect(image, self.config.max_gauges)
            found.update(assign_detections(free, self.reader.refined(image, dets)))
        found.update(self._read_pointers(frame))  # (each roi brightened on its own there)
        found.update(self._read_displays(frame))  # as sent: its model evens each crop's contrast
        for g in self.dials:
            if g.roi is None or g.id in self.whole_roi:
                continue
            assert self.reader is not None, "open() first"
            crop, (x, y) = _roi_crop(image, g)
            if crop is None:
                found[g.id] = None
                continue
            dets = self.reader.detect(crop, 4)
            refined = self.reader.refined(crop, dets)
            cx, cy = crop.shape[1] / 2.0, crop.shape[0] / 2.0
            best = min(
                refined, key=lambda d: math.hypot(d.center[0] - cx, d.center[1] - cy), default=None
            )
            found[g.id] = None if best is None else best.transformed(1.0, float(x), float(y))
        if self.reader is not None:
            self.reader.measure(image, [d for d in found.values() if isinstance(d, Detection)])
            unscaled = [found.get(i) for i in sorted(self.unscaled)]
            self.reader.orient(image, [d for d in unscaled if isinstance(d, Detection)])
        found.update(self._second_opinions(frame, found))
        return found

    def _lit(self, frame: np.ndarray) -> np.ndarray:
        """The frame as the keypoint model and the needle search see it: brightened where
        under-exposed (``exposure.brighten``), and each keypoint-read roi by its own gain, as
        ``edged read-gauge --roi`` brightens the region it reads (a dial in a cabinet's
        shadow in a lit frame). ``frame`` itself where nothing is brightened."""
        image = brighten(frame)
        for g in self.dials:
            if g.roi is None or g.id in self.whole_roi:
                continue
            crop, (x, y) = _roi_crop(frame, g)
            lit = None if crop is None else brighten(crop)
            if lit is None or (lit is crop and image is frame):
                continue  # no roi, or neither the frame nor the roi brightened
            if image is frame:
                image = frame.copy()
            image[y : y + lit.shape[0], x : x + lit.shape[1]] = lit  # (roi x, y >= 0)
        return image

    def _second_opinions(
        self, image: np.ndarray, found: Dict[str, Any]
    ) -> Dict[str, Optional[GaugeReading]]:
        """The ``panel_opinion`` dials read (their detections turned into readings here), and
        those that want a second opinion (``wants_second_opinion``: read unsure or not at
        all, or on the keypoints' own scale of a dial without a round rim) read again from
        their roi by the panel model, in one batch, and the two opinions weighed
        (``second_opinion``)."""
        out: Dict[str, Optional[GaugeReading]] = {}
        unsure = []
        for g in self.dials:
            if g.id not in self.panel_opinion:
                continue
            det = found.get(g.id)
            out[g.id] = None if det is None else self._dial_reading(g, det)
            if wants_second_opinion(out[g.id]):
                unsure.append(g)
            else:  # read sure, on a rim or a configured scale: a window's "frames in a row" end
                self.panel_windows.pop(g.id, None)
        # the frame of a dial small in it: the window around the dial, as read-gauge asks;
        # where that gives no value, the frame (``pointer_reader.with_second_opinion``); a
        # dial whose meter a search found sure lately reads that window in the frame first
        windows = {
            g.id: dial_window(out[g.id], image, (0, 0))
            for g in unsure
            if g.roi is None and not self._recalls(g.id)
        }
        ids = {g.id for g in unsure}
        panel = self._read_rois(image, ids, self.panel_reader, reframed=True, regions=windows)
        cut_off = {
            gid
            for gid, reading in panel.items()
            if gid in windows and window_fell_short(windows[gid][0], image, reading)
        }
        if cut_off:
            panel.update(self._read_rois(image, cut_off, self.panel_reader, reframed=True))
        for gid, reading in panel.items():
            if reading is not None:
                out[gid] = second_opinion(out[gid], reading)
        return out

    def _read_pointers(self, image: np.ndarray) -> Dict[str, Optional[GaugeReading]]:
        """The gauges read from their roi as a whole: the pointer model's in one batch, the
        panel model's in another."""
        out = self._read_rois(image, self.by_pointer, self.pointer_reader)
        out.update(self._read_rois(image, self.by_panel, self.panel_reader))
        return out

    def _read_rois(
        self,
        image: np.ndarray,
        ids: Set[str],
        reader: Optional[PointerReader],
        reframed: bool = False,
        regions: Optional[Dict[str, Tuple[np.ndarray, Tuple[float, float]]]] = None,
    ) -> Dict[str, Optional[GaugeReading]]:
        """The dials ``ids``, each read from its roi by ``reader`` (None: an roi outside the
        frame), or from the crop (and its origin in the frame) ``regions`` gives it; the
        panel model reads first where its last search found the meter, and with
        ``reframed`` in several framings of the roi (a second opinion: ``read_reframed``)."""
        out: Dict[str, Optional[GaugeReading]] = {}
        crops, options, origins, read = [], [], [], []
        for g in self.dials:
            if g.id not in ids:
                continue
            crop, origin = (regions or {}).get(g.id) or _roi_crop(image, g)
            if crop is None:
                out[g.id] = None
                continue
            crops.append(crop)
            origins.append(origin)
            read.append(g.id)
            options.append(_read_options(g))
        if not crops:
            return out
        assert reader is not None, "open() first"
        if reader is not self.panel_reader:
            out.update(zip(read, reader.read_crops(crops, options, origins)))
            return out
        kept = {gid: self.panel_windows.get(gid, (None, 0)) for gid in read}
        remembered = [  # (kept in frame pixels: a dial's window moves with the dial)
            _in_crop(kept[gid][0], origin) if self._recalls(gid) else None
            for gid, origin in zip(read, origins)
        ]
        read_rois = reader.read_reframed if reframed else reader.read_crops
        readings = read_rois(crops, options, origins, remembered)
        for gid, reading in zip(read, readings):
            out[gid] = reading
            window = reading.extra.get("window")
            if window is None or reading.quality != "ok":  # nothing sure to start from
                self.panel_windows.pop(gid, None)
                continue
            x, y, w, h = (int(round(v)) for v in window)
            age = kept[gid][1] + 1 if reading.extra.get("window_remembered") else 0
            self.panel_windows[gid] = ((x, y, w, h), age)
        return out

    def _recalls(self, gid: str) -> bool:
        """Whether the window where the panel model last read ``gid`` sure is read first
        this frame (kept, and read so fewer than ``REMEMBER_FRAMES`` frames in a row)."""
        kept = self.panel_windows.get(gid)
        return kept is not None and kept[1] < REMEMBER_FRAMES

    def _read_displays(self, image: np.ndarray) -> Dict[str, Optional[DisplayReading]]:
        """The displays, their rois in one batch (None for an roi outside the frame)."""
        out: Dict[str, Optional[DisplayReading]] = {}
        crops, ids = [], []
        for g in self.displays:
            crop = roi_region(image, *g.roi)
            if crop is None:
                out[g.id] = None
                continue
            crops.append(crop)
            ids.append(g.id)
        if crops:
            assert self.display_reader is not None, "open() first"
            out.update(zip(ids, self.display_reader.read_crops(crops)))
        return out

    def read_gauge(
        self, gauge: GaugeConfig, det: Union[Detection, GaugeReading, None], t: float
    ) -> GaugeReading:
        if det is None:
            return GaugeReading.not_found(NOT_FOUND if gauge.roi is None else NOT_FOUND_IN_ROI)
        if isinstance(det, GaugeReading):  # read by the pointer or the panel model already
            return self.trackers[gauge.id].update(det, t)
        return self.trackers[gauge.id].update(self._dial_reading(gauge, det), t)

    def _dial_reading(self, gauge: GaugeConfig, det: Detection) -> GaugeReading:
        """A keypoint detection read on the gauge's scale."""
        self._keep_sure_direction(gauge.id, det)
        return read_detection(
            det,
            gauge.min_value,
            gauge.max_value,
            gauge.start_angle,
            gauge.sweep,
            [tuple(p) for p in gauge.table] if gauge.table else None,  # type: ignore[misc]
            min_confidence=gauge.min_confidence,
        )

    def _keep_sure_direction(self, gauge_id: str, det: Detection) -> None:
        """Remember the direction model's sure answers for this dial; an unsure one is
        replaced by the last sure one, so only a sure opposite answer turns the scale."""
        p = det.extra.get("scale_larger_first")
        if p is None:
            return
        if p >= CCW_SURE or p <= 1.0 - CCW_SURE:
            self.sure_larger_first[gauge_id] = p
        elif gauge_id in self.sure_larger_first:
            det.extra["scale_larger_first"] = self.sure_larger_first[gauge_id]

    def postprocess(
        self, outputs: Dict[str, Union[Detection, GaugeReading, DisplayReading, None]], frame: Frame
    ) -> Dict[str, Any]:
        gauges = []
        for g in self.config.gauges:
            found = outputs.get(g.id)
            if isinstance(g, DigitalGaugeConfig):
                assert found is None or isinstance(found, DisplayReading)
                gauges.append(display_payload(g, found))
                continue
            assert not isinstance(found, DisplayReading)
            reading = self.read_gauge(g, found, frame.mono)
            gauges.append(reading_payload(g, reading))
        return {"gauges": gauges}

    def summary(self, result: Result) -> Dict[str, Any]:
        return {g["gauge_id"]: g["value"] for g in result.payload.get("gauges", [])}

    def draw(self, image: np.ndarray, result: Result) -> np.ndarray:
        readings = result.payload.get("gauges", [])
        truth = result.frame.meta.get("gauge_truth")
        rois = {g.id: g.roi for g in self.displays}
        dials = [r for r in readings if r["gauge_id"] not in rois]
        out = draw_readings(image, dials, truth)
        displays = [(r, rois[r["gauge_id"]]) for r in readings if r["gauge_id"] in rois]
        return draw_displays(out, displays, truth, copy=False) if displays else out


def _wrap(g: GaugeConfig) -> Optional[Tuple[float, float]]:
    """A full-circle dial's ends, which are one place (smoothing goes the short way round)."""
    full = g.sweep is not None and abs(g.sweep) >= 360.0 and not g.table
    return (g.min_value, g.max_value) if full else None


def _pointer_gauge(g: GaugeConfig) -> bool:
    """Whether the pointer model reads this gauge (``reader``, or ``auto`` on its roi)."""
    if g.roi is None:
        return False
    return prefers_pointer(g.reader, g.roi[2], g.roi[3], g.sweep, located=True)


def _read_options(g: GaugeConfig) -> ReadOptions:
    table = [(float(a), float(v)) for a, v in g.table] if g.table else None
    return ReadOptions(
        g.min_value, g.max_value, g.start_angle, g.sweep, table, min_confidence=g.min_confidence
    )


def _in_crop(window: Window, origin: Tuple[float, float]) -> Window:
    """A window in frame pixels, in the pixels of a crop whose top-left corner is
    ``origin``."""
    x, y, w, h = window
    return (int(round(x - origin[0])), int(round(y - origin[1])), w, h)


def _roi_crop(image: np.ndarray, g: GaugeConfig) -> Tuple[Optional[np.ndarray], Tuple[int, int]]:
    """The gauge's roi cut from the frame (None when less than 8 px of it is in the frame);
    the frame itself for a dial without one (a pipeline's only gauge: ``panel_asked``)."""
    if g.roi is None:
        return image, (0, 0)
    x, y, w, h = g.roi
    return roi_region(image, x, y, w, h), (x, y)


def draw_readings(
    image: np.ndarray,
    gauges: List[Dict[str, Any]],
    truth: Optional[List[Dict[str, Any]]] = None,
) -> np.ndarray:
    """Centre, needle line and value of each reading (and the true value, when known)."""
    cv2 = import_cv2()
    out = image.copy()
    h, w = out.shape[:2]
    fs = max(0.45, min(h, w) / 520.0)
    thick = max(1, int(round(fs * 1.6)))
    true_by_id = {t["id"]: t for t in truth or []}
    for n, g in enumerate(gauges):
        kp = g.get("keypoints")
        col = _colour(g)
        value = "--" if g["value"] is None else f"{g['value']:.3g} {g['unit']}".strip()
        lines = [f"{g['gauge_id']}: {value}"]
        if g.get("why"):  # the message's reason, for the person watching the preview
            lines.append(_short(g["why"]))
        if g["gauge_id"] in true_by_id:
            lines.append(f"true {true_by_id[g['gauge_id']]['value']:.3g}")
        if kp:
            c = tuple(int(round(v)) for v in kp["center"])
            t = tuple(int(round(v)) for v in kp["tip"])
            cv2.line(out, c, t, col, thick + 1, cv2.LINE_AA)
            cv2.circle(out, c, thick + 3, col, -1, cv2.LINE_AA)
            for name in ("scale_start", "scale_end"):
                p = tuple(int(round(v)) for v in kp[name])
                cv2.circle(out, p, thick + 2, (255, 140, 0), -1, cv2.LINE_AA)
            r = math.hypot(kp["scale_start"][0] - c[0], kp["scale_start"][1] - c[1]) / 0.8
            x, y = c[0], int(c[1] + 1.2 * r)
        else:
            x, y = int(w * (n + 0.5) / max(1, len(gauges))), h - 40
        for line in lines:
            (tw, th), _ = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, fs, thick)
            org = (int(min(max(2, x - tw / 2), w - tw - 2)), int(min(max(th + 2, y + th), h - 4)))
            cv2.putText(
                out, line, org, cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0), thick + 2, cv2.LINE_AA
            )
            cv2.putText(out, line, org, cv2.FONT_HERSHEY_SIMPLEX, fs, col, thick, cv2.LINE_AA)
            y += int(th * 1.6)
    return out


#: a reason drawn on the preview is cut to this many characters (the message has it whole)
OVERLAY_WHY_CHARS = 40


def _short(why: str) -> str:
    """``why`` for the overlay: up to its first colon or parenthesis (the fix a message
    spells out after them is for the log), cut to ``OVERLAY_WHY_CHARS``, ASCII only (the
    overlay's font has no other letters)."""
    text = why.split(":")[0].split(" (")[0].strip()
    text = text.encode("ascii", "replace").decode("ascii")
    if len(text) > OVERLAY_WHY_CHARS:
        text = text[: OVERLAY_WHY_CHARS - 3].rstrip() + "..."
    return text


def _colour(reading: Dict[str, Any]) -> Tuple[int, int, int]:
    """Green when ok, orange with a value to trust less, red without a value."""
    if reading["quality"] == "ok":
        return (40, 210, 40)
    return (0, 160, 255) if reading["value"] is not None else (40, 40, 230)


def draw_displays(
    image: np.ndarray,
    displays: List[Tuple[Dict[str, Any], Tuple[int, int, int, int]]],
    truth: Optional[List[Dict[str, Any]]] = None,
    copy: bool = True,
) -> np.ndarray:
    """Each display's roi and what was read there (and what it truly shows, when known)."""
    cv2 = import_cv2()
    out = image.copy() if copy else image
    h, w = out.shape[:2]
    fs = max(0.45, min(h, w) / 520.0)
    thick = max(1, int(round(fs * 1.6)))
    true_by_id = {t["id"]: t for t in truth or []}
    for reading, (x, y, rw, rh) in displays:
        col = _colour(reading)
        cv2.rectangle(out, (x, y), (x + rw - 1, y + rh - 1), col, thick, cv2.LINE_AA)
        text = reading.get("text")
        shown = "--" if text is None else f"{text} {reading['unit']}".strip()
        if reading["quality"] != "ok":
            shown += f" ({reading['quality']})"
        lines = [f"{reading['gauge_id']}: {shown}"]
        true = true_by_id.get(reading["gauge_id"])
        if true is not None:
            lines.append(f"true {true.get('text', true['value'])}")
        sizes = [cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, fs, thick)[0] for line in lines]
        block = sum(int(th * 1.6) for _, th in sizes)
        # above the roi where there is room, else below it
        ty = y - block - 2 if y - block - 2 >= 0 else y + rh + 2
        for line, (tw, th) in zip(lines, sizes):
            org = (int(min(max(2, x), w - tw - 2)), int(min(max(th + 2, ty + th), h - 4)))
            cv2.putText(
                out, line, org, cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0), thick + 2, cv2.LINE_AA
            )
            cv2.putText(out, line, org, cv2.FONT_HERSHEY_SIMPLEX, fs, col, thick, cv2.LINE_AA)
            ty += int(th * 1.6)
    return out
