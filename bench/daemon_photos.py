"""The daemon pointed at one meter: labelled photos read by a gauge pipeline whose only dial
has no roi, with the frame as that dial's roi for the panel model's second opinion (the
window around the dial where it is small in the frame: ``pointer_reader.dial_window``), or
not.

``edged read-gauge`` asks the panel model about the picture it reads where the keypoints
read a dial unsure or not at all, or read one without a round rim (a panel meter) on their
own scale; before session 21 the pipeline asked only about dials with an roi, so a camera
framed on one meter and configured without an roi read it with the keypoints alone. This
reads each photo as such a pipeline's frame (only min and max configured, as
``bench/gauge_accuracy.py --photos`` gives them), side by side in one run: one pipeline as
shipped, one with the second opinion for its roi-less dial switched off. Each pipeline
reads the frame once to start (its window memory, its smoothing) and ``--repeat`` times
timed, the last reading scored.

    python bench/daemon_photos.py --photos ../shared/testdata/gauges-real/panel-meters \\
        --photos ../shared/testdata/gauges-real/pressure-gauges [--looks none,scene,far]

Figures per look and way: mean, median error (% of span; the short way round on a dial
labelled a full circle), no-reads, ms per frame (mean and median over the photos). Photos of
several dials (a ``box``) and dials labelled unreadable (``value: null``) are skipped and
counted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
from typing import Any, Dict, List

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from camera_looks import apply_look, parse_looks
from gauge_accuracy import load_photo_labels, span_error_pct

from edged.config import parse_config
from edged.cvutil import import_cv2
from edged.frames import Frame
from edged.pipelines import create_pipeline

WAYS = ("frame asked", "not asked")


def pipeline(item: Dict[str, Any], asked: bool) -> Any:
    """An opened gauge pipeline with ``item``'s dial as its only gauge, min and max only;
    ``asked``: the frame is the dial's roi for the panel second opinion (as shipped; not
    asked: ``panel_second_opinion: false``, which for such a dial is how it was read before
    session 21)."""
    text = textwrap.dedent(
        """
        sources: [{id: cam0, kind: synthetic}]
        pipelines:
          - id: g
            kind: gauge
            source: cam0
            backend: onnxruntime
            panel_second_opinion: %s
            gauges: [{id: dial, min_value: %r, max_value: %r}]
        """
    ) % ("true" if asked else "false", item["min"], item["max"])
    pipe = create_pipeline(parse_config(text).pipelines[0])
    pipe.open()
    return pipe


def read(pipe: Any, image: np.ndarray, repeat: int) -> Any:
    """The dial's message after a first frame and ``repeat`` timed ones: (message, ms)."""
    pipe.process(Frame("cam0", 0, time.time(), time.monotonic(), image))
    t0 = time.perf_counter()
    for n in range(repeat):
        (got,) = pipe.process(Frame("cam0", n + 1, time.time(), time.monotonic(), image)).payload[
            "gauges"
        ]
    return got, (time.perf_counter() - t0) / repeat * 1000.0


def figures(errors: List[float], unread: int, ms: List[float]) -> Dict[str, Any]:
    e = np.array(errors)
    return {
        "read": len(errors),
        "no_read": unread,
        "mean_pct": float(e.mean()) if len(e) else None,
        "median_pct": float(np.median(e)) if len(e) else None,
        "ms_per_frame_mean": float(np.mean(ms)),
        "ms_per_frame_median": float(np.median(ms)),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", action="append", required=True, help="a labelled folder")
    p.add_argument("--looks", default="none", help="camera looks, as gauge_accuracy.py's")
    p.add_argument("--repeat", type=int, default=3, help="timed frames per photo")
    args = p.parse_args()
    if args.repeat < 1:
        print("daemon_photos: --repeat: at least 1 timed frame per photo", file=sys.stderr)
        return 2
    cv2 = import_cv2()
    try:
        looks = parse_looks(args.looks)
        labelled = [item for folder in args.photos for item in load_photo_labels(folder)]
    except ValueError as exc:
        print(f"daemon_photos: {exc}", file=sys.stderr)
        return 2
    # a photo of several dials (a box picks one) is no one meter's frame; a hidden needle
    # has no value to score
    items = [item for item in labelled if item["value"] is not None and item["box"] is None]
    if not items:
        print(
            "daemon_photos: no photo to read: each labelled dial has a box (a photo of "
            "several dials) or no value",
            file=sys.stderr,
        )
        return 2
    res: Dict[str, Any] = {"photos": len(items), "skipped": len(labelled) - len(items)}
    res["by_look"] = {}
    for look in looks:
        seen: Dict[str, Any] = {way: ([], 0, []) for way in WAYS}
        for item in items:
            photo = cv2.imread(item["image"], cv2.IMREAD_COLOR)
            if photo is None:
                print(f"daemon_photos: cannot decode {item['image']}", file=sys.stderr)
                return 2
            image, _ = apply_look(look, photo, item)
            for way in WAYS:  # side by side, photo by photo
                pipe = pipeline(item, asked=way == WAYS[0])
                got, ms = read(pipe, image, args.repeat)
                pipe.close()
                errors, unread, times = seen[way]
                times.append(ms)
                if got["value"] is None:
                    seen[way] = (errors, unread + 1, times)
                    continue
                errors.append(
                    span_error_pct(
                        got["value"], item["value"], item["min"], item["max"], item["sweep"] or 0.0
                    )
                )
        res["by_look"][look] = {way: figures(*seen[way]) for way in WAYS}
        asked, alone = (res["by_look"][look][w]["ms_per_frame_mean"] for w in WAYS)
        res["by_look"][look]["time_ratio_asked_over_not"] = asked / alone
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
