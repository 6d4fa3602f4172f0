"""The on-disk spool: every MQTT message waits here until the broker acknowledges it.

A SQLite database in WAL mode with four tables: ``spool`` (the messages, in the
order they were made), ``seqs`` (the per-topic message counters, so ``seq``
continues across restarts), ``meta`` (small JSON values such as the drop
count and the Home Assistant entities announced) and ``dead_letter`` (messages
the broker keeps refusing, kept for a person to look at: the newest ones, up to
an eighth of the payload budget). Ids come from AUTOINCREMENT,
so they only ever grow: replay in id order is replay in the order made.

The class is blocking and not thread-safe: the MQTT sink calls it from one
single-thread executor only. ``max_bytes`` bounds the spool's whole footprint on
disk (database, WAL and shared-memory file), because on a small disk a WAL that
grows unchecked fills it and then nothing can be written at all: the WAL gets a
share of the budget (``wal_autocheckpoint``, ``journal_size_limit`` and a TRUNCATE
checkpoint whenever one transaction overran it), the database file the rest
(``max_page_count``, a hard stop), and the payloads half of that, so the oldest
messages are dropped, counted, well before the hard stop is reached. What the
bounds remove is always the oldest messages, counted, never silent. A file that
SQLite cannot read is moved aside and a fresh spool started; the newest
``KEEP_CORRUPT`` such files are kept, and what they held is counted where it can
still be read. So that ``seq`` never starts again at 1 then (a consumer that
de-duplicates on topic and seq would throw new messages away), a small file
beside the spool (``<spool>.seq``) holds a high-water mark per topic, always
``SEQ_RESERVE`` or more above what any message used: a fresh spool continues
from there, and the gap tells consumers something was lost.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

__all__ = [
    "MIN_BYTES",
    "Budget",
    "CommitResult",
    "DeadLetter",
    "NewRow",
    "OpenReport",
    "Spool",
    "SpoolError",
    "SpoolRow",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1

# Jetsons often boot without an RTC, at 1970, until NTP syncs. A message stamped
# before this (2020-01-01) has an unknown age and is never expired by age; nor is
# anything while the clock itself reads earlier.
PLAUSIBLE_EPOCH_S = 1577836800.0

KEEP_CORRUPT = 3  # moved-aside files kept; older ones are deleted
SEQ_RESERVE = 10000  # seqs the high-water mark stays ahead by (written ~once per 5000)
MIN_BYTES = 256 * 1024  # the smallest footprint the budgets below leave room in
SHM_BYTES = 32 * 1024  # the WAL index: one 32 KiB block while the WAL stays small
PAGE_BYTES = 4096  # SQLite's default page size, used until the file says otherwise

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    created_ts REAL NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS seqs (topic TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    size INTEGER NOT NULL,
    dead_ts REAL NOT NULL,
    reason TEXT NOT NULL
);
"""


INSERT_ROWS = 128  # 7 parameters a row: under SQLite's old limit of 999 per statement
_INSERT_SQL = "INSERT INTO spool (id, topic, payload, qos, retain, created_ts, size) VALUES "


def _ranges(ids: Sequence[int]) -> List[Tuple[int, int]]:
    """Sorted, de-duplicated ids as inclusive ranges of consecutive ids."""
    out: List[Tuple[int, int]] = []
    for ident in sorted(set(ids)):
        if out and ident == out[-1][1] + 1:
            out[-1] = (out[-1][0], ident)
        else:
            out.append((ident, ident))
    return out


class SpoolError(Exception):
    """The spool cannot be used (not a damaged file: that one is moved aside)."""


class SpoolRow(NamedTuple):
    """One spooled message."""

    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool

    @property
    def size(self) -> int:
        return len(self.payload) + len(self.topic)


class NewRow(NamedTuple):
    """A message to spool (its id is given by the spool)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


class OpenReport(NamedTuple):
    """What an opened spool holds."""

    rows: int
    bytes: int
    next_id: int
    oldest_ts: Optional[float]
    seqs: Dict[str, int]
    meta: Dict[str, Any]
    moved_aside: Optional[str]  # where an unreadable file went, if one was found
    lost: Optional[int] = None  # messages left in that file (None: it cannot be counted)


class Budget(NamedTuple):
    """How a spool's disk budget is shared out; see the module docstring."""

    wal_bytes: int
    db_pages: int
    payload_bytes: int

    @classmethod
    def split(cls, max_bytes: int, page_size: int = PAGE_BYTES) -> Budget:
        total = max(max_bytes, MIN_BYTES)
        wal = max(8 * page_size, total // 8)
        db = total - wal - SHM_BYTES
        return cls(wal, db // page_size, db // 2)


class DeadLetter(NamedTuple):
    """A message given up on, and why."""

    row: SpoolRow
    reason: str


class CommitResult(NamedTuple):
    ids: List[int]  # ids of the inserted rows, in order
    deleted: int  # acknowledged rows removed
    dropped: int  # oldest rows removed by the bounds
    dropped_through: int  # every id <= this is gone (0: nothing dropped)
    rows: int
    bytes: int
    oldest_ts: Optional[float]


class Spool:
    """Blocking SQLite store; see the module docstring."""

    def __init__(
        self,
        path: str,
        *,
        max_bytes: int,
        max_age_s: float,
        synchronous: str = "full",
        clock: Callable[[], float] = time.time,
    ):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.budget = Budget.split(max_bytes)
        self.max_age_s = max_age_s
        self.synchronous = synchronous.upper()
        self._clock = clock  # wall clock: ages must survive restarts
        self._db: Optional[sqlite3.Connection] = None
        self._rows = 0
        self._bytes = 0
        self._next_id = 1
        self._oldest_ts: Optional[float] = None
        self._meta: Dict[str, Any] = {}
        self._hwm: Dict[str, int] = {}

    # ------------------------------------------------------------ open / close

    def open(self) -> OpenReport:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(
                f"cannot create the spool's directory {self.path.parent}: {exc.strerror}; "
                "create it and let the edged user write there"
            ) from None
        moved = None
        lost: Optional[int] = None
        salvaged: Dict[str, int] = {}
        try:
            self._connect()
        except sqlite3.OperationalError as exc:  # permissions, locked, disk I/O: not damage
            self._disconnect()
            raise SpoolError(
                f"cannot open the spool {self.path}: {exc}; check that the edged user may "
                "write the file and its directory, and that no other edged uses it"
            ) from None
        except sqlite3.DatabaseError as exc:  # not a database, malformed, failed check
            salvaged = self._salvage_seqs()
            lost = self._count_lost()
            self._disconnect()
            moved = self._move_aside(exc, lost)
            self._connect()
        db = self._db
        assert db is not None
        self._hwm = self._read_hwm()
        if moved or not db.execute("SELECT 1 FROM seqs LIMIT 1").fetchone():
            # A fresh spool: counters read from the old file are exact; for the rest,
            # continue above every seq an earlier spool may have used.
            for topic, mark in self._hwm.items():
                salvaged.setdefault(topic, mark)
        if salvaged:
            with db:
                self._write_seqs(salvaged)
        self._rows, self._bytes = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM spool"
        ).fetchone()
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'spool'").fetchone()
        self._next_id = (row[0] if row else 0) + 1
        self._oldest_ts = self._read_oldest_ts()
        seqs = dict(db.execute("SELECT topic, seq FROM seqs").fetchall())
        meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        self._meta = dict(meta)
        return OpenReport(
            self._rows, self._bytes, self._next_id, self._oldest_ts, seqs, meta, moved, lost
        )

    def _connect(self) -> None:
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=True)
        self._db = db
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.DatabaseError(f"cannot switch the spool to WAL (got {mode})")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        db.execute("PRAGMA busy_timeout=5000")
        self._apply_budget(db)
        check = db.execute("PRAGMA quick_check").fetchall()
        if check != [("ok",)]:
            raise sqlite3.DatabaseError("quick_check: " + "; ".join(str(r[0]) for r in check[:3]))
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, FORMAT_VERSION):
            raise sqlite3.DatabaseError(
                f"spool format {version} is newer than this edged ({FORMAT_VERSION})"
            )
        db.executescript(_SCHEMA)
        if version != FORMAT_VERSION:  # no write on every open: the disk may be full
            db.execute(f"PRAGMA user_version={FORMAT_VERSION}")

    def _apply_budget(self, db: sqlite3.Connection) -> None:
        """Hold the WAL and the database file to their shares of ``max_bytes``."""
        page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
        self.budget = Budget.split(self.max_bytes, page_size)
        wal_pages = max(1, self.budget.wal_bytes // page_size)
        db.execute(f"PRAGMA wal_autocheckpoint={wal_pages}")
        db.execute(f"PRAGMA journal_size_limit={self.budget.wal_bytes}")
        # An existing file larger than the budget (max_bytes was lowered) keeps its
        # size: SQLite never sets the limit below the current page count.
        db.execute(f"PRAGMA max_page_count={self.budget.db_pages}")

    def disk_bytes(self) -> int:
        """What the spool takes on disk now: database, WAL and shared-memory file."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.stat(f"{self.path}{suffix}").st_size
            except OSError:
                pass
        return total

    def _shrink_wal(self) -> None:
        """Checkpoint and truncate the WAL if it outgrew its share (one big transaction
        does that; so does a write that failed on a full disk)."""
        db = self._db
        try:
            size = os.stat(f"{self.path}-wal").st_size
        except OSError:
            return
        if db is None or size <= self.budget.wal_bytes:
            return
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            log.debug("spool WAL checkpoint failed: %s", exc)

    def _disconnect(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def _salvage_seqs(self) -> Dict[str, int]:
        """The seq counters of an unreadable spool, if that table can still be read."""
        try:
            if self._db is None:
                return {}
            return dict(self._db.execute("SELECT topic, seq FROM seqs").fetchall())
        except sqlite3.Error:
            return {}

    def _count_lost(self) -> Optional[int]:
        """Messages an unreadable spool still holds, if that much can be read."""
        try:
            if self._db is None:
                return None
            return int(self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])
        except sqlite3.Error:
            return None

    @property
    def hwm_path(self) -> Path:
        return self.path.with_name(self.path.name + ".seq")

    def _read_hwm(self) -> Dict[str, int]:
        """The seq high-water marks; an unreadable file counts as none (logged)."""
        try:
            data = json.loads(self.hwm_path.read_text(encoding="utf-8"))
            return {str(k): int(v) for k, v in data.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("cannot read the seq high-water marks %s: %s", self.hwm_path, exc)
            return {}

    def _raise_hwm(self, seqs: Dict[str, int]) -> None:
        """Keep the high-water mark SEQ_RESERVE ahead of the seqs about to be committed.

        Written (atomically, synced) before the transaction that uses them, so no
        committed seq is ever above the mark on disk.
        """
        low = {t: v for t, v in seqs.items() if v > self._hwm.get(t, 0) - SEQ_RESERVE // 2}
        if not low:
            return
        marks = dict(self._hwm)
        marks.update({t: v + SEQ_RESERVE for t, v in low.items()})
        tmp = self.hwm_path.with_name(self.hwm_path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(marks, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.hwm_path)
        self._hwm = marks

    def _prune_corrupt(self) -> None:
        """Keep the newest KEEP_CORRUPT moved-aside files (with their -wal and -shm)."""
        prefix = f"{self.path.name}.corrupt-"
        found = [
            p for p in self.path.parent.glob(prefix + "*") if not p.name.endswith(("-wal", "-shm"))
        ]
        found.sort(key=lambda p: (p.stat().st_mtime, p.name))
        for old in found[:-KEEP_CORRUPT] if len(found) > KEEP_CORRUPT else []:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(f"{old}{suffix}")
                except FileNotFoundError:
                    pass
            log.info("deleted %s: only the newest %d unreadable spools are kept", old, KEEP_CORRUPT)

    def _move_aside(self, exc: Exception, lost: Optional[int]) -> str:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self._clock()))
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                os.replace(part, f"{target}{suffix}")
        log.warning(
            "spool %s cannot be read (%s); moved it to %s and started a fresh one; "
            "%s message(s) in it are lost",
            self.path,
            exc,
            target,
            "an unknown number of" if lost is None else lost,
        )
        self._prune_corrupt()
        return str(target)

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._disconnect()

    # ------------------------------------------------------------ writing

    def commit(
        self,
        inserts: Sequence[NewRow],
        seqs: Dict[str, int],
        deletes: Sequence[int],
        meta: Optional[Dict[str, Any]] = None,
        first_id: int = 0,
        dead: Sequence[DeadLetter] = (),
    ) -> CommitResult:
        """One transaction: new rows, counters, acknowledged rows removed, bounds applied.

        New rows get ids from ``first_id`` at the earliest: ids below it were given to
        messages sent without the spool while it could not be written.
        """
        db = self._db
        assert db is not None, "spool is not open"
        now = self._clock()
        self._next_id = max(self._next_id, first_id)
        ids = list(range(self._next_id, self._next_id + len(inserts)))
        added_bytes = sum(len(r.payload) + len(r.topic) for r in inserts)
        if seqs:
            self._raise_hwm(seqs)
        db.execute("BEGIN IMMEDIATE")
        try:
            if inserts:
                self._insert(ids, inserts, now)
            if seqs:
                self._write_seqs(seqs)
            if dead:
                self._bury(dead, now)
            deleted, deleted_bytes = self._delete(list(deletes) + [d.row.id for d in dead])
            rows = self._rows + len(inserts) - deleted
            size = self._bytes + added_bytes - deleted_bytes
            dropped, dropped_bytes, through = self._apply_bounds(rows, size, now)
            updates = dict(meta or {})
            if dropped:
                updates["dropped_total"] = int(self._meta.get("dropped_total", 0)) + dropped
            if updates:
                db.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in updates.items()],
                )
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            self._shrink_wal()  # give back what a failed write took on a full disk
            raise
        self._shrink_wal()
        self._meta.update(updates)
        self._next_id += len(inserts)
        self._rows = rows - dropped
        self._bytes = size - dropped_bytes
        if inserts or deleted or dropped or self._oldest_ts is None:
            self._oldest_ts = self._read_oldest_ts()
        return CommitResult(
            ids, deleted, dropped, through, self._rows, self._bytes, self._oldest_ts
        )

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not undone it already.

        On a full disk (SQLITE_FULL) or an I/O error SQLite rolls back by
        itself; an unconditional ROLLBACK would then fail with "no transaction
        is active" and that would replace the error that says what is wrong.
        """
        db = self._db
        if db is None or not db.in_transaction:
            return
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.debug("spool rollback failed: %s", exc)

    def _bury(self, dead: Sequence[DeadLetter], now: float) -> None:
        """Copy messages to ``dead_letter`` and keep the newest within its share."""
        db = self._db
        assert db is not None
        db.executemany(
            "INSERT OR REPLACE INTO dead_letter VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (d.row.id, d.row.topic, d.row.payload, d.row.qos, int(d.row.retain),
                 d.row.size, now, d.reason)
                for d in dead
            ],
        )  # fmt: skip
        kept = 0
        for ident, size in db.execute("SELECT id, size FROM dead_letter ORDER BY id DESC"):
            kept += size
            if kept > self.budget.payload_bytes // 8:
                db.execute("DELETE FROM dead_letter WHERE id <= ?", (ident,))
                break

    def dead_letters(self) -> int:
        """How many messages the dead-letter table keeps."""
        assert self._db is not None, "spool is not open"
        return int(self._db.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0])

    def _write_seqs(self, seqs: Dict[str, int]) -> None:
        assert self._db is not None
        self._db.executemany(
            "INSERT OR REPLACE INTO seqs (topic, seq) VALUES (?, ?)", list(seqs.items())
        )

    def _insert(self, ids: List[int], inserts: Sequence[NewRow], now: float) -> None:
        """Multi-row INSERTs: one statement per ~128 rows instead of one step per row."""
        db = self._db
        assert db is not None
        for start in range(0, len(inserts), INSERT_ROWS):
            chunk = inserts[start : start + INSERT_ROWS]
            values: List[Any] = []
            for ident, r in zip(ids[start : start + INSERT_ROWS], chunk):
                size = len(r.payload) + len(r.topic)
                values += (ident, r.topic, r.payload, r.qos, int(r.retain), now, size)
            db.execute(_INSERT_SQL + ",".join(["(?,?,?,?,?,?,?)"] * len(chunk)), values)

    def _delete(self, ids: Sequence[int]) -> Tuple[int, int]:
        """Remove acknowledged rows; ones the bounds dropped already are not counted twice.

        Acknowledgements arrive nearly in id order, so the ids are removed as ranges
        of consecutive ids: usually one or two statements per commit.
        """
        db = self._db
        assert db is not None
        count = 0
        size = 0
        for low, high in _ranges(ids):
            found = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM spool WHERE id BETWEEN ? AND ?",
                (low, high),
            ).fetchone()
            if found[0]:
                db.execute("DELETE FROM spool WHERE id BETWEEN ? AND ?", (low, high))
            count += found[0]
            size += found[1]
        return count, size

    def _apply_bounds(self, rows: int, size: int, now: float) -> Tuple[int, int, int]:
        """Drop the oldest rows while over the payload budget or older than max_age_s."""
        db = self._db
        assert db is not None
        cutoff = now - self.max_age_s
        if now < PLAUSIBLE_EPOCH_S:
            cutoff = float("-inf")  # the clock is not set yet: age means nothing
        limit = self.budget.payload_bytes
        if size <= limit and not (
            self._oldest_ts is not None and PLAUSIBLE_EPOCH_S <= self._oldest_ts < cutoff
        ):
            # The cached oldest ts may predate this transaction's deletes: re-read only
            # when it says something is too old.
            return 0, 0, 0
        dropped = 0
        dropped_bytes = 0
        through = 0
        last_id = 0
        while rows - dropped > 0:
            chunk = db.execute(
                "SELECT id, size, created_ts FROM spool WHERE id > ? ORDER BY id LIMIT 512",
                (last_id,),
            ).fetchall()
            if not chunk:
                break
            stop = False
            for ident, row_size, created in chunk:
                expired = PLAUSIBLE_EPOCH_S <= created < cutoff
                if size - dropped_bytes <= limit and not expired:
                    stop = True
                    break
                dropped += 1
                dropped_bytes += row_size
                through = ident
            last_id = chunk[-1][0]
            if stop:
                break
        if dropped:
            db.execute("DELETE FROM spool WHERE id <= ?", (through,))
        return dropped, dropped_bytes, through

    def _read_oldest_ts(self) -> Optional[float]:
        assert self._db is not None
        row = self._db.execute("SELECT created_ts FROM spool ORDER BY id LIMIT 1").fetchone()
        return None if row is None else float(row[0])

    # ------------------------------------------------------------ reading

    def read(self, from_id: int, limit: int) -> List[SpoolRow]:
        """Up to ``limit`` rows with id >= ``from_id``, oldest first."""
        assert self._db is not None, "spool is not open"
        rows = self._db.execute(
            "SELECT id, topic, payload, qos, retain FROM spool WHERE id >= ? ORDER BY id LIMIT ?",
            (from_id, limit),
        ).fetchall()
        return [SpoolRow(i, t, bytes(p), q, bool(r)) for i, t, p, q, r in rows]
