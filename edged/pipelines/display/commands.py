"""``edged read-display``: read seven-segment displays in images, one JSON line per image."""

from __future__ import annotations

import argparse
from typing import Any, Dict, List, Optional

from edged.config.gauge import DEFAULT_DISPLAY_MODEL
from edged.pipelines.gauge.commands import parse_roi, print_readings

__all__ = ["read_display_command", "register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "read-display",
        help="read seven-segment displays (LCD/LED) in images; one JSON line per image",
        description="Read the seven-segment display that each image (or its --roi) shows, "
        'and print one JSON line per image: {"image", "text", "value", "confidence", '
        '"quality"}. text is what the display shows without its leading blanks ("-12.5"), '
        "value its number (null when it is none: dashes, a clock). A reading the model is not "
        'sure of, character by character, is "unreadable", with no text and no value. The '
        "image or the roi should hold the display and little else.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument(
        "--roi",
        type=parse_roi,
        metavar="X,Y,W,H",
        help="read the display in this region of each image (pixels, as read-gauge's --roi)",
    )
    p.add_argument("--model", default=None, help="display model (default: the bundled one)")
    p.add_argument("--backend", default="onnxruntime", choices=["auto", "onnxruntime", "tensorrt"])
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime CPU threads")
    p.set_defaults(func=read_display_command)


def read_display_command(args: argparse.Namespace) -> int:
    from edged.pipelines.display.reader import DisplayModel, DisplayReader
    from edged.weights import resolve_model

    model = DisplayModel(
        resolve_model(args.model or DEFAULT_DISPLAY_MODEL), args.backend, args.threads
    )
    reader = DisplayReader(model)

    def read(image: Any) -> Optional[List[Dict[str, Any]]]:
        reading = reader.read(image, args.roi)
        return None if reading is None else [reading.as_dict()]

    try:
        return print_readings(args.images, read)
    finally:
        model.close()
