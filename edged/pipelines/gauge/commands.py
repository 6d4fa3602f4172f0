"""``edged read-gauge`` (and ``edged demo``): gauge commands for the CLI."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict

__all__ = ["read_gauge_command", "register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "read-gauge",
        help="read analog gauges in images; one JSON line per image",
        description="Read the most prominent analog gauge in each image and print one JSON line "
        'per image: {"image", "value", "confidence", "quality", "angle_deg", "keypoints"}. '
        "Angles are degrees, clockwise, 0 = 12 o'clock. Without --start-angle/--sweep the "
        "model's scale endpoints are used.",
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
    p.add_argument("--model", default=None, help="keypoint model (default: the bundled one)")
    p.add_argument("--backend", default="onnxruntime", choices=["auto", "onnxruntime", "tensorrt"])
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime CPU threads")
    p.add_argument(
        "--all", action="store_true", help="print every gauge found, not only the main one"
    )
    p.set_defaults(func=read_gauge_command)
    try:
        from edged.pipelines.gauge.demo import register_demo
    except ImportError:  # pragma: no cover - the demo needs the MQTT sink
        return
    register_demo(subparsers)


def read_gauge_command(args: argparse.Namespace) -> int:
    from edged.config.gauge import DEFAULT_GAUGE_MODEL
    from edged.cvutil import import_cv2
    from edged.pipelines.gauge.pipeline import resolve_model
    from edged.pipelines.gauge.reader import GaugeReader, KeypointModel, ReadOptions

    if (args.start_angle is None) != (args.sweep is None):
        print("edged read-gauge: give --start-angle and --sweep together", file=sys.stderr)
        return 2
    if args.sweep is not None and not 0 < abs(args.sweep) <= 360:
        print("edged read-gauge: --sweep must be within ±(0, 360]", file=sys.stderr)
        return 2
    cv2 = import_cv2()
    model = KeypointModel(
        resolve_model(args.model or DEFAULT_GAUGE_MODEL), args.backend, args.threads
    )
    reader = GaugeReader(model)
    opts = ReadOptions(args.min_value, args.max_value, args.start_angle, args.sweep)
    status = 0
    for path in args.images:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            print(json.dumps({"image": path, "error": "cannot read the image"}))
            status = 1
            continue
        readings = reader.read(image, opts) if args.all else [reader.read_one(image, opts)]
        for r in readings:
            line: Dict[str, Any] = {"image": path, **r.as_dict()}
            if args.unit:
                line["unit"] = args.unit
            print(json.dumps(line), flush=True)
    model.close()
    return status
