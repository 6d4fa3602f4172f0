"""The display reader and ``edged read-display``: readings, unreadable crops, the committed
model's accuracy on held-out renders."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from edged.cli import main
from edged.pipelines.display.reader import DEFAULT_DISPLAY_MODEL, DisplayReader
from edged.pipelines.display.render import ALPHABET, render_display

cv2 = pytest.importorskip("cv2")

needs_model = pytest.mark.skipif(
    not os.path.exists(DEFAULT_DISPLAY_MODEL), reason="weights/display_crnn.onnx is not there"
)
#: held-out renders for the accuracy floor: seeds apart from training's hashes and from the
#: benchmark's (bench/display_accuracy.py)
FLOOR_SEEDS = range(4_000_000_000_000, 4_000_000_000_100)


class _Fake:
    """A model that answers with fixed logits for each crop."""

    def __init__(self, paths, p=0.99):
        self.paths, self.p, self.calls = paths, p, []

    def __call__(self, batch):
        self.calls.append(batch.shape)
        assert batch.shape[1:] == (1, 32, 160) and batch.dtype == np.float32
        out = []
        for path in self.paths[: len(batch)]:
            c = len(ALPHABET) + 1
            z = np.full((40, c), np.log((1 - self.p) / (c - 1)))
            for t, ch in enumerate(path.ljust(40, "_")):
                z[t, 0 if ch == "_" else ALPHABET.index(ch) + 1] = np.log(self.p)
            out.append(z)
        return (np.stack(out).astype(np.float32),)


def test_a_sure_reading_has_text_and_value():
    crop = np.zeros((30, 90, 3), np.uint8)
    r = DisplayReader(_Fake(["_-_1_22_._5_"])).read(crop)
    assert r.as_dict() == {"text": "-12.5", "value": -12.5, "confidence": 0.99, "quality": "ok"}
    r = DisplayReader(_Fake(["_1_2_:_3_4"])).read(crop)
    assert (r.text, r.value, r.quality) == ("12:34", None, "ok")


def test_an_unsure_reading_is_unreadable_without_a_guess():
    crop = np.zeros((30, 90, 3), np.uint8)
    r = DisplayReader(_Fake(["_1_2_"], p=0.6)).read(crop)
    assert (r.text, r.value, r.quality) == (None, None, "unreadable")
    assert 0.5 < r.confidence < 0.7
    r = DisplayReader(_Fake(["____"])).read(crop)  # nothing seen
    assert (r.text, r.quality) == (None, "unreadable")
    r = DisplayReader(_Fake(["_1_._2_._3_"])).read(crop)  # no display shows two points
    assert (r.text, r.quality) == (None, "unreadable")


def test_roi_and_batches():
    image = np.zeros((100, 200, 3), np.uint8)
    fake = _Fake(["_7_"] * 40)
    reader = DisplayReader(fake)
    assert reader.read(image, (300, 0, 50, 50)) is None
    assert reader.read(image, (10, 10, 120, 40)).text == "7"
    assert [r.text for r in reader.read_crops([image] * 40)] == ["7"] * 40
    assert fake.calls[-2:] == [(32, 1, 32, 160), (8, 1, 32, 160)]


@needs_model
def test_the_cli_reads_a_rendered_display(tmp_path, capsys):
    crop, label = render_display(4_000_000_000_500, text="-27.4", cells=6)
    assert label == "-27.4"
    path = str(tmp_path / "d.png")
    cv2.imwrite(path, crop)
    big = np.full((crop.shape[0] + 60, crop.shape[1] + 100, 3), 90, np.uint8)
    big[30 : 30 + crop.shape[0], 50 : 50 + crop.shape[1]] = crop
    path2 = str(tmp_path / "scene.png")
    cv2.imwrite(path2, big)
    roi = f"50,30,{crop.shape[1]},{crop.shape[0]}"
    assert main(["read-display", path]) == 0
    assert main(["read-display", path2, "--roi", roi]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert set(line) == {"image", "text", "value", "confidence", "quality"}
        assert (line["text"], line["value"], line["quality"]) == ("-27.4", -27.4, "ok")
    assert main(["read-display", str(tmp_path / "missing.png"), path2, "--roi", "900,0,20,20"])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [line["error"] for line in lines] == [
        "cannot read the image",
        "the roi lies outside the image",
    ]


@needs_model
def test_a_crop_without_a_display_is_unreadable():
    from edged.pipelines.display.reader import DisplayModel

    model = DisplayModel(DEFAULT_DISPLAY_MODEL)
    try:
        r = DisplayReader(model).read(np.full((40, 120, 3), 128, np.uint8))
        assert (r.text, r.value, r.quality) == (None, None, "unreadable")
    finally:
        model.close()


@needs_model
def test_accuracy_floor_on_held_out_renders():
    """The committed model on 100 held-out renders of the trained styles and 100 of the
    held-out styles (floors well below what bench/display_accuracy.py measures)."""
    from edged.pipelines.display.reader import DisplayModel

    model = DisplayModel(DEFAULT_DISPLAY_MODEL)
    reader = DisplayReader(model)
    try:
        for split in ("train", "heldout"):
            right = wrong = unread = 0
            for seed in FLOOR_SEEDS:
                crop, label = render_display(seed, split=split)
                r = reader.read(crop)
                if r.quality == "unreadable":
                    unread += 1
                elif r.text == label:
                    right += 1
                else:
                    wrong += 1
            assert right >= 90 and wrong <= 3 and unread <= 8, (split, right, wrong, unread)
    finally:
        model.close()


def test_crops_go_in_calls_no_larger_than_the_engine_takes():
    """A Triton server's max_batch_size (8 in edged's exported repositories) bounds each call."""
    from edged.pipelines.display.reader import DisplayReader

    sizes = []

    class Limited:
        max_batch = 8

        def __call__(self, batch):
            sizes.append(len(batch))
            return (np.zeros((len(batch), 40, 14), np.float32),)

    readings = DisplayReader(Limited()).read_crops([np.zeros((32, 96, 3), np.uint8)] * 19)
    assert len(readings) == 19 and sizes == [8, 8, 3]
