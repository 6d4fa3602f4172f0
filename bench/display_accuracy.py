"""Seven-segment display reading accuracy on held-out rendered displays.

    python bench/display_accuracy.py --n 2000 [--model weights/display_crnn.onnx]
    python bench/display_accuracy.py --calibrate --n 2000   # pick the unreadable threshold
    python bench/display_accuracy.py --photos DIR           # real pictures, labels.jsonl

Every display is rendered (``edged.pipelines.display.render``) with full
degradations from a seed outside the training range (training seeds are
hashes; ``SEED_BASE + i`` are never drawn). Two sets of ``--n`` each: the
trained styles (held out by seed only) and the held-out styles, which training
never draws (an amber-green LCD backlight, amber LEDs).

Figures per set: string accuracy (the reading's text equals the label, over
the displays read), per-character accuracy (1 - edit distance / label length,
over the displays read), the no-read rate (``unreadable``), the share of all
displays read wrongly (a wrong number published), and ms per display (the
whole read, one thread, batch of one).

``--photos DIR`` reads a labelled folder of real pictures instead: ``DIR/labels.jsonl``,
one JSON object per line, ``{"image": "panel3.jpg", "text": "-12.5"}`` with an optional
``"roi": [x, y, w, h]`` (pixels, as a gauge entry's ``roi`` and ``--roi``) where the
picture holds more than the display; ``text`` is what the display shows, without leading
blanks. The same figures, with every wrong or unread picture listed.

``--calibrate`` renders a validation set (``CALIBRATION_BASE + i``, apart from
the benchmark's seeds) and prints, for candidate thresholds on the reading's
confidence, the no-read rate and the wrong readings that would remain.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from edged.pipelines.display.decode import ctc_greedy
from edged.pipelines.display.model import model_input
from edged.pipelines.display.reader import (
    DEFAULT_DISPLAY_MODEL,
    UNREADABLE_BELOW,
    DisplayModel,
    DisplayReader,
    DisplayReading,
)
from edged.pipelines.display.render import render_display

SEED_BASE = 5_000_000_000_000
CALIBRATION_BASE = 6_000_000_000_000
SETS = (("trained styles", "train"), ("held-out styles", "heldout"))


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


class Tally:
    """Right, wrong and unread displays, per-character accuracy and read times."""

    def __init__(self) -> None:
        self.right = self.wrong = self.no_read = 0
        self.char_acc: List[float] = []
        self.times_ms: List[float] = []

    def add(self, reading: Optional[DisplayReading], label: str, ms: float) -> bool:
        """Count one read of a display showing ``label``; True when it was read right."""
        self.times_ms.append(ms)
        if reading is None or reading.quality == "unreadable":
            self.no_read += 1
            return False
        text = reading.text or ""
        self.char_acc.append(1.0 - min(1.0, edit_distance(text, label) / max(1, len(label))))
        if text == label:
            self.right += 1
            return True
        self.wrong += 1
        return False

    def figures(self) -> Dict[str, Any]:
        n, read = len(self.times_ms), self.right + self.wrong
        return {
            "n": n,
            "string_accuracy": self.right / read if read else None,
            "char_accuracy": float(np.mean(self.char_acc)) if self.char_acc else None,
            "no_read_rate": self.no_read / n,
            "wrong_share_of_all": self.wrong / n,
            "ms_per_display_mean": float(np.mean(self.times_ms)),
            "ms_per_display_median": float(np.median(self.times_ms)),
        }


def _timed_read(reader: DisplayReader, image: np.ndarray, roi: Any = None) -> Tuple[Any, float]:
    t0 = time.perf_counter()
    reading = reader.read(image, roi)
    return reading, (time.perf_counter() - t0) * 1000.0


def score(reader: DisplayReader, base: int, n: int, split: str) -> Dict[str, Any]:
    tally, render_s = Tally(), 0.0
    failures: List[Tuple[int, str, Any]] = []
    for i in range(n):
        t0 = time.perf_counter()
        crop, label = render_display(base + i, split=split)
        render_s += time.perf_counter() - t0
        reading, ms = _timed_read(reader, crop)
        missed = not tally.add(reading, label, ms)
        if missed and reading is not None and reading.quality != "unreadable":
            failures.append((base + i, label, reading.text))
    return {**tally.figures(), "renders_per_s": n / render_s, "failures": failures[:20]}


def load_photo_labels(directory: str) -> List[Dict[str, Any]]:
    """``labels.jsonl`` of a folder of display photos, each line checked (file and line named)."""
    path = os.path.join(directory, "labels.jsonl")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file (one JSON object per picture: image, text, roi)")
    items = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not JSON ({exc.msg})") from None
            if not isinstance(item.get("image"), str) or not isinstance(item.get("text"), str):
                raise ValueError(f'{where}: give "image" and "text" as strings')
            roi = item.get("roi")
            if roi is not None and (
                not isinstance(roi, list)
                or len(roi) != 4
                or not all(isinstance(v, int) for v in roi)
            ):
                raise ValueError(f'{where}: "roi" is [x, y, w, h] in whole pixels')
            image = os.path.join(directory, item["image"])
            if not os.path.isfile(image):
                raise ValueError(f"{where}: {image}: no such file")
            items.append({"image": image, "text": item["text"].strip(), "roi": roi})
    if not items:
        raise ValueError(f"{path}: no pictures listed")
    return items


def score_photos(reader: DisplayReader, items: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The benchmark's figures on real pictures, and each picture read wrong or not at all."""
    from edged.cvutil import import_cv2

    cv2 = import_cv2()
    tally = Tally()
    misses: List[Dict[str, Any]] = []
    for item in items:
        image = cv2.imread(item["image"])
        if image is None:
            raise ValueError(f"{item['image']}: cannot decode")
        reading, ms = _timed_read(reader, image, tuple(item["roi"]) if item["roi"] else None)
        if not tally.add(reading, item["text"], ms):
            read = None if reading is None or reading.quality == "unreadable" else reading.text
            name = os.path.basename(item["image"])
            misses.append({"image": name, "text": item["text"], "read": read})
    return {**tally.figures(), "misses": misses}


def _figures(name: str, res: Dict[str, Any]) -> str:
    def share(value: Any) -> str:
        return "-" if value is None else f"{value:.4f}"

    return (
        f"{name}: n {res['n']}, string accuracy {share(res['string_accuracy'])}, "
        f"per-character {share(res['char_accuracy'])}, no-read {res['no_read_rate']:.4f}, "
        f"wrong {res['wrong_share_of_all']:.4f} of all, "
        f"{res['ms_per_display_mean']:.2f} ms/display (median "
        f"{res['ms_per_display_median']:.2f})"
    )


def calibrate(model: DisplayModel, n: int) -> None:
    rows = []
    for split in ("train", "heldout"):
        for i in range(n):
            crop, label = render_display(CALIBRATION_BASE + i, split=split)
            logits = model(model_input(crop)[None])[0][0]
            d = ctc_greedy(logits)
            rows.append((d.confidence, min(d.char_confidences or [0.0]), d.text == label))
    conf = np.array([r[0] for r in rows])
    chars = np.array([r[1] for r in rows])
    ok = np.array([r[2] for r in rows])
    print(f"validation: {len(rows)} displays, {ok.mean():.4f} right with no threshold")
    print("threshold  | on all decisions: no-read  wrong/all | on characters only: no-read  wrong")
    for th in (0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98):
        keep, keepc = conf >= th, chars >= th
        print(
            f"{th:9.2f}  | {1 - keep.mean():17.4f}  {(~ok & keep).mean():9.4f} | "
            f"{1 - keepc.mean():27.4f}  {(~ok & keepc).mean():.4f}"
        )


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=2000, help="displays per set")
    p.add_argument("--model", default=DEFAULT_DISPLAY_MODEL)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed-base", type=int, default=SEED_BASE)
    p.add_argument("--threshold", type=float, default=UNREADABLE_BELOW)
    p.add_argument("--calibrate", action="store_true", help="print no-read/wrong per threshold")
    p.add_argument("--photos", metavar="DIR", help="a labelled folder of real pictures instead")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    model = DisplayModel(args.model, "onnxruntime", args.threads)
    try:
        if args.calibrate:
            calibrate(model, args.n)
            return 0
        reader = DisplayReader(model, args.threshold)
        reader.read(render_display(0)[0])  # warm-up
        results = {}
        if args.photos:
            try:
                items = load_photo_labels(args.photos)
                results["photos"] = res = score_photos(reader, items)
            except ValueError as exc:
                print(f"display_accuracy: {exc}", file=sys.stderr)
                return 2
            print(_figures(f"photos in {args.photos}", res))
            for miss in res["misses"]:
                print(f"    {miss['image']}: {miss['text']!r} read as {miss['read']!r}")
        for name, split in SETS if not args.photos else ():
            results[name] = res = score(reader, args.seed_base, args.n, split)
            print(f"{_figures(name, res)}; rendered {res['renders_per_s']:.0f} displays/s")
            for seed, label, text in res["failures"][:10]:
                print(f"    seed {seed}: {label!r} read as {text!r}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
