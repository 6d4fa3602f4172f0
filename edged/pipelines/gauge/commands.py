"""``edged read-gauge`` (and ``edged demo``): gauge commands for the CLI."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["read_gauge_command", "register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "read-gauge",
        help="read analog gauges in images; one JSON line per image",
        description="Read the most prominent analog gauge in each image and print one JSON line "
        'per image: {"image", "value", "confidence", "quality", "angle_deg", "reader", '
        '"keypoints"} ("reader": the model that read it; a reading that is not ok says "why"). '
        "Angles are degrees, clockwise, 0 = 12 o'clock. Without --start-angle/--sweep the "
        "model's scale endpoints are used. A full-circle dial (--sweep 360 or -360) in a "
        "roughly square picture of at most 160 px, or in a roughly square --roi, is read by the "
        "pointer model, the rest by the keypoint model, and where it reads the main dial "
        "unsure or finds none, by the panel model if that is sure (--reader to choose; "
        "--reader panel "
        "reads a panel meter in the picture or the --roi, searching it for the meter where "
        "it reads it unsure; its scale from --start-angle/--sweep or, without them, from the "
        "picture).",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument(
        "--min", type=float, required=True, dest="min_value", help="value at the scale's start"
    )
    p.add_argument(
        "--max", type=float, required=True, dest="max_value", help="value at the scale's end"
    )
    p.add_argument(
        "--start-angle", type=float, help="where the minimum sits (deg clockwise from 12 o'clock)"
    )
    p.add_argument(
        "--sweep", type=float, help="degrees from min to max; negative = counter-clockwise"
    )
    p.add_argument("--unit", default="", help="unit of the value (echoed)")
    p.add_argument(
        "--roi",
        type=parse_roi,
        metavar="X,Y,W,H",
        help="read the dial in this region of each image",
    )
    p.add_argument(
        "--reader",
        default="auto",
        choices=["auto", "keypoints", "pointer", "panel"],
        help="which model reads the dial (auto: pointer for a full-circle dial in a small "
        "picture or an --roi, else keypoints, or the panel model where the keypoints are "
        "unsure and it is sure, or unsure too and seeing the needle where they do; panel: "
        "the panel-meter model, for a panel "
        "meter in the picture or the --roi, best filling it)",
    )
    p.add_argument("--model", default=None, help="keypoint model (default: the bundled one)")
    p.add_argument("--pointer-model", default=None, help="pointer model (default: the bundled one)")
    p.add_argument(
        "--panel-model", default=None, help="panel-meter model (default: the bundled one)"
    )
    p.add_argument(
        "--direction-model",
        default=None,
        help="scale direction model, used without --start-angle/--sweep to tell which way the "
        "numbers run (edged's: weights/gauge_direction.onnx; off by default: the keypoints "
        "alone read most scales as clockwise)",
    )
    p.add_argument("--backend", default="onnxruntime", choices=["auto", "onnxruntime", "tensorrt"])
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime CPU threads")
    p.add_argument(
        "--all",
        action="store_true",
        help="print every gauge found, not only the main one (the pointer model reads one)",
    )
    p.set_defaults(func=read_gauge_command)
    try:
        from edged.pipelines.gauge.demo import register_demo
    except ImportError:  # pragma: no cover - the demo needs the MQTT sink
        return
    register_demo(subparsers)


def parse_roi(text: str) -> Tuple[int, int, int, int]:
    """``X,Y,W,H`` in pixels (``--roi`` of read-gauge and read-display)."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            "give the roi as X,Y,W,H in pixels, e.g. 40,30,200,60"
        ) from None
    if x < 0 or y < 0 or w < 8 or h < 8:
        raise argparse.ArgumentTypeError("roi X,Y >= 0 and W,H >= 8 pixels")
    return x, y, w, h


class _Readers:
    """The keypoint, pointer and panel readers, each loaded the first time an image needs it."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.models: List[Any] = []
        self._keypoints: Any = None
        self._pointer: Any = None
        self._panel: Any = None
        self._panel_unable: Optional[str] = None  # why there is no second opinion

    def keypoints(self) -> Any:
        from edged.config.gauge import DEFAULT_GAUGE_MODEL
        from edged.pipelines.gauge.reader import GaugeReader, KeypointModel
        from edged.weights import resolve_model

        if self._keypoints is None:
            path = resolve_model(self.args.model or DEFAULT_GAUGE_MODEL)
            model = KeypointModel(path, self.args.backend, self.args.threads)
            self.models.append(model)
            self._keypoints = GaugeReader(model, direction=self._direction())
        return self._keypoints

    def _direction(self) -> Any:
        """The direction model, where one is asked for and the scale is not given."""
        from edged.engines.errors import EngineError
        from edged.pipelines.gauge.reader import ScaleDirectionModel
        from edged.weights import resolve_model

        choice = self.args.direction_model
        if self.args.sweep is not None or choice is None:
            return None
        path = resolve_model(choice)
        try:
            model = ScaleDirectionModel(path, self.args.backend, self.args.threads)
        except EngineError as exc:  # as in a pipeline: read on, as without the model
            print(
                f"edged read-gauge: direction model not loaded ({exc}); the keypoints alone "
                "say which way the scale runs (give --start-angle/--sweep)",
                file=sys.stderr,
            )
            return None
        self.models.append(model)
        return model

    def pointer(self) -> Any:
        from edged.config.gauge import DEFAULT_POINTER_MODEL

        if self._pointer is None:
            self._pointer = self._pointer_reader(self.args.pointer_model or DEFAULT_POINTER_MODEL)
        return self._pointer

    def panel(self) -> Any:
        if self._panel is None:
            self._panel = self._pointer_reader(self.panel_path(), "panel")
        return self._panel

    def panel_opinion(self, opts: Any) -> Any:
        """The panel reader for ``reader: auto``'s second opinion (``wants_second_opinion``),
        None where it cannot give one, said once on stderr: the model did not load, or it
        measures no scale end and the scale is not given."""
        from edged.engines.errors import EngineError

        if self._panel_unable is not None:
            return None
        try:
            panel = self.panel()
        except EngineError as exc:  # the keypoints' readings stand, as without the model
            self._panel_unable = f"panel model not loaded ({exc})"
        else:
            if panel.can_read(opts):
                return panel
            self._panel_unable = f"the panel model {self.panel_path()} measures no scale end"
        print(
            f"edged read-gauge: {self._panel_unable}; dials the keypoints read unsure (or on "
            "their own scale without a round rim) get no second opinion",
            file=sys.stderr,
        )
        return None

    def panel_path(self) -> str:
        from edged.config.gauge import DEFAULT_PANEL_MODEL

        return str(self.args.panel_model or DEFAULT_PANEL_MODEL)

    def _pointer_reader(self, path: str, kind: str = "pointer") -> Any:
        from edged.pipelines.gauge.pointer_reader import PointerModel, PointerReader
        from edged.weights import resolve_model

        name = "gauge-panel" if kind == "panel" else "gauge-pointer"
        model = PointerModel(resolve_model(path), self.args.backend, self.args.threads, name=name)
        self.models.append(model)
        return PointerReader(model, kind=kind)

    def close(self) -> None:
        for model in self.models:
            model.close()


def read_gauge_command(args: argparse.Namespace) -> int:
    from edged.pipelines.gauge.reader import ReadOptions

    if (args.start_angle is None) != (args.sweep is None):
        print("edged read-gauge: give --start-angle and --sweep together", file=sys.stderr)
        return 2
    if args.sweep is not None and not 0 < abs(args.sweep) <= 360:
        print("edged read-gauge: --sweep must be within ±(0, 360]", file=sys.stderr)
        return 2
    readers = _Readers(args)
    opts = ReadOptions(args.min_value, args.max_value, args.start_angle, args.sweep)
    if args.reader == "panel" and not readers.panel().can_read(opts):
        readers.close()
        print(
            f"edged read-gauge: the panel model {readers.panel_path()} measures no scale end: "
            "give --start-angle and --sweep (seen from the pivot; most panel meters: 315 and "
            "90), or use the bundled panel model",
            file=sys.stderr,
        )
        return 2
    unit = {"unit": args.unit} if args.unit else {}

    def read(image: Any) -> Optional[List[Dict[str, Any]]]:
        lines = _read_image(readers, image, opts, args)
        return None if lines is None else [{**line, **unit} for line in lines]

    try:
        return print_readings(args.images, read)
    finally:
        readers.close()


def print_readings(paths: List[str], read: Callable[[Any], Optional[List[Dict[str, Any]]]]) -> int:
    """One JSON line per reading of each image (``read(image)``; None: the roi lies outside
    it), an error line for an image that cannot be read; exit status 1 if any failed."""
    from edged.cvutil import import_cv2

    cv2 = import_cv2()
    status = 0
    for path in paths:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        lines = None if image is None else read(image)
        if lines is None:
            error = "cannot read the image" if image is None else "the roi lies outside the image"
            print(json.dumps({"image": path, "error": error}))
            status = 1
            continue
        for line in lines:
            print(json.dumps({"image": path, **line}), flush=True)
    return status


def _read_image(
    readers: _Readers, image: Any, opts: Any, args: argparse.Namespace
) -> Optional[List[Dict[str, Any]]]:
    """The readings of one image as JSON-ready dicts (None: the roi misses the image)."""
    from edged.pipelines.gauge.pointer_reader import (
        prefers_pointer,
        wants_second_opinion,
        with_second_opinion,
    )
    from edged.pipelines.gauge.reader import roi_region

    x0 = y0 = 0
    region = image
    if args.roi is not None:
        x0, y0, w, h = args.roi
        region = roi_region(image, x0, y0, w, h)
        if region is None:
            return None
    h, w = region.shape[:2]
    if args.reader == "panel":
        readings = readers.panel().read_crops([region], [opts], [(x0, y0)])
    elif prefers_pointer(args.reader, w, h, args.sweep, located=args.roi is not None):
        readings = readers.pointer().read_crops([region], [opts], [(x0, y0)])
    else:
        reader = readers.keypoints()
        readings = reader.read(region, opts) if args.all else [reader.read_one(region, opts)]
        for r in readings:
            for v in r.keypoints.values():
                v[0], v[1] = v[0] + x0, v[1] + y0
        if args.reader == "auto" and not args.all and wants_second_opinion(readings[0]):
            panel = readers.panel_opinion(opts)
            around_dial = args.roi is None  # (an --roi is asked about as it is)
            readings = [
                with_second_opinion(panel, readings[0], region, opts, (x0, y0), around_dial)
            ]
    return [r.as_dict() for r in readings]
