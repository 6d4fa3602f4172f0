"""The SQLite spool on its own: order, counters across restarts, bounds, corrupt files."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from edged.sinks.spool import KEEP_CORRUPT, MIN_BYTES, DeadLetter, NewRow, Spool, SpoolError


def rows(n: int, topic: str = "t/a", size: int = 10, start: int = 0):
    """``n`` rows of exactly ``size + 8 + len(topic)`` bytes each."""
    return [NewRow(topic, b"x" * size + b"%08d" % (start + i), 1, False) for i in range(n)]


def open_spool(path, **kw) -> Spool:
    spool = Spool(
        str(path), max_bytes=kw.pop("max_bytes", 10**9), max_age_s=kw.pop("age", 1e9), **kw
    )
    return spool


def test_rows_come_back_in_order_and_counters_persist(tmp_path):
    path = tmp_path / "s.db"
    spool = open_spool(path)
    report = spool.open()
    assert report.rows == 0 and report.next_id == 1 and report.moved_aside is None
    result = spool.commit(rows(5), {"t/a": 5}, [], {"k": [1, 2]})
    assert result.ids == [1, 2, 3, 4, 5] and result.rows == 5
    assert [r.id for r in spool.read(3, 10)] == [3, 4, 5]
    spool.commit([], {}, [1, 2])
    spool.close()

    again = open_spool(path)
    report = again.open()
    assert report.rows == 3 and report.seqs == {"t/a": 5} and report.meta == {"k": [1, 2]}
    assert report.next_id == 6
    assert [r.payload for r in again.read(0, 10)] == [r.payload for r in rows(5)[2:]]
    again.close()


def test_ids_keep_growing_after_the_spool_empties(tmp_path):
    spool = open_spool(tmp_path / "s.db")
    spool.open()
    first = spool.commit(rows(3), {}, [])
    spool.commit([], {}, first.ids)
    assert spool.commit(rows(1), {}, []).ids == [4]
    spool.close()
    reopened = open_spool(tmp_path / "s.db")
    assert reopened.open().next_id == 5
    reopened.close()


def test_full_spool_drops_the_oldest_and_counts(tmp_path):
    spool = open_spool(tmp_path / "s.db", max_bytes=MIN_BYTES)
    spool.open()
    one = 1000 + 8 + len("t/a")
    fit = spool.budget.payload_bytes // one
    spool.commit(rows(fit, size=1000), {}, [])
    result = spool.commit(rows(10, size=1000, start=fit), {}, [])  # 10 too many
    assert result.dropped == 10 and result.dropped_through == 10
    assert result.bytes <= spool.budget.payload_bytes
    assert spool.read(0, 1)[0].id == 11
    spool.close()
    reopened = open_spool(tmp_path / "s.db", max_bytes=MIN_BYTES)
    assert reopened.open().meta["dropped_total"] == 10
    reopened.close()


def test_the_spool_stays_within_max_bytes_on_disk(tmp_path):
    """Database, WAL and shared-memory file together, while messages flow through
    (acknowledged a commit later) and while they pile up until the oldest go."""
    limit = 1024 * 1024
    spool = open_spool(tmp_path / "s.db", max_bytes=limit, synchronous="normal")
    spool.open()
    largest = 0
    previous: list = []
    for n in range(400):
        acked = previous if n < 200 else []  # then the broker goes away
        previous = spool.commit(rows(20, size=400, start=20 * n), {"t/a": 20 * n}, acked).ids
        largest = max(largest, spool.disk_bytes())
    assert spool.read(0, 1)[0].id > 1  # the bound dropped the oldest
    assert largest <= limit, f"the spool took {largest} bytes on disk, more than {limit}"
    spool.close()


# SQLite rolls a transaction back by itself after SQLITE_FULL in some cases (one big
# row here) and not in others (many rows): both must report the full disk.
@pytest.mark.parametrize("count,size", [(1, 100_000), (50, 4000)])
def test_a_full_disk_reports_the_full_disk_and_the_spool_recovers(tmp_path, count, size):
    spool = open_spool(tmp_path / "s.db")
    spool.open()
    spool.commit(rows(2), {"t/a": 2}, [])
    pages = spool._db.execute("PRAGMA page_count").fetchone()[0]
    spool._db.execute(f"PRAGMA max_page_count={pages}")  # SQLite's own SQLITE_FULL path
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        spool.commit(rows(count, size=size, start=2), {"t/a": 2 + count}, [])
    spool._db.execute("PRAGMA max_page_count=1000000")  # space is back
    result = spool.commit(rows(1, start=2), {"t/a": 3}, [])
    assert result.ids == [3] and result.rows == 3
    spool.close()


def test_old_messages_expire_but_not_before_the_clock_is_set(tmp_path):
    now = [1_700_000_000.0]
    spool = open_spool(tmp_path / "s.db", age=60, clock=lambda: now[0])
    spool.open()
    spool.commit(rows(3), {}, [])
    now[0] += 30
    spool.commit(rows(2, start=3), {}, [])
    now[0] += 40  # the first three are 70 s old, the last two 40 s
    result = spool.commit([], {}, [])
    assert result.dropped == 3 and result.rows == 2
    spool.close()

    early = [1000.0]  # a Jetson before NTP: 1970
    unset = open_spool(tmp_path / "u.db", age=60, clock=lambda: early[0])
    unset.open()
    unset.commit(rows(3), {}, [])
    early[0] = 1_700_000_000.0  # NTP syncs: the rows look 50 years old
    assert unset.commit([], {}, []).dropped == 0
    unset.close()


def test_acked_rows_that_were_dropped_are_not_counted_twice(tmp_path):
    spool = open_spool(tmp_path / "s.db", max_bytes=MIN_BYTES)
    spool.open()
    fit = spool.budget.payload_bytes // 1011
    spool.commit(rows(fit - 5, size=1000), {}, [])
    dropped = spool.commit(rows(10, size=1000, start=fit), {}, [])
    assert dropped.dropped > 0
    gone = list(range(1, dropped.dropped_through + 1))
    after = spool.commit([], {}, gone)  # acks for rows already dropped
    assert after.deleted == 0 and after.bytes == dropped.bytes and after.rows == dropped.rows
    spool.close()


def test_unreadable_file_is_moved_aside_and_a_fresh_spool_starts(tmp_path, caplog):
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database" * 200)
    spool = open_spool(path)
    report = spool.open()
    assert report.moved_aside is not None and report.rows == 0
    assert "cannot be read" in caplog.text
    assert (tmp_path / report.moved_aside.split("/")[-1]).read_bytes().startswith(b"this is not")
    assert spool.commit(rows(1), {}, []).ids == [1]
    spool.close()


def test_damaged_pages_are_moved_aside(tmp_path):
    path = tmp_path / "s.db"
    spool = open_spool(path)
    spool.open()
    spool.commit(rows(2000, size=200), {"t/a": 2000}, [])
    spool.close()
    data = bytearray(path.read_bytes())
    for offset in range(8192, len(data), 4096):  # scribble over the middle of every page
        data[offset + 100 : offset + 400] = b"\xff" * 300
    path.write_bytes(bytes(data))
    fresh = open_spool(path)
    report = fresh.open()
    assert report.moved_aside is not None
    fresh.close()


def test_wal_mode_and_sync_setting(tmp_path):
    spool = open_spool(tmp_path / "s.db", synchronous="normal")
    spool.open()
    spool.close()
    db = sqlite3.connect(str(tmp_path / "s.db"))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_place_is_a_clear_error_and_nothing_is_moved(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(SpoolError, match="may write"):
            open_spool(locked / "s.db").open()
    finally:
        locked.chmod(0o700)


def test_a_file_in_place_of_the_directory_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SpoolError, match="directory"):
        open_spool(tmp_path / "file" / "s.db").open()


def test_dead_letters_leave_the_spool_are_kept_and_bounded(tmp_path):
    spool = open_spool(tmp_path / "s.db", max_bytes=MIN_BYTES)
    spool.open()
    first = spool.commit(rows(3), {}, [])
    stored = spool.read(2, 1)[0]
    result = spool.commit([], {}, [], dead=[DeadLetter(stored, "too big")])
    assert result.deleted == 1 and [r.id for r in spool.read(0, 10)] == [1, 3]
    assert spool.dead_letters() == 1
    share = spool.budget.payload_bytes // 8
    big = spool.commit(rows(4, size=share // 3, start=3), {}, []).ids
    for row in spool.read(big[0], 4):
        spool.commit([], {}, [], dead=[DeadLetter(row, "too big")])
    assert spool.dead_letters() == 2  # the newest that fit in an eighth of the budget
    spool.close()
    reopened = open_spool(tmp_path / "s.db", max_bytes=MIN_BYTES)
    assert reopened.open().rows == len(first.ids) - 1
    assert reopened.dead_letters() == 2
    reopened.close()


def test_seq_continues_above_the_old_counters_after_the_spool_is_lost(tmp_path):
    path = tmp_path / "s.db"
    spool = open_spool(path)
    spool.open()
    spool.commit(rows(45), {"t/a": 45}, [])
    spool.close()
    path.write_bytes(b"not a database any more" * 500)  # nothing can be salvaged
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    fresh = open_spool(path)
    report = fresh.open()
    assert report.moved_aside is not None
    assert report.seqs["t/a"] > 45, report.seqs  # never 1 again: consumers de-duplicate
    fresh.close()


def test_what_a_moved_aside_spool_held_is_counted(tmp_path, caplog):
    path = tmp_path / "s.db"
    spool = open_spool(path)
    spool.open()
    spool.commit(rows(7), {"t/a": 7}, [])
    spool._db.execute("PRAGMA user_version=99")  # readable, but not a format it knows
    spool.close()
    again = open_spool(path)
    report = again.open()
    assert report.moved_aside is not None and report.lost == 7
    assert report.seqs == {"t/a": 7}  # salvaged from the old file
    assert "7 message(s) in it are lost" in caplog.text
    again.close()


def test_only_the_newest_unreadable_spools_are_kept(tmp_path):
    path = tmp_path / "s.db"
    for n in range(KEEP_CORRUPT + 3):
        path.write_bytes(b"garbage %d " % n * 500)
        spool = open_spool(path, clock=lambda n=n: 1_700_000_000.0 + n)
        assert spool.open().moved_aside is not None
        spool.close()
    kept = sorted(p.name for p in tmp_path.glob("s.db.corrupt-*"))
    assert len(kept) == KEEP_CORRUPT, kept
    newest = max(tmp_path.glob("s.db.corrupt-*"), key=lambda p: p.stat().st_mtime)
    assert newest.read_bytes().startswith(b"garbage %d " % (KEEP_CORRUPT + 2))
