"""``bench/gauge_accuracy.py --photos DIR``: labelled photos are scored like the renders.

No real photos ship with the project, so rendered dials saved as JPEG files stand in for
them here; the point is the file format, its checks and the scoring.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from benchkit import load_bench

from edged.cvutil import import_cv2
from edged.pipelines.gauge.pipeline import resolve_model
from edged.pipelines.gauge.reading import GaugeReading
from edged.pipelines.gauge.synth import render_sample

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench", "gauge_accuracy.py")
MODEL = resolve_model("weights/gauge_kp_w32.onnx")
needs_model = pytest.mark.skipif(not os.path.exists(MODEL), reason=f"no trained model at {MODEL}")


def _bench():
    return load_bench("gauge_accuracy.py")


def _write_photos(directory, n=8):
    """Rendered dials as JPEG "photos" with a labels.jsonl as a person would write it."""
    cv2 = import_cv2()
    bench = _bench()
    lines = []
    for i in range(n):
        image, labels = render_sample(9_100_000_000_000 + i, size=200, split="heldout", mode="crop")
        label = labels[-1]
        name = f"p{i:03d}.jpg"
        cv2.imwrite(os.path.join(directory, name), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        start, sweep = bench.given_scale(label)
        lines.append(
            {
                "image": name,
                "value": label.value if label.readable else None,
                "min": label.min_value,
                "max": label.max_value,
                "start_angle": start,
                "sweep": sweep,
            }
        )
    with open(os.path.join(directory, "labels.jsonl"), "w") as f:
        f.write("\n".join(json.dumps(line) for line in lines) + "\n")
    return lines


@needs_model
def test_labelled_photos_are_scored_with_the_same_figures(tmp_path):
    from edged.pipelines.gauge.reader import GaugeReader, KeypointModel

    lines = _write_photos(str(tmp_path))
    bench = _bench()
    items = bench.load_photo_labels(str(tmp_path))
    assert len(items) == len(lines)
    reader = GaugeReader(KeypointModel(MODEL, "onnxruntime", threads=1))
    res = bench.evaluate_photos(reader, items, scale_given=True)
    readable = sum(line["value"] is not None for line in lines)
    assert res["pictures"] == len(lines) and res["readable_gauges"] == readable
    assert res["read"] + round(res["no_read_rate"] * readable) == readable
    assert res["read"] >= readable - 1
    assert res["median_pct"] < 1.0  # these are easy: the bench's own held-out renders


def test_a_full_circle_error_goes_the_short_way_round():
    bench = _bench()
    assert bench.span_error_pct(9.8, 0.1, 0.0, 10.0, 360.0) == pytest.approx(3.0)
    assert bench.span_error_pct(9.8, 0.1, 0.0, 10.0, 270.0) == pytest.approx(97.0)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"image": "p000.jpg", "value": 1, "min": 0}', "field 'max' must be a finite number"),
        ('{"image": "nope.jpg", "value": 1, "min": 0, "max": 2}', "field 'image' must name"),
        ('{"image": "p000.jpg", "value": 1, "min": 0, "max": 2, "sweep": 270}', "together"),
        (
            '{"image": "p000.jpg", "value": 1, "min": 0, "max": 2, "start_angle": 0, "sweep": 400}',
            "field 'sweep' must be within",
        ),
        ('{"image": "p000.jpg", "value": 1, "min": 0, "max": 2, "box": [1, 2]}', "field 'box'"),
        ('{"image": "p000.jpg", "value": 1, "min": 0, "max": 2, "box": [9, 9, 1, 1]}', "x0 < x1"),
        ("not json", "not JSON"),
        ('{"image": "p000.jpg", "min": 0, "max": 2}', "field 'value' is missing"),
        ('{"image": "p000.jpg", "vlaue": 1, "min": 0, "max": 2}', "unknown field 'vlaue'"),
        ('{"image": "p000.jpg", "value": NaN, "min": 0, "max": 2}', "finite number"),
    ],
)
def test_a_bad_label_line_is_named_with_its_field(tmp_path, line, message):
    cv2 = import_cv2()
    image, _ = render_sample(9_100_000_000_000, size=64, split="heldout", mode="crop")
    cv2.imwrite(str(tmp_path / "p000.jpg"), image)
    (tmp_path / "labels.jsonl").write_text(line + "\n")
    with pytest.raises(ValueError, match=message) as info:
        _bench().load_photo_labels(str(tmp_path))
    assert "labels.jsonl:1" in str(info.value)


def test_with_nothing_readable_the_figures_are_null_not_nan(tmp_path):
    """Valid JSON out: no readings means no statistics, not NaN."""
    bench = _bench()
    res = bench._summary([], [], 0, 0, [])
    assert res["mean_pct"] is None and res["no_read_rate"] is None
    json.dumps(res, allow_nan=False)


def test_the_command_line_says_what_is_wrong_and_exits_2(tmp_path):
    photos = str(tmp_path)
    for args, says in [
        (["--photos", photos], "labels.jsonl: not found"),
        (["--reader", "panel"], "--photos DIR"),
        (["--reader", "pointer", "--n", "1"], "use auto or keypoints"),
        (["--pad", "1.5", "--n", "1"], "--pad frames photos looser"),
        (["--photos", photos, "--pad", "0.5"], "at least 1"),
        (["--loose", "2", "--n", "1"], "use it with --panels"),
        (["--looks", "grey", "--n", "1"], "use it with --photos DIR"),
        (["--photos", photos, "--looks", "grey,sepia"], "unknown look(s) sepia: choose from none"),
    ]:
        proc = subprocess.run([sys.executable, BENCH, *args], capture_output=True, text=True)
        assert proc.returncode == 2 and says in proc.stderr, (args, proc.stderr)


def test_pad_frames_a_photo_looser_and_moves_its_box():
    """``--pad F``: the photo untouched in the middle of a picture F times its size, whose
    border continues its edges (with the same noise every run), the box moved along."""
    import numpy as np

    bench = _bench()
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (100, 80, 3)).astype(np.uint8)
    item = {"image": "dir/p01.jpg", "box": [10, 20, 50, 60], "value": 1.0}
    out, moved = bench.padded(image, item, 1.5)
    assert out.shape == (150, 120, 3)
    assert np.array_equal(out[25:125, 20:100], image)
    assert moved["box"] == [30, 45, 70, 85] and item["box"] == [10, 20, 50, 60]
    # the border carries the edge outward: the left border's columns look like column 0
    assert np.abs(out[25:125, :20].astype(int) - image[:, :1].astype(int)).mean() < 10
    again, _ = bench.padded(image, item, 1.5)
    assert np.array_equal(out, again)
    other, _ = bench.padded(image, dict(item, image="dir/p02.jpg"), 1.5)
    assert not np.array_equal(out, other)  # the noise is the photo's own
    assert np.array_equal(bench.padded(image, item, 1.0)[0], image)


def test_camera_looks_move_the_label_with_the_picture():
    """A look changes the pixels the same way every run; a roll turns the box's corners and
    a labelled start angle with the picture, a resize scales the box, a colour look leaves
    the label alone."""
    import numpy as np

    looks = load_bench("camera_looks.py")
    image = np.full((200, 300, 3), 200, np.uint8)
    image[90:110, 140:160] = (0, 0, 255)  # a red square in the middle
    item = {"image": "p.jpg", "box": [140, 90, 160, 110], "start_angle": 350.0, "sweep": 90}
    grey, same = looks.apply_look("grey", image, item)
    assert same == item and (grey[..., 0] == grey[..., 2]).all()
    assert np.array_equal(grey, looks.apply_look("grey", image, item)[0])
    small, moved = looks.apply_look("small", image, item)
    assert small.shape == (213, 320, 3)
    assert moved["box"] == pytest.approx([149.33, 95.85, 170.67, 117.15], abs=0.01)
    rolled, turned = looks.apply_look("roll+8", image, item)
    assert turned["start_angle"] == pytest.approx(342.0)  # 350 - 8, clockwise from 12
    x0, y0, x1, y1 = turned["box"]  # the square's box, grown by its turned corners
    assert x0 < 140 and y0 < 90 and x1 > 160 and y1 > 110 and x1 - x0 < 20 * 1.2
    red = np.argwhere((rolled[..., 2] > 200) & (rolled[..., 0] < 60))
    assert red[:, 1].min() >= x0 - 1 and red[:, 1].max() <= x1 + 1
    # turned anticlockwise: the leftmost corner is the top-left one, gone down; the
    # topmost is the top-right one
    assert 90 < red[red[:, 1] == red[:, 1].min()][:, 0].mean() < 100
    assert red[red[:, 0] == red[:, 0].min()][:, 1].mean() > 150
    _, back = looks.apply_look("roll-8", image, dict(item, start_angle=355.0))
    assert back["start_angle"] == pytest.approx(3.0)
    # off the middle, under each geometric look, the box still holds the square and no more
    image = np.full((200, 300, 3), 200, np.uint8)
    image[20:50, 30:60] = (0, 0, 255)
    item = {"image": "p.jpg", "box": [30, 20, 60, 50]}
    for name in ("roll+8", "roll-8", "tilt", "small", "large"):
        out, moved = looks.apply_look(name, image, item)
        red = np.argwhere((out[..., 2] > 150) & (out[..., 0] < 100))
        x0, y0, x1, y1 = moved["box"]
        assert abs(red[:, 1].min() - x0) <= 2 and abs(red[:, 1].max() + 1 - x1) <= 2, name
        assert abs(red[:, 0].min() - y0) <= 2 and abs(red[:, 0].max() + 1 - y1) <= 2, name
    # in a scene the picture is one part of a larger frame, its pixels as they were, and
    # the box where the square went; the frame's clutter is drawn there, not left plain
    scene, moved = looks.apply_look("scene", image, item)
    assert scene.shape == (440, 660, 3)
    x0, y0, x1, y1 = (int(round(v)) for v in moved["box"])
    assert (x0, y0, x1, y1) == (30 + 105, 20 + 60, 60 + 105, 50 + 60)
    assert np.array_equal(scene[60:260, 105:405], image)
    around = np.ones(scene.shape[:2], bool)
    around[60:260, 105:405] = False
    assert scene[around].std(axis=0).min() > 20  # not a plain wall
    assert np.array_equal(scene, looks.apply_look("scene", image, item)[0])
    # from further off: the frame 4x the picture, the picture at 0.875 / 0.75 of its sides
    far, moved = looks.apply_look("far", image, item)
    assert far.shape == (800, 1200, 3)
    assert np.array_equal(far[150:350, 262:562], image)
    assert [int(round(v)) for v in moved["box"]] == [30 + 262, 20 + 150, 60 + 262, 50 + 150]
    # a night frame: black and white, dark and noisy, the same pixels every run
    night, same = looks.apply_look("night", image, item)
    assert same == item and night.shape == image.shape
    assert np.abs(night.astype(int) - night[..., :1]).max() <= 8  # grey (JPEG aside)
    assert 40 < np.median(night) < 80 and night[100:, 100:].std() > 2  # 200 -> 60, noisy
    assert np.array_equal(night, looks.apply_look("night", image, item)[0])
    framed_alone = ("scene", "far", "night")
    assert looks.parse_looks("all") == [n for n in looks.LOOKS if n not in framed_alone]
    assert looks.parse_looks("all,scene,far,night") == list(looks.LOOKS)
    assert looks.parse_looks("grey, dark,grey") == ["grey", "dark"]
    with pytest.raises(ValueError, match="unknown look"):
        looks.parse_looks(",")


@needs_model
def test_looks_are_scored_each_and_pooled(tmp_path):
    from edged.pipelines.gauge.reader import GaugeReader, KeypointModel

    _write_photos(str(tmp_path), n=3)
    out = tmp_path / "looks.json"
    proc = subprocess.run(
        [sys.executable, BENCH, "--photos", str(tmp_path), "--looks", "none,dark",
         "--reader", "keypoints", "--scale-given", "--json", str(out)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert res["looks"] == ["none", "dark"] and list(res["by_look"]) == ["none", "dark"]
    bench = _bench()
    reader = GaugeReader(KeypointModel(MODEL))
    items = bench.load_photo_labels(str(tmp_path))
    plain = bench.evaluate_photos(reader, items, scale_given=True, choice="keypoints")
    assert res["by_look"]["none"]["per_photo"] == plain["per_photo"]
    readable = sum(line["truth"] is not None for line in plain["per_photo"])
    assert res["pooled"]["readable_gauges"] == 2 * readable
    lines = plain["per_photo"] + res["by_look"]["dark"]["per_photo"]
    errors = [line["error_pct"] for line in lines if line["error_pct"] is not None]
    ok = [line["error_pct"] for line in lines if line["quality"] == "ok"]
    pooled = res["pooled"]
    assert pooled["read"] == len(errors) and pooled["mean_pct"] == pytest.approx(
        sum(errors) / len(errors)
    )
    assert pooled["flagged_ok_share"] == pytest.approx(len(ok) / len(errors))


@needs_model
def test_a_box_picks_the_labelled_dial_among_several():
    from edged.pipelines.gauge.reader import GaugeReader, KeypointModel, ReadOptions

    bench = _bench()
    reader = GaugeReader(KeypointModel(MODEL, "onnxruntime", threads=1))
    for seed in range(9_200_000_000_000, 9_200_000_000_040):
        image, labels = render_sample(seed, size=400, split="heldout", mode="scene")
        if len(labels) >= 2 and all(lab.readable for lab in labels):
            break
    assert len(labels) >= 2
    for label in labels:
        cx, cy = label.face_center
        r = label.radius
        box = [cx - r, cy - r, cx + r, cy + r]
        opts = ReadOptions(min_value=label.min_value, max_value=label.max_value)
        reading = bench._photo_reading(reader, image, opts, box)
        assert reading is not None
        x, y = reading.keypoints["center"][:2]
        assert box[0] <= x <= box[2] and box[1] <= y <= box[3]


def test_montage_shows_whole_photos_for_the_keypoint_model_and_dials_for_the_pointer_model(
    tmp_path,
):
    """``bench/gauge_montage.py``: the keypoint sheet has one tile per photo that is not a
    ready-made crop (a photo with boxed dials counts once); the sub-dial sheet one per dial."""
    cv2 = import_cv2()
    montage = load_bench("gauge_montage.py")
    big, _ = render_sample(1, size=400)
    crop, _ = render_sample(2, size=120)
    cv2.imwrite(str(tmp_path / "meter.jpg"), big)
    cv2.imwrite(str(tmp_path / "crop.jpg"), crop)
    rows = [
        {"image": "meter.jpg", "value": 1, "min": 0, "max": 10, "box": [0, 0, 200, 200]},
        {"image": "meter.jpg", "value": 2, "min": 0, "max": 10, "box": [200, 0, 400, 200]},
        {"image": "crop.jpg", "value": 3, "min": 0, "max": 10},
    ]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert len(montage.real_tiles(str(tmp_path), "keypoint")) == 1
    assert len(montage.real_tiles(str(tmp_path), "subdial")) == 3
    out = tmp_path / "sheet.png"
    args = ["--kind", "keypoint", "--renders", "3", "--real", str(tmp_path), "--out", str(out)]
    subprocess.run([sys.executable, montage.__file__, *args], check=True, capture_output=True)
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[1] == montage.COLUMNS * montage.TILE


def test_reader_panel_sends_every_dial_to_a_panel_model_that_measures_the_scale(tmp_path):
    """As a config would: a panel model that measures where the scale ends reads dials whose
    scale is not given too; one that does not (trained before the end head) reads only those
    whose scale is labelled, the keypoints the rest."""
    from test_gauge_pointer import FixedModel

    from edged.pipelines.gauge.pointer_reader import PointerReader

    cv2 = import_cv2()
    lines = []
    for i, scale in enumerate([{"start_angle": 315, "sweep": 90}, {}]):
        cv2.imwrite(str(tmp_path / f"m{i}.png"), _marked_meter())
        lines.append({"image": f"m{i}.png", "value": 2.5, "min": 0, "max": 5, **scale})
    (tmp_path / "labels.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")

    class Keypoints:
        def read_one(self, image, opts):
            return GaugeReading(None, 0.0, "unreadable", None, {})

    bench = _bench()
    items = bench.load_photo_labels(str(tmp_path))
    panel = PointerReader(FixedModel(0.0, zero=315.0), kind="panel")
    res = bench.evaluate_photos(Keypoints(), items, True, choice="panel", panel=panel)
    assert [p["reader"] for p in res["per_photo"]] == ["panel", "keypoints"]
    assert res["per_photo"][0]["error_pct"] == pytest.approx(0.0, abs=1.0)
    assert res["read"] == 1 and res["no_read_rate"] == 0.5
    assert res["read_by_panel_model"] == 1
    assert res["by_reader"]["panel"]["read"] == 1 and res["by_reader"]["panel"]["mean_pct"] < 1
    assert res["by_reader"]["keypoints"]["read"] == 0
    assert res["by_reader"]["keypoints"]["no_read_rate"] == 1.0
    measuring = PointerReader(FixedModel(0.0, zero=315.0, end=45.0), kind="panel")
    res = bench.evaluate_photos(Keypoints(), items, True, choice="panel", panel=measuring)
    assert [p["reader"] for p in res["per_photo"]] == ["panel", "panel"]
    assert res["read"] == 2 and res["mean_pct"] < 1.5


def test_the_panel_benchmark_scores_held_out_panel_crops():
    from test_gauge_pointer import FixedModel

    from edged.pipelines.gauge.pointer_reader import PointerReader

    panel = PointerReader(FixedModel(0.0), kind="panel")
    res = _bench().evaluate_panels(lambda crop, opts: panel.read_crops([crop], [opts])[0], 3)
    assert res["pictures"] == 3 and res["readable_gauges"] == 3
    assert res["start_given"] == "from the picture" and res["scale"] == "given"
    given = []

    def read(crop, opts):
        given.append((opts.start_angle, opts.sweep))
        return panel.read_crops([crop], [opts])[0]

    res = _bench().evaluate_panels(read, 3, scale_given=False)
    assert res["scale"] == "model" and given == [(None, None)] * 3
    assert res["framed_loose_up_to"] == 1.0


def test_the_panel_benchmark_frames_meters_loose_on_request():
    """``--panels --loose F``: each meter somewhere in a picture up to F times its tight crop,
    the scale given as seen from its pivot, the truth its own."""
    from edged.pipelines.gauge.panel_crop import render_loose_panel

    seen = []

    def read(crop, opts):
        seen.append((crop.shape, opts.start_angle, opts.sweep))
        return GaugeReading(None, 0.0, "unreadable", None, {})

    res = _bench().evaluate_panels(read, 2, loose=2.0)
    assert res["framed_loose_up_to"] == 2.0 and res["no_read_rate"] == 1.0
    picture, label = render_loose_panel(_bench().SEED_BASE, "heldout", 2.0)
    assert seen[0] == (picture.shape, label.zero_angle, label.label.sweep)
    # the meter lies somewhere inside the picture, not filling it
    cx = label.label.keypoints["center"][0]
    h, w = picture.shape[:2]
    assert 0 <= cx <= w and label.label.radius < 0.85 * min(h, w)


def _marked_meter():
    """A blank picture whose left edge is bright (the fake model tells it from its mirror)."""
    import numpy as np

    image = np.zeros((100, 100, 3), np.uint8)
    image[:, :12] = 255
    return image


@needs_model
def test_the_daemon_photo_bench_reads_each_photo_both_ways(tmp_path):
    """``bench/daemon_photos.py``: each labelled photo as a pipeline's only dial, with and
    without the panel model asked about the frame, side by side, per look; a photo whose
    needle cannot be seen (``value: null``) is not scored."""
    import subprocess
    import sys

    lines = _write_photos(str(tmp_path), n=3)
    lines[0]["value"] = None  # a hidden needle: not scored
    with open(os.path.join(str(tmp_path), "labels.jsonl"), "w") as f:
        f.write("\n".join(json.dumps(line) for line in lines) + "\n")
    script = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "daemon_photos.py")
    out = subprocess.run(
        [
            sys.executable,
            script,
            "--photos",
            str(tmp_path),
            "--looks",
            "none,grey",
            "--repeat",
            "1",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    res = json.loads(out.stdout)
    scored = sum(line["value"] is not None for line in lines)
    assert res["photos"] == scored == 2 and res["skipped"] == 1
    assert set(res["by_look"]) == {"none", "grey"}
    for look in res["by_look"].values():
        for way in ("frame asked", "not asked"):
            assert look[way]["read"] + look[way]["no_read"] == scored
            assert look[way]["ms_per_frame_mean"] > 0
        assert look["time_ratio_asked_over_not"] > 0
    bad = subprocess.run(
        [sys.executable, script, "--photos", str(tmp_path), "--looks", "sepia"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unknown look" in bad.stderr
    none = subprocess.run(
        [sys.executable, script, "--photos", str(tmp_path), "--repeat", "0"],
        capture_output=True,
        text=True,
    )
    assert none.returncode == 2 and "at least 1" in none.stderr
