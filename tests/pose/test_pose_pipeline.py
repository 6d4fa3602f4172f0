"""The pose pipeline: preprocessing, people in frame pixels, overlay, `edged infer`, live daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edged.config.pipeline_base import BatchConfig
from edged.config.pose import PosePipelineConfig
from edged.engines import TensorSpec
from edged.frames import Frame
from edged.pipelines.pose.pipeline import PosePipeline
from edged.pipelines.pose.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    FrameResizer,
    PosePreprocessor,
    preprocessor_for,
)
from edged.pipelines.pose.topology import Topology

cv2 = pytest.importorskip("cv2")
REPO = Path(__file__).resolve().parents[2]
MAP = 56
TOPOLOGY = Topology.human_pose()


def render_person(keypoints: dict, size: int = MAP):
    """CMAP/PAF for one person: Gaussian peaks, unit vectors along links (map coords)."""
    names = TOPOLOGY.keypoints
    cmap = np.zeros((1, len(names), size, size), np.float32)
    paf = np.zeros((1, 2 * len(TOPOLOGY.skeleton), size, size), np.float32)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    sigma = 0.025 * size
    for name, (r, c) in keypoints.items():
        cmap[0, names.index(name)] = np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * sigma**2))
    for k, (a, b) in enumerate(TOPOLOGY.skeleton):
        if names[a] not in keypoints or names[b] not in keypoints:
            continue
        (ra, ca), (rb, cb) = keypoints[names[a]], keypoints[names[b]]
        length = np.hypot(rb - ra, cb - ca)
        uy, ux = (rb - ra) / length, (cb - ca) / length
        along = (rows - ra) * uy + (cols - ca) * ux
        across = np.abs((rows - ra) * ux - (cols - ca) * uy)
        mask = (along >= 0) & (along <= length) & (across <= 1.5)
        paf[0, 2 * k][mask] = uy
        paf[0, 2 * k + 1][mask] = ux
    return cmap, paf


class MapsEngine:
    """Stands in for a model: returns fixed CMAP/PAF (the parse and the mapping are under test)."""

    def __init__(self, cmap, paf):
        self.maps = {"cmap": cmap, "paf": paf}
        self.inputs = (TensorSpec("input", (1, 3, 224, 224), np.dtype(np.float32)),)
        self.outputs = (
            TensorSpec("cmap", cmap.shape, np.dtype(np.float32)),
            TensorSpec("paf", paf.shape, np.dtype(np.float32)),
        )

    def infer(self, inputs):
        assert inputs["input"].shape == (1, 3, 224, 224)
        return self.maps

    def describe(self):
        return {"backend": "test-maps"}

    def close(self):
        pass


def _config(**extra):
    return PosePipelineConfig(id="people", kind="pose", source="cam", model="m.onnx", **extra)


def _frame(width=640, height=480):
    image = np.zeros((height, width, 3), np.uint8)
    return Frame("cam", 7, 1000.0, 5.0, image)


def test_preprocess_matches_trt_pose_and_reuses_its_buffer():
    pre = PosePreprocessor(224, 224)
    image = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    out = pre(image)
    resized = cv2.resize(image, (224, 224), interpolation=cv2.INTER_LINEAR)
    rgb = resized[..., ::-1].astype(np.float64) / 255.0
    expected = ((rgb - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)[None]
    assert out.dtype == np.float32 and out.shape == (1, 3, 224, 224)
    np.testing.assert_allclose(out, expected, atol=2e-6)
    assert pre(image[:, ::-1].copy()) is out  # same buffer, refilled


def test_frame_input_models_get_the_resized_frame_itself():
    """A model exported with --input-format bgr-uint8 gets uint8 [1, H, W, 3] BGR: resized only."""
    spec = TensorSpec("input", (1, 256, 320, 3), np.dtype(np.uint8))
    resize = preprocessor_for(spec, "m.onnx")
    assert isinstance(resize, FrameResizer)
    image = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    out = resize(image)
    assert out.dtype == np.uint8 and out.shape == (1, 256, 320, 3)
    np.testing.assert_array_equal(out[0], cv2.resize(image, (320, 256)))
    same_size = image[:256, :320]
    np.testing.assert_array_equal(resize(same_size)[0], same_size)
    assert resize(image) is out  # same buffer, refilled
    float_spec = TensorSpec("input", (1, 3, 224, 224), np.dtype(np.float32))
    assert isinstance(preprocessor_for(float_spec, "m.onnx"), PosePreprocessor)


@pytest.mark.parametrize(
    ("shape", "dtype", "message"),
    [
        ((1, 3, 224, 224), np.uint8, r"takes 'input' as uint8 \[1, 3, 224, 224\].*bgr-uint8"),
        ((1, 224, 224, 3), np.float32, r"float32 \[1, 224, 224, 3\]; a pose model takes"),
        ((1, 3, "h", "w"), np.float32, "dynamic input size.*--input-size"),
        ((1, "h", "w", 3), np.uint8, "dynamic input size.*--input-size"),
    ],
)
def test_inputs_a_pose_model_cannot_have_are_refused_naming_the_model(shape, dtype, message):
    engine = MapsEngine(*render_person({}))
    engine.inputs = (TensorSpec("input", shape, np.dtype(dtype)),)
    pipeline = PosePipeline(_config(), engine_factory=lambda c: engine)
    with pytest.raises(ValueError, match="model m.onnx .*" + message):
        pipeline.open()


def test_a_frame_input_model_reads_the_same_people(resnet18_onnx, resnet18_bgr_uint8_onnx):
    """ONNX Runtime, both exports of one checkpoint, the same frames: the same messages."""
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(2)]
    frames.append(cv2.GaussianBlur(frames[0], (9, 9), 0))
    payloads = {}
    for name, model in (("float", resnet18_onnx), ("frame", resnet18_bgr_uint8_onnx)):
        config = PosePipelineConfig(
            id="people", kind="pose", source="cam", model=str(model), cmap_threshold=0.05
        )
        pipeline = PosePipeline(config)
        pipeline.open()
        try:
            payloads[name] = [
                pipeline.process(Frame("cam", i, 1000.0, 5.0, f)).payload
                for i, f in enumerate(frames)
            ]
        finally:
            pipeline.close()
    # the fixture's weights peak near 0.1, so a low threshold gives keypoints to compare
    assert all(payload["persons"] for payload in payloads["float"])
    assert payloads["frame"] == payloads["float"]


def test_people_come_out_in_frame_pixels_with_scores():
    truth = {
        "nose": (10, 20),
        "neck": (18, 20),
        "left_shoulder": (18, 26),
        "right_shoulder": (18, 14),
    }
    cmap, paf = render_person(truth)
    pipeline = PosePipeline(_config(), engine_factory=lambda c: MapsEngine(cmap, paf))
    pipeline.open()
    result = pipeline.process(_frame(640, 480))
    (person,) = result.payload["persons"]
    assert set(person["keypoints"]) == set(truth)
    for name, (row, col) in truth.items():
        x, y, score = person["keypoints"][name]
        assert abs(x - (col + 0.5) / MAP * 640) < 0.5 / MAP * 640
        assert abs(y - (row + 0.5) / MAP * 480) < 0.5 / MAP * 480
        assert 0.9 < score <= 1.0
    assert person["score"] == pytest.approx(np.mean([k[2] for k in person["keypoints"].values()]))
    assert pipeline.summary(result) == {"persons": 1}
    drawn = pipeline.draw(np.zeros((480, 640, 3), np.uint8), result)
    assert drawn.any()


def test_min_keypoints_drops_fragments():
    cmap, paf = render_person({"nose": (10, 20), "left_ankle": (40, 40)})
    pipeline = PosePipeline(
        _config(min_keypoints=2), engine_factory=lambda c: MapsEngine(cmap, paf)
    )
    pipeline.open()
    assert pipeline.process(_frame()).payload["persons"] == []


def test_model_with_other_outputs_is_refused_clearly():
    engine = MapsEngine(*render_person({}))
    engine.outputs = (TensorSpec("heatmaps", (1, 17, 64, 48), np.dtype(np.float32)),)
    pipeline = PosePipeline(_config(), engine_factory=lambda c: engine)
    with pytest.raises(ValueError, match="must output 'cmap' and 'paf'"):
        pipeline.open()


@pytest.fixture
def short_video(tmp_path):
    path = tmp_path / "walk.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    rng = np.random.default_rng(1)
    for _ in range(4):
        writer.write(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
    writer.release()
    return path


def test_edged_infer_writes_one_valid_message_per_frame(resnet18_onnx, short_video, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "results.jsonl"
    annotated = tmp_path / "annotated.avi"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "edged",
            "infer",
            str(short_video),
            "--pipeline",
            "pose",
            "--model",
            str(resnet18_onnx),
            "--backend",
            "onnxruntime",
            "--out",
            str(out),
            "--annotate",
            str(annotated),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["frames"] == 4 and not summary["interrupted"]
    assert set(summary["mean_ms"]) == {"preprocess", "infer", "postprocess"}
    messages = [json.loads(line) for line in out.read_text().splitlines()]
    assert [m["frame_seq"] for m in messages] == [1, 2, 3, 4]
    assert [m["seq"] for m in messages] == [1, 2, 3, 4]
    schema = json.loads((REPO / "schemas" / "edged.pose-1.json").read_text())
    for message in messages:
        jsonschema.Draft202012Validator(schema).validate(message)
    video = cv2.VideoCapture(str(annotated))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    video.release()
    assert "frames 4/4 (100%)" in done.stderr


def test_edged_infer_explains_a_missing_model(short_video, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "edged", "infer", str(short_video), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "model: Field required" in done.stderr


def test_ctrl_c_leaves_a_complete_jsonl(resnet18_onnx, tmp_path):
    import signal
    import time

    video = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for i in range(300):
        writer.write(np.full((120, 160, 3), i % 256, np.uint8))
    writer.release()
    out = tmp_path / "partial.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edged",
            "infer",
            str(video),
            "--model",
            str(resnet18_onnx),
            "--backend",
            "onnxruntime",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 400):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    summary = json.loads(stdout)
    assert summary["interrupted"] and 0 < summary["frames"] < 300
    lines = out.read_text().splitlines()
    assert len(lines) == summary["frames"]
    assert all(json.loads(line)["schema"] == "edged.pose/1" for line in lines)


async def test_pose_pipeline_runs_live_in_the_daemon(resnet18_onnx, tmp_path):
    from edged.config import parse_config
    from edged.daemon import Daemon

    from sourcekit import until

    results = tmp_path / "live.jsonl"
    config = parse_config(
        "sources:\n  - {id: cam0, kind: synthetic, width: 320, height: 240, rate: 5}\n"
        "pipelines:\n"
        f"  - {{id: people, kind: pose, source: cam0, model: '{resnet18_onnx}',"
        " engine: {backend: onnxruntime}}\n"
        f"sinks:\n  jsonl: {{path: '{results}', fsync: never}}\n"
    )
    daemon = Daemon(config)
    await daemon.start()
    try:
        runner = daemon.pipelines()["people"]
        await until(lambda: runner.pipeline.processed >= 2, 60)
        status = runner.status()
        # what the model makes of synthetic frames is not the point (which frames a loaded
        # machine gets to may show a faint one-keypoint "person"): that it runs live is
        assert status["backend"] == "onnxruntime"
        assert set(status["last_result"]) == {"persons"}
        assert isinstance(status["last_result"]["persons"], int)
        assert set(status["timings_ms"]) == {"preprocess", "infer", "postprocess"}
    finally:
        await daemon.stop()
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert records and all(r["kind"] == "pose" and isinstance(r["persons"], list) for r in records)


async def test_daemon_loads_pose_models_through_its_manager(resnet18_onnx, tmp_path):
    """A missing model fails that pipeline with a reason; a good one is listed as ready."""
    from edged.config import parse_config
    from edged.daemon import Daemon

    config = parse_config(
        "sources:\n  - {id: cam0, kind: synthetic, width: 64, height: 48, rate: 5}\n"
        "pipelines:\n"
        f"  - {{id: good, kind: pose, source: cam0, model: '{resnet18_onnx}',"
        " engine: {backend: auto}}\n"
        f"  - {{id: bad, kind: pose, source: cam0, model: '{tmp_path / 'missing.onnx'}'}}\n"
    )
    daemon = Daemon(config)
    await daemon.start()
    try:
        status = daemon.status()
        (failed,) = status["failed"]
        assert failed["id"] == "bad" and "missing.onnx" in failed["error"]
        (model,) = status["models"]
        assert model["name"] == "good" and model["state"] == "ready"
        assert model["engine"]["backend"] == "onnxruntime"
        assert "TensorRT" in model["selection"] or "tensorrt" in model["selection"].lower()
    finally:
        await daemon.stop()
    assert daemon.models.names() == []


def test_describe_names_the_parse_that_runs():
    """The status page shows which parse runs (compiled or numpy): it sets a frame's CPU cost."""
    from edged.pipelines.pose.parse import implementation

    cmap, paf = render_person({"nose": (10, 20)})
    pipeline = PosePipeline(_config(), engine_factory=lambda c: MapsEngine(cmap, paf))
    pipeline.open()
    assert pipeline.describe()["parse"] == implementation()
    assert implementation() in ("compiled", "numpy")


@pytest.mark.parametrize("value", ["fortran", "compiled"])
def test_a_bad_parse_setting_fails_the_pipeline_at_open(
    monkeypatch, fresh_selection, compiled_parse_missing, value
):
    """A bad EDGED_POSE_PARSE (or `compiled` without the extension) fails open(), before the
    model loads, naming the variable and its values; the status page still describes it."""
    monkeypatch.setenv("EDGED_POSE_PARSE", value)
    loaded = []
    pipeline = PosePipeline(_config(), engine_factory=lambda c: loaded.append(c))
    expected = (
        r"EDGED_POSE_PARSE='fortran': expected auto, compiled or numpy"
        if value == "fortran"
        else r"EDGED_POSE_PARSE=compiled but the compiled parse is not built.*auto or numpy"
    )
    with pytest.raises(ValueError, match="pose pipeline people: " + expected):
        pipeline.open()
    assert loaded == []
    assert pipeline.describe() == {"model": "m.onnx", "parse": None}


def test_the_parse_is_chosen_once_when_the_pipeline_opens(monkeypatch, fresh_selection):
    monkeypatch.setenv("EDGED_POSE_PARSE", "numpy")
    cmap, paf = render_person({"nose": (10, 20), "neck": (18, 20)})
    pipeline = PosePipeline(_config(), engine_factory=lambda c: MapsEngine(cmap, paf))
    pipeline.open()
    monkeypatch.setenv("EDGED_POSE_PARSE", "fortran")  # read once: no effect from now on
    assert pipeline.describe()["parse"] == "numpy"
    (person,) = pipeline.process(_frame()).payload["persons"]
    assert set(person["keypoints"]) == {"nose", "neck"}


def test_people_in_frame_pixels_from_a_parse():
    """All people's keypoints are looked up in one batch: each keeps its own parts, scores and
    pixels; people with too few keypoints are dropped; the best person comes first."""
    import numpy as np

    from edged.pipelines.pose.pipeline import persons_from_parse

    cmap = np.zeros((3, 4, 4), np.float32)
    cmap[0, 1, 1], cmap[1, 2, 2], cmap[2, 3, 0] = 0.9, 0.5, 0.7
    peaks = np.zeros((3, 2, 2), np.float32)
    # normalised (y, x) at pixel centres: (i + 0.5) / 4
    peaks[0, 0], peaks[1, 0], peaks[2, 0], peaks[2, 1] = (
        (0.375, 0.375),
        (0.625, 0.625),
        (0.875, 0.125),
        (0.125, 0.125),
    )
    objects = np.array([[-1, 0, 1], [0, -1, 0], [-1, -1, 1]], np.int32)
    names = ["nose", "neck", "ear"]
    persons = persons_from_parse(cmap, 3, objects, peaks, names, 400, 200, min_keypoints=2)
    assert [sorted(p["keypoints"]) for p in persons] == [["ear", "nose"], ["ear", "neck"]]
    best, second = persons
    assert best["keypoints"]["nose"] == [150.0, 75.0, 0.9]
    assert best["keypoints"]["ear"] == [50.0, 175.0, 0.7]
    assert best["score"] == 0.8
    assert second["keypoints"]["neck"] == [250.0, 125.0, 0.5] and second["score"] == 0.25
    assert persons_from_parse(cmap, 0, objects, peaks, names, 400, 200) == []
    assert len(persons_from_parse(cmap, 3, objects, peaks, names, 400, 200)) == 3


# ---------------------------------------------------------------- cross-camera batching

SCENES = [
    {"nose": (10, 20), "neck": (18, 20), "left_shoulder": (18, 26)},
    {"nose": (30, 30), "neck": (38, 30)},
    {},
    {"left_hip": (40, 12), "left_knee": (48, 12), "right_hip": (40, 20)},
]


class BatchMapsEngine:
    """A model with a dynamic batch axis: item i's maps are those of the scene its frame shows.

    Frames are flat grey, scene k at level 40 * k, so the engine can tell them apart by the
    preprocessed value of their first pixel.
    """

    def __init__(self, batch_dim="batch", max_batch=None):
        self.inputs = (TensorSpec("input", (batch_dim, 3, 224, 224), np.dtype(np.float32)),)
        maps = [render_person(scene) for scene in SCENES]
        self.outputs = (
            TensorSpec("cmap", (batch_dim, *maps[0][0].shape[1:]), np.dtype(np.float32)),
            TensorSpec("paf", (batch_dim, *maps[0][1].shape[1:]), np.dtype(np.float32)),
        )
        self.max_batch = max_batch
        pre = PosePreprocessor(224, 224)
        self.by_level = {float(pre(_scene_image(k))[0, 0, 0, 0]): m for k, m in enumerate(maps)}
        self.calls = []

    def infer(self, inputs):
        batch = inputs["input"]
        self.calls.append(batch.shape[0])
        maps = [self.by_level[float(item[0, 0, 0])] for item in batch]
        return {
            "cmap": np.concatenate([m[0] for m in maps]),
            "paf": np.concatenate([m[1] for m in maps]),
        }

    def describe(self):
        return {"backend": "test-batch-maps"}

    def close(self):
        pass


def _scene_image(scene, width=640, height=480):
    return np.full((height, width, 3), 40 * scene, np.uint8)


def _camera_frames(scenes=(0, 1, 2, 3)):
    return [
        Frame(f"cam{i}", 100 + 7 * i, 1000.0 + i, 5.0 + i, _scene_image(k, 320 + 160 * i))
        for i, k in enumerate(scenes)
    ]


def _batch_config(**extra):
    sources = ["cam0", "cam1", "cam2", "cam3"]
    return PosePipelineConfig(
        id="people", kind="pose", source=sources, model="m.onnx", batch={"max": 4}, **extra
    )


def _without_timings(result):
    return (result.pipeline_id, result.kind, result.frame, result.payload)


def test_a_batch_gives_each_frame_what_it_gets_alone():
    """Four cameras, one engine call: each result is the one-frame path's, in frame order."""
    engine = BatchMapsEngine()
    pipeline = PosePipeline(_batch_config(), engine_factory=lambda c: engine)
    pipeline.open()
    frames = _camera_frames()
    alone = [pipeline.process(frame) for frame in frames]
    assert engine.calls == [1, 1, 1, 1]
    together = pipeline.process_batch(frames)
    assert engine.calls[4:] == [4]
    assert [_without_timings(r) for r in together] == [_without_timings(r) for r in alone]
    assert [(r.source_id, r.frame_seq) for r in together] == [
        ("cam0", 100),
        ("cam1", 107),
        ("cam2", 114),
        ("cam3", 121),
    ]
    assert [len(r.payload["persons"]) for r in together] == [1, 1, 0, 1]
    assert all(set(r.timings_ms) == {"preprocess", "infer", "postprocess"} for r in together)
    assert pipeline.describe()["batching"] == "up to 4 frames per engine call"


def test_a_model_with_a_fixed_batch_axis_runs_frame_by_frame_with_one_warning(caplog):
    engine = BatchMapsEngine(batch_dim=1)
    pipeline = PosePipeline(_batch_config(), engine_factory=lambda c: engine)
    with caplog.at_level("WARNING", logger="edged.pipelines.pose.pipeline"):
        pipeline.open()
        frames = _camera_frames()
        first = pipeline.process_batch(frames)
        pipeline.process_batch(frames)
    assert engine.calls == [1] * 8
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "pose pipeline people: batch.max is 4 but model m.onnx runs one call per frame" in (
        warning.getMessage()
    )
    assert "--dynamic-batch" in warning.getMessage()
    assert "fixed batch axis (1)" in pipeline.describe()["batching"]
    assert [r.payload for r in first] == [pipeline.process(f).payload for f in frames]


def test_an_engine_that_takes_fewer_frames_gets_the_batch_in_parts():
    """A TensorRT plan built for batch 2 takes 2 frames a call: 5 frames are 2 + 2 + 1."""
    engine = BatchMapsEngine(max_batch=2)
    config = _batch_config().model_copy(update={"batch": BatchConfig(max=8)})
    pipeline = PosePipeline(config, engine_factory=lambda c: engine)
    pipeline.open()
    frames = _camera_frames((0, 1, 2, 3, 1))
    results = pipeline.process_batch(frames)
    assert engine.calls == [2, 2, 1]
    assert [r.frame for r in results] == frames
    assert [r.payload for r in results] == [pipeline.process(f).payload for f in frames]
    assert pipeline.describe()["batching"].startswith("up to 2 frames per engine call (its engine")


def test_onnx_runtime_batch_equals_frame_by_frame(resnet18_dynamic_onnx):
    """A --dynamic-batch export on ONNX Runtime: four frames in one call, the same people."""
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(3)]
    images.append(cv2.GaussianBlur(images[0], (9, 9), 0))
    frames = [Frame(f"cam{i}", i + 1, 1000.0, 5.0, image) for i, image in enumerate(images)]
    config = _batch_config(cmap_threshold=0.05, engine={"backend": "onnxruntime"})
    config = config.model_copy(update={"model": str(resnet18_dynamic_onnx)})
    pipeline = PosePipeline(config)
    pipeline.open()
    try:
        assert pipeline.engine.inputs[0].shape[0] == "batch"
        alone = [pipeline.process(frame).payload for frame in frames]
        together = [result.payload for result in pipeline.process_batch(frames)]
        assert pipeline.engine.metrics.snapshot()["count"] == 5
    finally:
        pipeline.close()
    assert all(payload["persons"] for payload in alone)
    assert together == alone
