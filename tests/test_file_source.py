"""File sources: every frame of a video, every image of a directory, in order; loop."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

from edged.config.sources import FileSourceConfig
from edged.sources.capture import CaptureError
from edged.sources.file import FileCapture

from sourcekit import collect, make_source

cv2 = pytest.importorskip("cv2")

FRAMES = 24


def _level(index: int) -> int:
    return 20 + index * 9  # distinct grey levels that survive JPEG-style compression


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    assert writer.isOpened()
    for i in range(FRAMES):
        writer.write(np.full((48, 64, 3), _level(i), np.uint8))
    writer.release()
    return path


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(7):
        cv2.imwrite(str(folder / f"img_{i:03d}.png"), np.full((30, 40, 3), i * 30, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    return folder


def _levels(images):
    return [int(round(float(im.mean()))) for im in images]


def test_every_video_frame_in_order(video):
    images = list(FileCapture(str(video)))
    assert len(images) == FRAMES
    levels = _levels(images)
    assert all(abs(a - _level(i)) <= 2 for i, a in enumerate(levels)), levels


def test_every_image_of_a_directory_in_name_order(image_dir):
    images = list(FileCapture(str(image_dir)))
    assert _levels(images) == [i * 30 for i in range(7)]


def test_glob_and_single_image(image_dir):
    assert len(list(FileCapture(str(image_dir / "img_00[2-4].png")))) == 3
    assert _levels(FileCapture(str(image_dir / "img_005.png"))) == [150]


def test_loop_starts_again(image_dir):
    capture = FileCapture(str(image_dir / "img_00[0-2].png"), loop=True)
    capture.open()
    levels = _levels(capture.read() for _ in range(7))
    capture.close()
    assert levels == [0, 30, 60, 0, 30, 60, 0]


def test_missing_and_undecodable_files_are_clear_errors(tmp_path):
    with pytest.raises(CaptureError, match="no such file"):
        FileCapture(str(tmp_path / "none.mp4")).open()
    with pytest.raises(CaptureError, match="matches no file"):
        FileCapture(str(tmp_path / "*.png")).open()
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)  # opening it would block until a writer came
    with pytest.raises(CaptureError, match="not a regular file"):
        FileCapture(str(fifo)).open()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(CaptureError, match="cannot decode"):
        list(FileCapture(str(bad)))


async def test_live_file_source_hands_on_every_frame_then_ends(video):
    """Without realtime, a live file source waits for its consumer: nothing is dropped."""
    source = make_source(FileSourceConfig(id="clip", kind="file", uri=str(video)))
    source.start()
    try:
        frames = await collect(source, FRAMES + 5, timeout_s=20)
    finally:
        await asyncio.get_running_loop().run_in_executor(None, source.stop)
    assert [f.seq for f in frames] == list(range(1, FRAMES + 1))
    assert [f.meta["index"] for f in frames] == list(range(FRAMES))
    assert source.slot.closed and source.slot.dropped == 0


async def test_live_file_source_waits_for_a_late_first_reader(video):
    """A pipeline that attaches after the source started (model loading) still gets frame 1."""
    source = make_source(FileSourceConfig(id="clip", kind="file", uri=str(video)))
    source.start()
    try:
        await asyncio.sleep(0.5)  # far longer than reading 24 small frames takes
        assert source.frames == 1, "the source ran ahead of its first reader"
        assert source.status()["held_for_reader"] is True
        frames = await collect(source, FRAMES + 5, timeout_s=20)
    finally:
        await asyncio.get_running_loop().run_in_executor(None, source.stop)
    assert [f.seq for f in frames] == list(range(1, FRAMES + 1))


async def test_realtime_file_plays_at_its_fps(video):
    config = FileSourceConfig(id="clip", kind="file", uri=str(video), realtime=True)
    source = make_source(config)
    source.start()
    try:
        frames = await collect(source, 11, timeout_s=10)
    finally:
        await asyncio.get_running_loop().run_in_executor(None, source.stop)
    span = frames[-1].mono - frames[0].mono
    assert 0.3 <= span <= 1.2, f"10 intervals at 25 fps should take ~0.4 s, took {span:.2f}"
