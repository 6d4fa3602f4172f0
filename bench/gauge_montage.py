"""A picture of rendered dials beside real ones, to see that they look alike.

    python bench/gauge_montage.py --real ../shared/testdata/gauges-real/water-meter-dials \\
        --out bench/results/gauge_subdial_montage.png
    python bench/gauge_montage.py --kind keypoint --out bench/results/gauge_v3_montage.png \\
        --real ../shared/testdata/gauges-real/{panel-meters,pressure-gauges,water-meter-dials}
    python bench/gauge_montage.py --kind panel --out bench/results/gauge_panel_montage.png \\
        --real ../shared/testdata/gauges-real/panel-meters

``--kind subdial`` (the pointer model's): top, ``--renders`` crops from ``subdial_synth``
(training styles, seeds 0..N-1); bottom, every labelled dial of the real sets (its ``box``,
or the whole photo). Tiles are what the pointer model sees (64 px), enlarged without
smoothing, with the reading (renders: the label; real: the label by eye) in the corner.

``--kind keypoint`` (the keypoint model's): top, ``render_sample`` pictures (renderer
version 3, training styles, seeds 0..N-1); bottom, every real photo of the sets that is not
a ready-made crop (whole photos, as the reader's first pass sees them: 128 px on the long
side), up to ``--renders`` of them. The corner shows the first dial's value.

``--kind panel`` (the panel model's): top, ``panel_crop`` crops (training styles); bottom,
the real photos, each squashed to the 64 px square the panel model sees, as the subdial tiles.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from edged.cvutil import import_cv2
from edged.pipelines.gauge.panel_crop import render_panel_crop
from edged.pipelines.gauge.pointer_model import model_input
from edged.pipelines.gauge.subdial_synth import render_subdial
from edged.pipelines.gauge.synth import render_sample

TILE = 128
COLUMNS = 12


def _tile(crop: np.ndarray, text: str, kind: str = "subdial") -> np.ndarray:
    cv2 = import_cv2()
    if kind in ("subdial", "panel"):  # what the pointer or panel model sees
        small = np.ascontiguousarray(model_input(crop).transpose(1, 2, 0).astype(np.uint8))
    else:  # the whole picture at the first pass's 128 px, letterboxed grey as the reader does
        h, w = crop.shape[:2]
        s = 128.0 / max(h, w)
        fit = cv2.resize(crop, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        small = np.full((128, 128, 3), 114, np.uint8)
        small[: fit.shape[0], : fit.shape[1]] = fit
    big = cv2.resize(small, (TILE, TILE), interpolation=cv2.INTER_NEAREST)
    cv2.putText(big, text, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(big, text, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (60, 255, 60), 1, cv2.LINE_AA)
    return big


def _grid(tiles: List[np.ndarray], title: str) -> np.ndarray:
    cv2 = import_cv2()
    blank = np.full((TILE, TILE, 3), 255, np.uint8)
    while len(tiles) % COLUMNS:
        tiles.append(blank)
    rows = [np.hstack(tiles[i : i + COLUMNS]) for i in range(0, len(tiles), COLUMNS)]
    head = np.full((28, COLUMNS * TILE, 3), 255, np.uint8)
    cv2.putText(head, title, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([head, *rows])


def real_tiles(folder: str, kind: str = "subdial") -> List[np.ndarray]:
    """Subdial: one tile per labelled dial; keypoint: one per photo that is not a crop
    (photos whose dials have a ``box``, or single-dial photos larger than 200 px)."""
    cv2 = import_cv2()
    tiles, seen = [], set()
    with open(os.path.join(folder, "labels.jsonl")) as f:
        for line in f:
            item = json.loads(line)
            image = cv2.imread(os.path.join(folder, item["image"]), cv2.IMREAD_COLOR)
            if kind == "keypoint":
                if item["image"] in seen or (not item.get("box") and max(image.shape) <= 200):
                    continue
                seen.add(item["image"])
            elif item.get("box"):
                x0, y0, x1, y1 = (int(v) for v in item["box"])
                image = image[y0:y1, x0:x1]
            tiles.append(_tile(image, f"{item['value']}", kind))
    return tiles


def render_tiles(kind: str, n: int) -> List[np.ndarray]:
    tiles = []
    for seed in range(n):
        if kind == "subdial":
            crop, label = render_subdial(seed)
            tiles.append(_tile(crop, f"{label.value:.2f}{' ccw' if label.ccw else ''}"))
        elif kind == "panel":
            crop, panel = render_panel_crop(seed)
            tiles.append(_tile(crop, f"{panel.label.value:.3g}", kind))
        else:
            image, labels = render_sample(seed, 128, split="train")
            tiles.append(_tile(image, f"{labels[-1].value:.3g}", kind))
    return tiles


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kind", choices=("subdial", "keypoint", "panel"), default="subdial")
    p.add_argument("--real", required=True, nargs="+", help="folders with labels.jsonl and photos")
    p.add_argument("--renders", type=int, default=24)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    cv2 = import_cv2()
    renders = render_tiles(args.kind, args.renders)
    real = [t for folder in args.real for t in real_tiles(folder, args.kind)][: args.renders]
    names = ", ".join(os.path.basename(f.rstrip("/")) for f in args.real)
    source = {
        "subdial": "subdial_synth",
        "keypoint": "synth.render_sample, version 3",
        "panel": "panel_crop, renderer version 3",
    }[args.kind]
    sheet = np.vstack(
        [
            _grid(renders, f"{args.renders} renders ({source}, seeds 0-{args.renders - 1})"),
            _grid(
                real,
                f"{len(real)} real {'photos' if args.kind == 'keypoint' else 'dials'} ({names})",
            ),
        ]
    )
    cv2.imwrite(args.out, sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"{args.out}: {sheet.shape[1]}x{sheet.shape[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
