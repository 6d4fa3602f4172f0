"""Read gauges in a picture of any size: find dials, then read each from a normalised crop.

Pass 1 runs the model on the whole picture at one or more sizes (128 px on the
long side, and larger for big pictures, so dials from a tight crop down to a
few percent of a scene are found). Pass 2 cuts a square around each dial,
sized from its rim so the face fills the crop as in training, runs the model
again on all crops in one batch, and reads the dial nearest each crop's
centre. The model runs behind ``KeypointModel``: edged's engine layer
(ONNX Runtime or TensorRT) or any callable returning ``(cmap, paf)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

from edged.config import gauge as config_gauge
from edged.cvutil import import_cv2
from edged.pipelines.gauge.angles import angle_between, angle_of
from edged.pipelines.gauge.decode import (
    HIDDEN_TIP_SCORE,
    RIVAL_RATIO,
    Detection,
    decode,
    keypoint_arc,
    read_detection,
)
from edged.pipelines.gauge.exposure import brighten
from edged.pipelines.gauge.needle import (
    MIN_CONTRAST,
    outer_line,
    pointer_redness,
    refine_needle_angle,
)
from edged.pipelines.gauge.reading import GaugeReading
from edged.pipelines.gauge.scale_direction import (
    STRIP_H,
    STRIP_W,
    TELLS_APART,
    larger_end,
    larger_first_probabilities,
)
from edged.weights import resolve_model

__all__ = [
    "DEFAULT_DIRECTION_MODEL",
    "DEFAULT_MODEL",
    "EngineModel",
    "GaugeReader",
    "KeypointModel",
    "ReadOptions",
    "ScaleDirectionModel",
    "roi_region",
]

#: the bundled model, wherever the install put it (the config's default, resolved)
DEFAULT_MODEL = resolve_model(config_gauge.DEFAULT_GAUGE_MODEL)
DEFAULT_DIRECTION_MODEL = resolve_model(config_gauge.DEFAULT_DIRECTION_MODEL)

CROP_SIZE = 128
MAX_STRIPS = 8  # scale strips per direction model call (the TensorRT profile's batch)
FACE_FILL = 0.36  # face radius / crop side, the middle of the training range
ALIGN = 16
#: the passes above 128 px are there for small dials; there, only dials up to this face radius
#: (px, in that pass) are taken: a larger one is larger than any the model was trained on
#: (0.44 of 128 px), read worse than in the 128 px pass, which has it anyway
LARGE_PASS_MAX_RADIUS = 64.0
#: pass 2 shrinks a dial this many times or more: a hair-line needle (1-2 px in the photo)
#: fades below the model's notice, so a crop without a tip, or with one too faint to trust
#: (HIDDEN_TIP_SCORE), is tried again with thin dark lines widened first (a min filter a bit
#: narrower than the shrink: red needles too, in G and B)
THIN_LINE_SHRINK = 2.0
# a red drag pointer taken for the needle (chosen on validation seeds, not the benchmark's):
DRAG_RIVAL = 0.3  # the rival needle's strength relative to the chosen tip
DRAG_REDNESS = 30.0  # the chosen pointer is at least this red (R - max(G, B), grey levels)
NEEDLE_REDNESS = 0.5  # and the rival at most this share of it
DRAG_RIVAL_CONTRAST = 0.8  # the rival shows at least this share of the red one's contrast
#: a rival tip at least this far round from the chosen one (degrees) is on the pivot's other
#: side: the pointer and its tail (``_tail_check``) ...
TAIL_OPPOSITE_DEG = 150.0
#: ... and the line on the rival's side shows this many times as clearly where a pointer
#: reaches and a tail does not (``needle.OUTER``): the model took the tail for the tip.
#: Set on the bench's renders (seeds 7e12 + i) and seeds 9e12 + i, 2,000 each; measured on
#: seeds 5e12 + i (bench/results/gauge.md, session 18)
TAIL_RATIO = 4.0


class EngineModel:
    """A gauge network behind edged's engine layer (ONNX Runtime or TensorRT), one ``image``
    input; subclasses name the outputs they return."""

    outputs: Tuple[str, ...] = ()

    def __init__(
        self, path: str, backend: str, threads: int, shapes: Any, name: str, triton: Any = None
    ):
        from edged.config.engine import EngineConfig
        from edged.engines.factory import create_engine

        self.path = path
        options = EngineConfig(  # type: ignore[call-arg]
            backend=backend, intra_op_threads=threads, shapes=shapes, triton=triton
        )
        self.engine = create_engine(path, backend, options, name=name)

    def __call__(self, batch: np.ndarray) -> Tuple[np.ndarray, ...]:
        out = self.engine.infer({"image": np.ascontiguousarray(batch, np.float32)})
        return tuple(out[name] for name in self.outputs)

    @property
    def max_batch(self) -> Optional[int]:
        """Most crops one call may hold (the engine's, or a Triton server's, limit)."""
        return self.engine.max_batch

    def describe(self) -> Any:
        return self.engine.describe()

    def close(self) -> None:
        self.engine.close()


def call_in_chunks(model: Any, inputs: np.ndarray, most: int) -> Tuple[np.ndarray, ...]:
    """``model``'s outputs for a batch of crops, in calls of at most ``most`` crops and no
    more than its engine takes (read each time: a fallback engine's limit changes with the
    server), concatenated back in order."""
    limit = getattr(model, "max_batch", None)
    step = min(most, limit) if limit else most
    parts = [model(inputs[i : i + step]) for i in range(0, len(inputs), step)]
    return tuple(np.concatenate(outputs) for outputs in zip(*parts))


class ScaleDirectionModel(EngineModel):
    """The scale direction network: ``model(strips) -> (larger_first_logits,)``
    (``scale_direction``)."""

    outputs = ("larger_first",)

    def __init__(
        self,
        path: str = DEFAULT_DIRECTION_MODEL,
        backend: str = "onnxruntime",
        threads: int = 1,
        triton: Any = None,
    ):
        strip = [3, STRIP_H, STRIP_W]
        shapes = {"image": {"min": [1, *strip], "opt": [1, *strip], "max": [MAX_STRIPS, *strip]}}
        super().__init__(path, backend, threads, shapes, "gauge-direction", triton)


class KeypointModel(EngineModel):
    """The keypoint network behind one seam: ``model(batch) -> (cmap, paf)``."""

    outputs = ("cmap", "paf")

    def __init__(
        self,
        path: str = DEFAULT_MODEL,
        backend: str = "onnxruntime",
        threads: int = 1,
        triton: Any = None,
    ):
        # one TensorRT profile covers both passes: crops (batched) and whole frames up to 1024
        shapes = {
            "image": {"min": [1, 3, 32, 32], "opt": [1, 3, 128, 128], "max": [8, 3, 1024, 1024]}
        }
        super().__init__(path, backend, threads, shapes, "gauge", triton)


@dataclass
class ReadOptions:
    min_value: float = 0.0
    max_value: float = 1.0
    start_angle: Optional[float] = None
    sweep: Optional[float] = None
    table: Optional[List[Tuple[float, float]]] = None
    min_confidence: float = 0.4
    snap_sweep: bool = True  # snap measured sweeps near 90/180/240/270/300 to them


def roi_region(image: np.ndarray, x: int, y: int, w: int, h: int) -> Optional[np.ndarray]:
    """The part of ``image`` in the region ``x, y, w, h`` (clipped to the picture); None when
    less than 8 px of it on a side lies in the picture."""
    ih, iw = image.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(iw, x + w), min(ih, y + h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return image[y0:y1, x0:x1]


def _letterbox(image: np.ndarray, long_side: int) -> Tuple[np.ndarray, float]:
    """Resize to ``long_side`` on the long side, pad to multiples of 16; returns (img, scale)."""
    cv2 = import_cv2()
    h, w = image.shape[:2]
    s = long_side / float(max(h, w))
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    small = cv2.resize(image, (nw, nh), interpolation=interp)
    pw, ph = -(-nw // ALIGN) * ALIGN, -(-nh // ALIGN) * ALIGN
    out = np.full((ph, pw, 3), 114, np.uint8)
    out[:nh, :nw] = small
    return out, s


def _crop(
    image: np.ndarray, cx: float, cy: float, half: float, size: int = CROP_SIZE
) -> Tuple[np.ndarray, float, float, float]:
    """Square crop centred on (cx, cy) with half-side ``half``, resized to ``size``; returns
    (crop, scale, x0, y0) with image = crop * scale + (x0, y0). Outside the picture: edge pixels."""
    cv2 = import_cv2()
    s = 2.0 * half / size
    x0, y0 = cx - half, cy - half
    m = np.array([[1 / s, 0, -x0 / s], [0, 1 / s, -y0 / s]], np.float64)
    interp = cv2.INTER_AREA if s > 1.5 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, m, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    return crop, s, x0, y0


class GaugeReader:
    """Find and read the gauges in pictures."""

    def __init__(
        self,
        model: Callable[[np.ndarray], Tuple[np.ndarray, np.ndarray]],
        crop_size: int = CROP_SIZE,
        face_fill: float = FACE_FILL,
        flip: bool = False,
        needle_pixels: bool = True,
        direction: Optional[Callable[[np.ndarray], Tuple[np.ndarray]]] = None,
    ):
        """``direction``: the scale direction model (``ScaleDirectionModel``), used for dials
        read without a configured scale; without it the keypoints alone say which way."""
        self.model = model
        self.crop_size = crop_size
        self.face_fill = face_fill
        self.flip = flip
        self.needle_pixels = needle_pixels
        self.direction = direction

    def _run(self, images: Sequence[np.ndarray]) -> List[List[Detection]]:
        batch = np.stack([im.transpose(2, 0, 1) for im in images]).astype(np.float32)
        cmap, paf = self.model(batch)
        return [decode(cmap[i], paf[i]) for i in range(len(images))]

    def detect(self, image: np.ndarray, max_gauges: int = 8) -> List[Detection]:
        """Pass 1: dials in the whole picture, in its pixels, strongest first, de-duplicated."""
        h, w = image.shape[:2]
        # dials down to ~10 px face radius are found at each size: 128 covers tight crops and
        # dials of >= 8 % of the picture; bigger pictures add 256 and 512 for smaller dials
        sizes = [128]
        if max(h, w) >= 400:
            sizes.append(256)
        if max(h, w) >= 900:
            sizes.append(512)
        found: List[Detection] = []
        for size in sizes:
            img, s = _letterbox(image, size)
            for d in self._run([img])[0]:
                if size == sizes[0] or d.radius() <= LARGE_PASS_MAX_RADIUS:
                    found.append(d.transformed(1.0 / s, 0.0, 0.0))
        found.sort(key=lambda d: -d.keypoints["center"][2] * (1 + len(d.keypoints)))
        kept: List[Detection] = []
        for d in found:
            if d.radius() > 2 and not any(_same_dial(d, k) for k in kept):
                kept.append(d)
        # a "dial" inside a much larger one is a part of it (a logo, a screw, the unit letter
        # over a hidden pivot), not a gauge of its own
        kept = [d for d in kept if not any(_inside(d, k) for k in kept)]
        return kept[:max_gauges]

    def refine(self, image: np.ndarray, dets: Sequence[Detection]) -> List[Optional[Detection]]:
        """Pass 2: each dial again from a crop where its face fills the crop as in training.

        With ``flip`` the mirrored crop is read too and the two sets of keypoints
        averaged (test-time augmentation: halves the keypoints' noise, twice the cost).
        """
        if not dets:
            return []
        size = self.crop_size
        crops, frames = [], []
        for d in dets:
            half = d.radius() / self.face_fill / 2.0
            crop, s, x0, y0 = _crop(image, d.center[0], d.center[1], half, size)
            crops.append(crop)
            frames.append((s, x0, y0))
        n = len(crops)
        if self.flip:
            crops = crops + [c[:, ::-1] for c in crops]
        found = self._run(crops)
        out: List[Optional[Detection]] = []
        for i, (s, x0, y0) in enumerate(frames):
            best = _nearest_centre(found[i], size)
            if best is not None and self.flip:
                mirrored = _nearest_centre([_mirror(d, size) for d in found[n + i]], size)
                if mirrored is not None:
                    best = _average(best, mirrored)
            here = None if best is None else best.transformed(s, x0, y0)
            if s >= THIN_LINE_SHRINK and _tip_score(here) < HIDDEN_TIP_SCORE:
                here = self._widened_if_clearer(image, dets[i], s, here)
            out.append(here)
        return out

    def _widened_if_clearer(
        self, image: np.ndarray, det: Detection, shrink: float, here: Optional[Detection]
    ) -> Optional[Detection]:
        """``here`` (pass 2's detection of ``det``, without a tip or with one too faint to
        trust), or the widened crop's where that shows the tip more strongly: where the
        first crop saw a faint tip, only a tip strong enough to read (``HIDDEN_TIP_SCORE``),
        else the faint one stands (a tip hidden by glare stays ``unreadable``). A tip the
        first crop saw faint keeps its doubt (``extra["faint_tip_widened"]``:
        ``low_confidence``): read alone, such keypoints were often off on the real panel
        meters under camera looks, but their needle backs or disputes the panel model's
        reading (bench/results/gauge.md, session 19). With ``flip`` the widened crop is
        read unmirrored only."""
        retry = self._thin_needle_retry(image, det, shrink)
        faint = _tip_score(here)
        if retry is None or _tip_score(retry) <= faint:
            return here
        if faint == 0.0:
            return retry  # no tip at all before: any tip is news
        if _tip_score(retry) < HIDDEN_TIP_SCORE:
            return here  # still too faint: a tip hidden by glare stays unreadable
        retry.extra["faint_tip_widened"] = 1.0
        return retry

    def _thin_needle_retry(
        self, image: np.ndarray, det: Detection, shrink: float
    ) -> Optional[Detection]:
        """Pass 2 again on a crop whose thin dark lines were widened before shrinking; the
        detection (in picture pixels) when it now has a tip, else None."""
        cv2 = import_cv2()
        half = det.radius() / self.face_fill / 2.0
        k = int(round(0.75 * shrink)) | 1
        cx, cy = det.center
        h, w = image.shape[:2]
        x0, y0 = int(max(0, cx - half - k)), int(max(0, cy - half - k))
        x1, y1 = int(min(w, cx + half + k + 1)), int(min(h, cy + half + k + 1))
        if x1 - x0 < 2 * k or y1 - y0 < 2 * k:
            return None
        # only the dial's square (and the filter's margin) is widened and cropped from
        widened = cv2.erode(image[y0:y1, x0:x1], np.ones((k, k), np.uint8))
        crop, s, ox, oy = _crop(widened, cx - x0, cy - y0, half, self.crop_size)
        best = _nearest_centre(self._run([crop])[0], self.crop_size)
        if best is None or "tip" not in best.keypoints:
            return None
        return best.transformed(s, ox + x0, oy + y0)

    def locate(self, image: np.ndarray, max_gauges: int = 8) -> List[Detection]:
        """Both passes, then the needle's direction measured in the pixels."""
        found = self.refined(image, self.detect(image, max_gauges))
        self.measure(image, found)
        return found

    def refined(self, image: np.ndarray, dets: Sequence[Detection]) -> List[Detection]:
        """Pass 2 on each of pass 1's detections (pass 1's kept where pass 2 finds none),
        one per dial (``one_per_dial``)."""
        pairs = [(d, r if r is not None else d) for d, r in zip(dets, self.refine(image, dets))]
        return one_per_dial(pairs)

    def measure(self, image: np.ndarray, dets: Sequence[Detection]) -> None:
        """Each detection's needle measured in ``image``'s pixels (the detections in its
        coordinates), where it has a tip: a direction to a fraction of a degree, a red drag
        pointer told from the needle, a tail taken for the tip turned round; nothing without
        ``needle_pixels``."""
        if not self.needle_pixels:
            return
        for det in dets:
            if "tip" in det.keypoints:
                _measure_needle(image, det)

    def orient(self, image: np.ndarray, dets: Sequence[Detection], snap: bool = True) -> None:
        """The direction model's say on which end of each dial's scale the larger numbers
        sit, for the dials whose keypoints place a scale with ends
        (``extra["scale_larger_first"]``; ``read_detection`` makes it a direction with the
        gauge's min and max); nothing without the model."""
        if self.direction is None:
            return
        arcs = [(d, keypoint_arc(d, snap=snap)) for d in dets]
        arcs = [(d, a) for d, a in arcs if a is not None]
        model = self.direction
        probabilities = larger_first_probabilities(
            lambda strips: call_in_chunks(model, strips, MAX_STRIPS), image, [a for _, a in arcs]
        )
        for (det, _), p in zip(arcs, probabilities):
            det.extra["scale_larger_first"] = p

    def read(
        self, image: np.ndarray, options: ReadOptions, max_gauges: int = 8
    ) -> List[GaugeReading]:
        """Every dial in the picture, each read with ``options`` (strongest first); an
        under-exposed picture is brightened first (``exposure.brighten``)."""
        image = brighten(image)
        readings = []
        dets = self.locate(image, max_gauges)
        unscaled = options.start_angle is None or options.sweep is None
        if unscaled and larger_end(options.min_value, options.max_value, TELLS_APART):
            self.orient(image, dets, options.snap_sweep)  # (otherwise its answer is not used)
        for det in dets:
            readings.append(
                read_detection(
                    det,
                    options.min_value,
                    options.max_value,
                    options.start_angle,
                    options.sweep,
                    options.table,
                    min_confidence=options.min_confidence,
                    snap=options.snap_sweep,
                )
            )
        return readings

    def read_one(self, image: np.ndarray, options: ReadOptions) -> GaugeReading:
        """The most prominent dial's reading (``unreadable`` when none is found)."""
        readings = self.read(image, options, max_gauges=4)
        if not readings:
            return GaugeReading.not_found()
        h, w = image.shape[:2]

        # prefer dials whose needle was found (a detection without one is often no dial),
        # then the one nearest the picture's centre, then the larger: a main dial whose scale
        # cannot be read stays the main dial, unreadable, rather than a dial behind it
        def rank(r: GaugeReading) -> Tuple[int, float]:
            c = r.keypoints.get("center", [w / 2, h / 2, 0])
            off = math.hypot(c[0] - w / 2, c[1] - h / 2) / max(h, w)
            return (0 if r.angle_deg is not None else 1, off - (r.radius or 0) / max(h, w))

        return min(readings, key=rank)


def _measure_needle(image: np.ndarray, det: Detection) -> None:
    """The needle's direction in the pixels; a red pointer chosen over a rival that is not red
    and shows most of its contrast is taken for a drag pointer, and the rival read as the
    needle (``read_detection`` checks that the drag pointer rests beyond it on the scale)."""
    t = det.keypoints["tip"]
    got = refine_needle_angle(image, det.center, (t[0], t[1]))
    rival = det.rival_tip
    if (
        got is not None
        and rival is not None
        and rival[2] >= HIDDEN_TIP_SCORE
        and det.extra.get("rival_tip", 0.0) >= DRAG_RIVAL
    ):
        alt = refine_needle_angle(image, det.center, (rival[0], rival[1]))
        if (
            alt is not None
            and alt[1] >= DRAG_RIVAL_CONTRAST * got[1]
            and _redder(image, det, (t, got[0]), (rival, alt[0]))
        ):
            det.drag_pointer, det.drag_pointer_angle = t, got[0]
            det.keypoints["tip"] = rival
            det.needle_paf_angle = None  # the field was measured along the drag pointer
            got = alt
    if det.drag_pointer is None:
        got = _tail_check(image, det, got)
    det.needle_pixel_angle = None if got is None else got[0]
    if got is None:  # the model sees a needle the pixels do not show
        det.extra["needle_unseen"] = 1.0
        det.extra.pop("needle_contrast", None)
    else:  # how clearly (``decode.clear_line``: a tip the model scores faint is read by it)
        det.extra["needle_contrast"] = got[1]


def _tail_check(
    image: np.ndarray, det: Detection, got: Optional[Tuple[float, float]]
) -> Optional[Tuple[float, float]]:
    """The needle measured along the rival tip where the model took the pointer's tail for
    its tip: a thick tail (or counterweight) behind the pivot can look more like a needle to
    the model than a thin pointer, but only the pointer reaches out to the scale.

    Where a rival tip as strong as ``RIVAL_RATIO`` (and seen, ``HIDDEN_TIP_SCORE``) lies on
    the pivot's other side, its line is measured too, and the two lines are compared over
    the outer part of the face (``needle.outer_line``), each beside its continuation behind
    the pivot: the two swap (``extra["tail_taken_for_tip"]``; the reading stays
    ``low_confidence``: two needles) only where both ways the rival's side shows
    ``TAIL_RATIO`` times as clearly. The rival's comparison alone turned right readings
    round on renders (its line measured over a numeral beside it). Otherwise ``got`` as it
    was (the tip's direction measured in the pixels, or None where they show no line along
    it)."""
    rival = det.rival_tip
    if rival is None or rival[2] < HIDDEN_TIP_SCORE:
        return got
    if det.extra.get("rival_tip", 0.0) < RIVAL_RATIO:
        return got
    cx, cy = det.center
    tip = det.keypoints["tip"]
    chosen = got[0] if got is not None else angle_of(tip[0] - cx, tip[1] - cy)
    if angle_between(chosen, angle_of(rival[0] - cx, rival[1] - cy)) < TAIL_OPPOSITE_DEG:
        return got
    alt = refine_needle_angle(image, det.center, (rival[0], rival[1]))
    if alt is None:
        return got
    radius = det.radius()
    # the chosen side's two lines, then the rival side's
    angles = (chosen, alt[0] + 180.0, alt[0], chosen + 180.0)
    lines = [outer_line(image, det.center, a, radius) for a in angles]
    if None in lines:  # part of the face outside the picture: nothing to tell them by
        return got
    here, there = max(lines[:2]), min(lines[2:])  # type: ignore[type-var]
    if there < MIN_CONTRAST or there < TAIL_RATIO * here:
        return got
    det.keypoints["tip"], det.rival_tip = rival, det.keypoints["tip"]
    det.needle_paf_angle = None  # the field may have been measured along the tail
    det.extra["tail_taken_for_tip"] = 1.0
    return alt


def _redder(image: np.ndarray, det: Detection, chosen: Any, rival: Any) -> bool:
    """Whether the chosen pointer is red and the rival not: ``(tip, measured angle)`` each."""
    cx, cy = det.center

    def redness(pointer: Any) -> float:
        (x, y, _), angle = pointer
        return pointer_redness(image, (cx, cy), angle, math.hypot(x - cx, y - cy))

    red = redness(chosen)
    return red >= DRAG_REDNESS and redness(rival) <= NEEDLE_REDNESS * red


PART_OF_DIAL = 0.4  # a detection this small beside a larger one, within its face, is its part


def _tip_score(det: Optional[Detection]) -> float:
    """How strongly ``det`` shows a needle tip (0 without one)."""
    if det is None or "tip" not in det.keypoints:
        return 0.0
    return float(det.keypoints["tip"][2])


def one_per_dial(pairs: Sequence[Tuple[Detection, Detection]]) -> List[Detection]:
    """The refined detections of ``(pass 1, pass 2)`` pairs, in the order given (strongest
    first), less those of a dial already kept (``_same_dial``). Two pass-1 detections of
    one dial (its face and its case, found at two sizes) are refined into the same dial but
    read from crops of different sizes, and can read it differently: the one whose crop was
    sized closest to the dial pass 2 found is kept (a crop much looser than the face was
    not what the model learnt), and any before a pass-1 detection pass 2 did not refine.
    Left in, ``read_one`` picked between them by a pixel (a real pressure gauge framed in a
    plant scene four times its size: ``ok`` and 59 % off, beside the other's 0.5 %), and a
    pipeline's gauges without an roi could be given the same dial twice."""

    def misfit(pair: Tuple[Detection, Detection]) -> float:
        first, second = pair[0].radius(), pair[1].radius()
        if pair[1] is pair[0] or first <= 0 or second <= 0:
            return math.inf  # (pass 2 found nothing: pass 1's coarse detection stands in)
        return abs(math.log(second / first))

    kept: List[int] = []
    for i in sorted(range(len(pairs)), key=lambda i: misfit(pairs[i])):
        if not any(_same_dial(pairs[i][1], pairs[k][1]) for k in kept):
            kept.append(i)
    return [pairs[i][1] for i in sorted(kept)]


def _same_dial(a: Detection, b: Detection) -> bool:
    """Whether two detections are one dial (found in two passes): near and of a size."""
    ra, rb = a.radius(), b.radius()
    if min(ra, rb) < PART_OF_DIAL * max(ra, rb):
        return False  # one is a part of the other, or a small gauge beside a large one
    return math.hypot(a.center[0] - b.center[0], a.center[1] - b.center[1]) < 0.6 * max(ra, rb)


def _inside(small: Detection, large: Detection) -> bool:
    """Whether ``small`` is a part of ``large``: far smaller, centred within its face."""
    r = large.radius()
    if small is large or small.radius() > PART_OF_DIAL * r:
        return False
    return math.hypot(small.center[0] - large.center[0], small.center[1] - large.center[1]) < r


def _nearest_centre(found: Sequence[Detection], size: int) -> Optional[Detection]:
    c = size / 2.0
    best = min(found, key=lambda d: math.hypot(d.center[0] - c, d.center[1] - c), default=None)
    if best is not None and math.hypot(best.center[0] - c, best.center[1] - c) > size * 0.25:
        return None
    return best


def _mirror(d: Detection, size: int) -> Detection:
    """A detection from a left-right mirrored crop, in the unmirrored crop's pixels."""
    kps = {k: (size - 1 - v[0], v[1], v[2]) for k, v in d.keypoints.items()}
    ell = None
    if d.ellipse is not None:
        c, m = d.ellipse
        ell = (
            np.array([size - 1 - c[0], c[1]]),
            np.array([[m[0, 0], -m[0, 1]], [-m[1, 0], m[1, 1]]]),
        )
    paf = None if d.needle_paf_angle is None else (360.0 - d.needle_paf_angle) % 360.0
    return Detection(kps, dict(d.link_scores), paf, d.needle_paf_score, ell, d.rim_points)


def _same_direction(a: Detection, b: Detection, within_deg: float = 10.0) -> bool:
    """Whether two detections' tips point the same way (not a needle and a drag pointer)."""
    if "tip" not in a.keypoints or "tip" not in b.keypoints:
        return False
    ta, tb = a.keypoints["tip"], b.keypoints["tip"]
    da = math.atan2(ta[1] - a.center[1], ta[0] - a.center[0])
    db = math.atan2(tb[1] - b.center[1], tb[0] - b.center[0])
    return angle_between(math.degrees(da), math.degrees(db)) < within_deg


def _average(a: Detection, b: Detection) -> Detection:
    kps = dict(a.keypoints)
    # only the direction-free points: a mirrored dial runs the other way, and the model's
    # scale ends lean on what it learnt about directions
    same_needle = _same_direction(a, b)
    for k, v in b.keypoints.items():
        if k in kps and (k == "center" or (k == "tip" and same_needle)):
            u = kps[k]
            kps[k] = ((u[0] + v[0]) / 2, (u[1] + v[1]) / 2, (u[2] + v[2]) / 2)
    paf = a.needle_paf_angle
    if paf is not None and b.needle_paf_angle is not None and same_needle:
        diff = (b.needle_paf_angle - paf + 180.0) % 360.0 - 180.0
        paf = (paf + diff / 2) % 360.0
    ell = a.ellipse
    if a.ellipse is not None and b.ellipse is not None:
        ell = ((a.ellipse[0] + b.ellipse[0]) / 2, (a.ellipse[1] + b.ellipse[1]) / 2)
    return Detection(
        kps,
        dict(a.link_scores),
        paf,
        a.needle_paf_score,
        ell or b.ellipse,
        a.rim_points,
        dict(a.extra),
        rival_tip=a.rival_tip,
    )
