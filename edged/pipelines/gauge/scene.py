"""A live synthetic scene of gauges whose needles move smoothly, with the true values.

Used by the ``synthetic`` source with ``scene: gauges`` and by ``edged demo``.
The layout and the gauges' looks are a function of the seed; the needles follow
slow sines of the frame time (``frame / rate``), so runs are repeatable. With
``meters`` the frame also shows water-meter sub-dials (``subdial_synth``) in a
strip along the bottom, their pointers turning as a meter's do while water
flows, each at a fixed region a config names in its ``roi``. With ``displays``
it shows seven-segment displays (``display.render``) at the bottom left, whose
number (one decimal) rises and falls slowly, each at a fixed ``roi`` too. With
``panels`` the row of dials ends in panel meters (ammeters, voltmeters: the
renderer's panel faces, square on), read with ``reader: panel`` from their roi.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from edged.cvutil import import_cv2
from edged.pipelines.display import render as display_render
from edged.pipelines.gauge.subdial_synth import render_subdial
from edged.pipelines.gauge.synth import (
    GaugeSpec,
    Placement,
    background,
    composite_gauge,
    degrade,
    sample_spec,
)

__all__ = [
    "DemoDisplay",
    "DemoGauge",
    "DemoMeter",
    "GaugeScene",
    "demo_displays",
    "demo_gauges",
    "demo_meters",
]

_UNITS = ("bar", "psi", "C", "A", "V", "kPa")


@dataclass
class DemoGauge:
    id: str
    unit: str
    spec: GaugeSpec
    place: Placement
    phase: float
    #: a panel meter's region (x, y, w, h): read from it with ``reader: panel``
    roi: Optional[Tuple[int, int, int, int]] = None

    @property
    def min_value(self) -> float:
        return self.spec.min_value

    @property
    def max_value(self) -> float:
        return self.spec.max_value

    def config(self) -> Dict[str, Any]:
        """This gauge as a ``gauges:`` entry of a gauge pipeline."""
        entry: Dict[str, Any] = {
            "id": self.id,
            "unit": self.unit,
            "min_value": self.spec.min_value,
            "max_value": self.spec.max_value,
        }
        if self.roi is None:
            entry["position"] = [round(self.place.cx, 1), round(self.place.cy, 1)]
            return entry
        # square on, so the scale as seen from the pivot is the dial's own
        entry.update(
            reader="panel",
            roi=list(self.roi),
            start_angle=round(self.spec.start_angle, 2) % 360.0,
            sweep=round(self.spec.sweep, 2),
        )
        return entry


@dataclass
class DemoMeter:
    """A water-meter sub-dial at a fixed place of the frame (seen as a fixed camera sees it)."""

    id: str
    seed: int  # the sub-dial's look (subdial_synth)
    roi: Tuple[int, int, int, int]  # x, y, w, h
    sweep: float  # 360, or -360 for a counter-clockwise dial
    turns_per_period: float

    def config(self) -> Dict[str, Any]:
        """This meter as a ``gauges:`` entry of a gauge pipeline."""
        return {
            "id": self.id,
            "unit": "m3",
            "min_value": 0.0,
            "max_value": 10.0,
            "start_angle": 0.0,
            "sweep": self.sweep,
            "roi": list(self.roi),
        }


def _upright_dial_seed(start: int, ccw: bool) -> int:
    """The first seed from ``start`` whose dial turns the ``ccw`` way, is within 6 degrees of
    upright and fills its crop, so a config's ``start_angle: 0`` describes it."""
    seed = start
    while True:
        _, label = render_subdial(seed, size=96, strength=0.0)
        zero = (label.zero_angle + 180.0) % 360.0 - 180.0
        upright = abs(zero) < 6.0 and label.ccw == ccw and label.radius > 36
        if upright and label.spec.pointer != "hollow":
            return seed
        seed += 1


def demo_meters(count: int, width: int, height: int, seed: int = 0) -> List[DemoMeter]:
    """``count`` sub-dials in a row at the bottom right of the frame."""
    side = int(min(0.26 * height, width / max(1, 2 * count)))
    out = []
    for i in range(count):
        x = width - (count - i) * (side + 8)
        ccw = i % 2 == 1  # neighbouring dials of one meter turn opposite ways
        dial_seed = _upright_dial_seed(1000 * (seed + 1) + 97 * i, ccw)
        out.append(
            DemoMeter(f"m{i}", dial_seed, (x, height - side - 6, side, side),
                      -360.0 if ccw else 360.0, 10.0 ** (-i))
        )  # fmt: skip
    return out


@dataclass
class DemoDisplay:
    """A seven-segment display at a fixed place of the frame, showing one decimal."""

    id: str
    seed: int  # the display's look (display.render)
    roi: Tuple[int, int, int, int]  # x, y, w, h
    low: float  # the value swings between low and high
    high: float
    phase: float
    cells: int = 5  # "-12.5" fits
    unit: str = "C"

    def render(self, text: str) -> np.ndarray:
        """The display showing ``text``, as the camera sees it, ``roi``-sized (BGR)."""
        crop = _render_display(self.seed, self.cells, text)
        w, h = self.roi[2], self.roi[3]
        return import_cv2().resize(crop, (w, h), interpolation=import_cv2().INTER_AREA)

    def config(self) -> Dict[str, Any]:
        """This display as a ``gauges:`` entry (``type: digital``) of a gauge pipeline."""
        return {
            "id": self.id,
            "type": "digital",
            "unit": self.unit,
            "roi": list(self.roi),
            "decimals": 1,
            "min": -50.0,
            "max": 150.0,
        }


def _render_display(seed: int, cells: int, text: str) -> np.ndarray:
    """Display ``seed`` showing ``text`` in ``cells`` cells; its look (and so the crop's size)
    is the same whatever it shows."""
    version = display_render.RENDERER_VERSION
    spec = display_render.sample_spec(np.random.default_rng([version, seed]))
    spec.cells = display_render.cells_of(text, cells)
    spec.colon = 0
    look = np.random.default_rng([version, seed, 1])  # the same every frame
    return display_render.render_spec(spec, look, cell_px=40.0)


def _clear_display_seed(start: int) -> int:
    """The first seed from ``start`` whose display a camera sees clearly: lit segments stand
    out (no washing glare, heavy blur or dark exposure) and its crop is not tiny. Seeds with
    the same look show any text with the same noise, so lit minus blank is the segments."""
    cv2 = import_cv2()
    seed = start
    while True:
        lit = _render_display(seed, DemoDisplay.cells, "8.8.8.8.8.")
        blank = _render_display(seed, DemoDisplay.cells, "")
        diff = cv2.absdiff(
            cv2.cvtColor(lit, cv2.COLOR_BGR2GRAY), cv2.cvtColor(blank, cv2.COLOR_BGR2GRAY)
        )
        if lit.shape[0] >= 32 and float(np.percentile(diff, 95)) >= 70.0:
            return seed
        seed += 1


#: displays are drawn no smaller than this (px tall): smaller, a camera loses their points
MIN_DISPLAY_HEIGHT = 36


def demo_displays(
    count: int, width: int, height: int, seed: int = 0, right: int = 0
) -> List[DemoDisplay]:
    """``count`` displays in rows at the bottom left of the frame, left of x = ``right``
    (the sub-dials' strip; 0: the frame's right edge), smaller to fit in one row, but never
    below ``MIN_DISPLAY_HEIGHT``: then in rows upwards."""
    right = right or width
    seeds = [_clear_display_seed(5000 * (seed + 1) + 31 * i) for i in range(count)]
    aspects = []
    for s in seeds:
        shape = _render_display(s, DemoDisplay.cells, "0.0").shape
        aspects.append(shape[1] / shape[0])
    room = right - 8 - 8 * count
    h = int(max(MIN_DISPLAY_HEIGHT, min(0.16 * height, 64)))
    total = sum(h * a for a in aspects)
    if total > room > 0:  # narrower frames: smaller displays
        h = max(MIN_DISPLAY_HEIGHT, int(h * room / total))
    rng = np.random.default_rng([seed, 77])
    out = []
    x, y = 8, height - h - 6
    for i, (s, aspect) in enumerate(zip(seeds, aspects)):
        w = max(8, min(int(round(h * aspect)), right - 16))
        if x > 8 and x + w > right - 8:  # the row is full: the next one above it
            x, y = 8, y - h - 6
        if y < 0:
            raise ValueError(
                f"{count} seven-segment displays do not fit a {width}x{height} frame (each is "
                f"at least {MIN_DISPLAY_HEIGHT} px tall); show fewer displays or a larger frame"
            )
        phase = float(rng.uniform(0, 2 * math.pi))
        out.append(DemoDisplay(f"d{i}", s, (x, y, w, h), 15.0, 85.0, phase))
        x += w + 8
    return out


def demo_gauges(
    count: int, width: int, height: int, seed: int = 0, panels: int = 0
) -> List[DemoGauge]:
    """``count`` readable-looking gauges laid out in a row (or a grid) across the frame, then
    ``panels`` panel meters in the next cells."""
    rng = np.random.default_rng(seed)
    cols = min(count + panels, 3)
    rows = int(math.ceil((count + panels) / cols))
    cell_w, cell_h = width / cols, height / rows
    radius = 0.36 * min(cell_w, cell_h)
    out = []
    for i in range(count):
        spec = sample_spec(rng, split="any")
        # clear, everyday looks for the demo: round, clockwise, not a water meter
        spec.layout = "round"
        spec.sweep = 270.0 if i % 2 == 0 else 240.0
        spec.start_angle = (-spec.sweep / 2) % 360
        spec.min_value, spec.max_value = [(0.0, 10.0), (0.0, 160.0), (-20.0, 120.0), (0.0, 4.0)][
            i % 4
        ]
        spec.n_major = [10, 8, 7, 8][i % 4]
        spec.drag_pointer = None
        spec.needle_len = spec.tick_radius * 0.95
        if spec.face == "black":
            spec.needle_color = (240, 240, 240)
        r, c = divmod(i, cols)
        place = Placement(
            cx=cell_w * (c + 0.5),
            cy=cell_h * (r + 0.5),
            radius=radius,
            rotation=float(rng.normal(0, 4)),
            tilt=float(rng.uniform(0, 25)),
            tilt_axis=float(rng.uniform(0, 180)),
            depth=6.0,
            parallax=0.03,
        )
        out.append(
            DemoGauge(
                f"g{i}", _UNITS[i % len(_UNITS)], spec, place, float(rng.uniform(0, 2 * math.pi))
            )
        )
    for i in range(count, count + panels):
        r, c = divmod(i, cols)
        cell = (cell_w * c, cell_h * r, cell_w, cell_h)
        out.append(_demo_panel(f"p{i - count}", rng, cell, width, height))
    return out


def _demo_panel(
    gauge_id: str,
    rng: np.random.Generator,
    cell: Tuple[float, float, float, float],
    width: int,
    height: int,
) -> DemoGauge:
    """A panel meter in ``cell`` (x, y, w, h) of the frame, square on, its roi the meter's
    case: its pivot low in the cell (and right, for a corner pivot), as on a real meter."""
    spec = sample_spec(rng, split="any")
    while not spec.panel:
        spec = sample_spec(rng, split="any")
    x, y, w, h = cell
    radius = 0.5 * min(w, h)
    cx = x + w / 2 + (0.45 * radius if spec.layout == "panel_corner" else 0.0)
    cy = y + h / 2 + 0.5 * radius
    place = Placement(cx, cy, radius, 0.0, 0.0, 0.0, 6.0, 0.0)
    phase = float(rng.uniform(0, 2 * math.pi))
    box = _drawn_box(spec, place, width, 2 * height)  # room below: the case is not cut
    below = box[1] + box[3] - int(y + h)
    if below > 0:  # a case hanging out of its cell (into the strip below it) moves up
        place.cy -= below
        box = _drawn_box(spec, place, width, height)
    return DemoGauge(gauge_id, spec.text, spec, place, phase, box)  # the unit printed on it


def _drawn_box(
    spec: GaugeSpec, place: Placement, width: int, height: int
) -> Tuple[int, int, int, int]:
    """Where ``spec`` drawn at ``place`` lands in a ``width`` x ``height`` frame (x, y, w, h):
    the pixels it changes on a frame of one odd colour."""
    probe = np.zeros((height, width, 3), np.uint8)
    probe[:] = (255, 0, 255)
    composite_gauge(probe, spec, place)
    ys, xs = np.nonzero(np.any(probe != (255, 0, 255), axis=2))
    x0, y0 = int(xs.min()), int(ys.min())
    return x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0


class GaugeScene:
    """Renders frame ``n`` of the scene and says what each gauge truly shows."""

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        count: int = 2,
        seed: int = 0,
        rate: float = 15.0,
        period_s: float = 30.0,
        meters: int = 0,
        displays: int = 0,
        panels: int = 0,
    ):
        self.width, self.height, self.rate, self.period_s = width, height, rate, period_s
        self.meters = demo_meters(meters, width, height, seed)
        right = self.meters[0].roi[0] if self.meters else width
        self.displays = demo_displays(displays, width, height, seed, right)
        tops = [m.roi[1] for m in self.meters] + [d.roi[1] for d in self.displays]
        dial_height = min(tops) if tops else height
        self.gauges = demo_gauges(count, width, dial_height, seed, panels)
        self._background = background(np.random.default_rng(seed + 1), width, height)
        self.seed = seed

    def values(self, n: int) -> List[float]:
        t = n / self.rate
        out = []
        for g in self.gauges:
            f = 0.5 + 0.42 * math.sin(2 * math.pi * t / self.period_s + g.phase)
            out.append(g.min_value + (g.max_value - g.min_value) * f)
        return out

    def render(self, n: int) -> Tuple[np.ndarray, List[Dict[str, Any]]]:
        image = self._background.copy()
        truth = []
        for g, v in zip(self.gauges, self.values(n)):
            g.spec.value = v
            composite_gauge(image, g.spec, g.place, shadow=0.3)
            truth.append({"id": g.id, "value": round(v, 4), "unit": g.unit})
        rng = np.random.default_rng([self.seed, n])
        image = degrade(image, rng, strength=0.3)
        for m in self.meters:
            value = self.meter_value(m, n)
            x, y, w, h = m.roi
            crop, label = render_subdial(m.seed, size=w, strength=0.3, value=value)
            image[y : y + h, x : x + w] = crop
            truth.append({"id": m.id, "value": round(label.value, 4), "unit": "m3"})
        for d in self.displays:
            text = self.display_text(d, n)
            x, y, w, h = d.roi
            image[y : y + h, x : x + w] = d.render(text)
            truth.append({"id": d.id, "value": float(text), "unit": d.unit, "text": text})
        return image, truth

    def display_text(self, display: DemoDisplay, n: int) -> str:
        """What the display shows at frame ``n``: a value with one decimal, rising and falling."""
        t = n / self.rate
        f = 0.5 + 0.5 * math.sin(2 * math.pi * t / self.period_s + display.phase)
        return f"{display.low + (display.high - display.low) * f:.1f}"

    def meter_value(self, meter: DemoMeter, n: int) -> float:
        """The turning pointer's reading at frame ``n`` (0..10, counting up like a meter)."""
        turns = n / self.rate / self.period_s * meter.turns_per_period
        return (10.0 * turns + 1.0) % 10.0
