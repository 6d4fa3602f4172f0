"""Small pure parts: backoff, the latest-frame slot, the bus, supervision, logging, JSONL."""

from __future__ import annotations

import asyncio
import json
import logging
import random

import numpy as np
import pytest

from edged.backoff import Backoff
from edged.bus import ResultBus
from edged.config.log import LoggingConfig
from edged.config.sinks import JsonlSinkConfig
from edged.frames import Frame
from edged.logs import JournalFormatter, setup_logging
from edged.redact import redact
from edged.results import Result
from edged.sinks.jsonl import JsonlWriter
from edged.slot import LatestFrameSlot
from edged.supervise import Supervised


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _frame(seq: int, source_id: str = "s") -> Frame:
    return Frame(source_id, seq, 1000.0 + seq, float(seq), np.zeros((2, 2, 3), np.uint8))


def test_backoff_doubles_caps_and_jitters():
    backoff = Backoff(0.5, 8.0, jitter=0.0, clock=FakeClock())
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    jittery = Backoff(1.0, 100.0, jitter=0.2, rng=random.Random(1))
    delays = [jittery.next_delay() for _ in range(4)]
    assert all(0.8 * 2**i <= d <= 1.2 * 2**i for i, d in enumerate(delays))
    assert len({round(d / 2**i, 6) for i, d in enumerate(delays)}) > 1


def test_backoff_resets_only_after_a_stable_period():
    clock = FakeClock()
    backoff = Backoff(1.0, 60.0, stable_s=30.0, jitter=0.0, clock=clock)
    backoff.next_delay(), backoff.next_delay()
    backoff.succeeded()
    clock.now += 5  # connected, then died quickly: keep backing off
    assert backoff.next_delay() == 4.0
    backoff.succeeded()
    clock.now += 31  # healthy for a while: start again from the beginning
    assert backoff.next_delay() == 1.0


async def test_slot_keeps_the_newest_and_counts_drops():
    slot = LatestFrameSlot("s")
    reader = slot.reader()
    for seq in (1, 2, 3):
        slot.put(_frame(seq))
    assert (await reader.next()).seq == 3
    assert slot.dropped == 2 and reader.skipped == 0
    slot.put(_frame(4))
    slot.put(_frame(5))
    assert (await reader.next()).seq == 5
    assert slot.dropped == 3 and reader.skipped == 1
    waiter = asyncio.ensure_future(reader.next())
    await asyncio.sleep(0)
    assert not waiter.done()
    slot.put_threadsafe(_frame(6))
    assert (await asyncio.wait_for(waiter, 1)).seq == 6
    slot.close()
    assert await reader.next() is None


async def test_slot_without_readers_counts_no_drops():
    slot = LatestFrameSlot("s")
    for seq in range(1, 5):
        slot.put(_frame(seq))
    assert slot.dropped == 0 and slot.latest.seq == 4


async def test_bus_isolates_a_slow_subscriber():
    bus = ResultBus()
    fast = bus.subscribe("fast", maxsize=100)
    slow = bus.subscribe("slow", maxsize=3)
    for seq in range(10):
        bus.publish(Result("p", "t", _frame(seq), {"n": seq}))
    assert [r.payload["n"] for r in await fast.get_batch()] == list(range(10))
    assert [r.payload["n"] for r in await slow.get_batch()] == [7, 8, 9]
    assert slow.dropped == 7 and fast.dropped == 0


async def test_supervised_task_restarts_with_backoff_then_finishes():
    calls = []

    async def work():
        calls.append(1)
        if len(calls) < 3:
            raise ValueError("transient")

    task = Supervised("work", work, initial_s=0.01, max_s=0.02)
    task.start()
    assert await task.wait(5)
    assert len(calls) == 3 and task.restarts == 2 and "transient" in task.last_error


def test_journald_format_has_priorities_and_no_timestamps():
    record = logging.LogRecord("edged.x", logging.WARNING, "f", 1, "cam down\nretrying", None, None)
    assert JournalFormatter().format(record) == "<4>edged.x: cam down\n<4>retrying"


def test_log_levels_per_module_and_redaction(capsys):
    setup_logging(LoggingConfig(level="WARNING", levels={"edged.sources": "DEBUG"}), journald=False)
    logging.getLogger("edged.sources.cam0").debug("opening rtsp://admin:pw@cam/1")
    logging.getLogger("edged.daemon").info("hidden")
    err = capsys.readouterr().err
    assert "rtsp://***@cam/1" in err and "pw@" not in err and "hidden" not in err
    setup_logging(LoggingConfig(), journald=True)
    logging.getLogger("edged.daemon").error("journal")
    assert capsys.readouterr().err.strip().endswith("<3>edged.daemon: journal")


def test_redact_uri_variants():
    assert (
        redact("rtsp://u:p@h:554/x and rtsps://tok@h/y") == "rtsp://***@h:554/x and rtsps://***@h/y"
    )
    assert redact("rtsp://h/x") == "rtsp://h/x"


@pytest.mark.parametrize(
    "text,clean",
    [
        ("rtsp://admin:P@ssw0rd@host/s1", "rtsp://***@host/s1"),
        ("rtsp://admin:pa/ss@host/s1", "rtsp://***@host/s1"),  # unescaped '/' in the password
        ("rtsp://h/s1?user=admin&password=X&ch=1", "rtsp://h/s1?user=admin&password=***&ch=1"),
        ("http://h/a?Token=1;pwd=2", "http://h/a?Token=***;pwd=***"),
        (
            "rtspsrc location=rtsp://cam/x user-id=admin user-pw=S3cret latency=0 ! appsink",
            "rtspsrc location=rtsp://cam/x user-id=admin user-pw=*** latency=0 ! appsink",
        ),
        (
            "rtspsrc location=\"rtsp://a:b@cam/x\" proxy-pw='p w' ! appsink",
            'rtspsrc location="rtsp://***@cam/x" proxy-pw=*** ! appsink',
        ),
        ("rtsp://cam:554/x?ch=1 latency=200", "rtsp://cam:554/x?ch=1 latency=200"),
    ],
)
def test_redact_hides_every_kind_of_credential(text, clean):
    assert redact(text) == clean


def test_log_filter_scrubs_query_and_pipeline_secrets(capsys):
    setup_logging(LoggingConfig(level="INFO"), journald=False)
    log = logging.getLogger("edged.sources.cam0")
    log.warning("cannot open %s", "rtsp://cam/s1?user=admin&password=Xyzzy")
    log.warning("pipeline: rtspsrc location=rtsp://cam/x user-pw=S3cret ! appsink")
    err = capsys.readouterr().err
    assert "Xyzzy" not in err and "S3cret" not in err and "password=***" in err


def test_jsonl_rotates_and_keeps_complete_lines(tmp_path):
    path = tmp_path / "out" / "r.jsonl"
    writer = JsonlWriter(JsonlSinkConfig(path=str(path), max_bytes=2000, backups=2, fsync="always"))
    writer.open()
    for batch in range(60):
        writer.write([{"batch": batch, "pad": "x" * 40}, {"batch": batch, "pad": "y" * 40}])
    writer.close()
    files = [path, path.with_name("r.jsonl.1"), path.with_name("r.jsonl.2")]
    assert all(f.exists() for f in files) and not path.with_name("r.jsonl.3").exists()
    assert all(f.stat().st_size <= 2000 for f in files)
    lines = [line for f in reversed(files) for line in f.read_text().splitlines()]
    batches = sorted({json.loads(line)["batch"] for line in lines})
    assert batches == list(range(batches[0], 60)) and batches[0] > 0
    assert writer.rotations >= 2


def test_jsonl_skips_what_cannot_be_serialised(tmp_path, caplog):
    writer = JsonlWriter(JsonlSinkConfig(path=str(tmp_path / "r.jsonl")))
    writer.open()
    writer.write([{"ok": 1}, {"bad": float("nan")}, {"ok": 2}])
    writer.close()
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == [{"ok": 1}, {"ok": 2}]
    assert writer.unserialisable == 1 and "cannot be written as JSON" in caplog.text


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    setup_logging(LoggingConfig(), journald=False)


def test_backoff_survives_thousands_of_failures():
    backoff = Backoff(0.5, 30.0, jitter=0.0, clock=FakeClock())
    delays = [backoff.next_delay() for _ in range(5000)]  # a camera dead for days
    assert delays[-1] == 30.0
