"""A picture of rendered sub-dials beside real ones, to see that they look alike.

    python bench/gauge_montage.py --real ../shared/testdata/gauges-real/water-meter-dials \\
        --out bench/results/gauge_subdial_montage.png

Top: ``--renders`` crops from ``subdial_synth`` (training styles, seeds 0..N-1).
Bottom: every labelled dial of the real set (its ``box``, or the whole photo).
Each tile is shown as the pointer model sees it (64 px), enlarged without smoothing,
with its reading (renders: the label; real: the label by eye) in the corner.
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
from edged.pipelines.gauge.pointer_model import model_input
from edged.pipelines.gauge.subdial_synth import render_subdial

TILE = 128
COLUMNS = 12


def _tile(crop: np.ndarray, text: str) -> np.ndarray:
    cv2 = import_cv2()
    small = np.ascontiguousarray(model_input(crop).transpose(1, 2, 0).astype(np.uint8))
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


def real_tiles(folder: str) -> List[np.ndarray]:
    cv2 = import_cv2()
    tiles = []
    with open(os.path.join(folder, "labels.jsonl")) as f:
        for line in f:
            item = json.loads(line)
            image = cv2.imread(os.path.join(folder, item["image"]), cv2.IMREAD_COLOR)
            if item.get("box"):
                x0, y0, x1, y1 = (int(v) for v in item["box"])
                image = image[y0:y1, x0:x1]
            tiles.append(_tile(image, f"{item['value']}"))
    return tiles


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--real", required=True, help="a folder with labels.jsonl and photos")
    p.add_argument("--renders", type=int, default=24)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    cv2 = import_cv2()
    renders = []
    for seed in range(args.renders):
        crop, label = render_subdial(seed)
        renders.append(_tile(crop, f"{label.value:.2f}{' ccw' if label.ccw else ''}"))
    real = real_tiles(args.real)
    sheet = np.vstack(
        [
            _grid(renders, f"{args.renders} renders (subdial_synth, seeds 0-{args.renders - 1})"),
            _grid(real, f"{len(real)} real dials ({os.path.basename(args.real.rstrip('/'))})"),
        ]
    )
    cv2.imwrite(args.out, sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"{args.out}: {sheet.shape[1]}x{sheet.shape[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
