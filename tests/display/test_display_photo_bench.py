"""``bench/display_accuracy.py --photos DIR``: labelled pictures are scored like the renders.

No real display photos ship with the project, so rendered displays saved as PNG files stand
in for them (one pasted into a larger picture and found by its ``roi``); the point is the
file format, its checks and the scoring.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from benchkit import BENCH, load_bench

from edged.cvutil import import_cv2
from edged.pipelines.display.reader import DEFAULT_DISPLAY_MODEL
from edged.pipelines.display.render import render_display

needs_model = pytest.mark.skipif(
    not os.path.exists(DEFAULT_DISPLAY_MODEL), reason=f"no model at {DEFAULT_DISPLAY_MODEL}"
)
SEEDS = range(7_100_000_000_000, 7_100_000_000_006)


def _write_photos(directory) -> list:
    cv2 = import_cv2()
    lines = []
    for i, seed in enumerate(SEEDS):
        crop, text = render_display(seed)
        name = f"display_{i}.png"
        line = {"image": name, "text": text}
        if i == 0:  # the display somewhere in a larger picture: found by its roi
            h, w = crop.shape[:2]
            canvas = np.full((h + 80, w + 120, 3), 90, np.uint8)
            canvas[30 : 30 + h, 50 : 50 + w] = crop
            crop, line["roi"] = canvas, [50, 30, w, h]
        cv2.imwrite(os.path.join(directory, name), crop)
        lines.append(line)
    lines[1]["text"] = "88.8" if lines[1]["text"] != "88.8" else "11.1"  # a label that is wrong
    (directory / "labels.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return lines


@needs_model
def test_photos_are_scored_and_each_miss_is_listed(tmp_path):
    lines = _write_photos(tmp_path)
    bench = load_bench("display_accuracy.py")
    items = bench.load_photo_labels(str(tmp_path))
    assert items[0]["roi"] == lines[0]["roi"]
    from edged.pipelines.display.reader import DisplayModel, DisplayReader

    model = DisplayModel(DEFAULT_DISPLAY_MODEL, "onnxruntime", 1)
    try:
        res = bench.score_photos(DisplayReader(model), items)
    finally:
        model.close()
    assert res["n"] == len(SEEDS)
    missed = {m["image"] for m in res["misses"]}
    assert "display_1.png" in missed  # its label is wrong: never counted right
    read = res["n"] * (1 - res["no_read_rate"])
    right = res["string_accuracy"] * read
    assert right == res["n"] - len(missed)
    assert right >= 4, res  # the renders themselves read (the roi'd one included)


@needs_model
def test_the_command_prints_the_figures_and_the_misses(tmp_path):
    _write_photos(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(BENCH / "display_accuracy.py"), "--photos", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"photos in {tmp_path}: n {len(SEEDS)}, string accuracy" in proc.stdout
    assert "display_1.png:" in proc.stdout


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("not json", "not JSON"),
        ('{"image": "x.png"}', 'give "image" and "text"'),
        ('{"image": "x.png", "text": "1", "roi": [1, 2, 3]}', '"roi" is \\[x, y, w, h\\]'),
        ('{"image": "missing.png", "text": "1"}', "missing.png: no such file"),
    ],
)
def test_a_bad_labels_file_names_the_line(tmp_path, line, words):
    (tmp_path / "x.png").write_bytes(b"")
    (tmp_path / "labels.jsonl").write_text(line + "\n")
    bench = load_bench("display_accuracy.py")
    with pytest.raises(ValueError, match=f"labels.jsonl:1: .*{words}"):
        bench.load_photo_labels(str(tmp_path))
