"""The outbox: messages go into the spool first, out to the broker in order, and leave on PUBACK.

``put()`` returns once its messages are committed to the spool (group commit: one
transaction for everything that arrived while the previous one was written, on
the spool's own thread). A pump hands committed messages to the current
connection in id order, at most ``max_inflight`` unacknowledged at a time, and a
message leaves the spool only when the broker acknowledges it; deletes are
batched too. On every new connection the pump starts again from the oldest
spooled message, so whatever was in flight when a link dropped, or was spooled
while the broker was away or before a restart, is sent again, in order, marked
``replayed``. Delivery is at least once: a message whose PUBACK was lost is sent
twice, with the same ``seq``.

The per-topic ``seq`` counters live here too (persisted in the same
transaction as the messages that used them), so the outbox is the
``SeqCounters`` that ``edged.messages`` asks for the next seq.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
from concurrent.futures import Executor
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from edged.messages import mark_replayed
from edged.sinks.mqtt_client import MqttConnection
from edged.sinks.spool import CommitResult, DeadLetter, NewRow, Spool, SpoolRow

__all__ = ["Outbox"]

LATENCY_SAMPLES = 4096
#: A message in flight on this many lost connections in a row, never acknowledged, is
#: taken to be what the broker drops the link over (too big for its max_packet_size…).
MAX_SEND_ATTEMPTS = 3
BURST_DIV = 8  # refill when this share of the window is free


class Outbox:
    """See the module docstring. All methods run on the event loop."""

    def __init__(
        self,
        spool: Spool,
        executor: Executor,
        *,
        max_inflight: int = 100,
        log: Optional[logging.Logger] = None,
        tail_rows: int = 20000,
        ack_flush_rows: int = 512,
        ack_flush_delay_s: float = 0.05,
    ):
        self.spool = spool
        self.max_inflight = max_inflight
        self.log = log or logging.getLogger(__name__)
        self._executor = executor
        self._tail_rows = tail_rows
        self._ack_flush_rows = ack_flush_rows
        self._ack_flush_delay_s = ack_flush_delay_s
        # seq counters and small persisted values
        self._seqs: Dict[str, int] = {}
        self._dirty_seqs: Dict[str, int] = {}
        self.meta: Dict[str, Any] = {}
        self._dirty_meta: Dict[str, Any] = {}
        # writing
        self._pending: List[Tuple[List[NewRow], asyncio.Future]] = []
        self._acked: List[int] = []
        self._ack_timer: Optional[asyncio.TimerHandle] = None
        self._work: Optional[asyncio.Event] = None
        self._writer: Optional[asyncio.Task] = None
        # committed rows not yet handed over; holds every row with id >= _tail_from
        self._tail: Deque[SpoolRow] = collections.deque()
        self._tail_from = 1
        self._next_id = 1
        self._dropped_through = 0
        # sending
        self._conn: Optional[MqttConnection] = None
        self._gen = 0
        self._pump_task: Optional[asyncio.Task] = None
        self._cursor = 0
        self._live_from = 1
        self._inflight: Dict[int, SpoolRow] = {}
        self._losses: Dict[int, int] = {}  # row id -> connections lost while it was in flight
        #: messages up to this id are sent one at a time, each waiting for its PUBACK: the
        #: same messages were in flight on lost links in a row (see ``_count_losses``)
        self._probe_through = -1
        self._dead: Dict[int, DeadLetter] = {}  # given up on; leave the spool at the next commit
        self._kick: Optional[asyncio.Event] = None
        self._waiters: List[asyncio.Future] = []
        self.on_change: Optional[Callable[[], None]] = None  # after commits, acks, detach
        # figures
        self.rows = 0
        self.bytes = 0
        self.oldest_ts: Optional[float] = None
        self.published = 0
        self.replayed = 0
        self.acked = 0
        self.rejected = 0
        self.dropped = 0
        self.dead_lettered = 0
        self.spool_errors = 0  # messages that could not be spooled (sent without it)
        self.spool_writable = True  # the last commit succeeded
        self.moved_aside: Optional[str] = None
        self.lost_moved_aside: Optional[int] = None  # messages in that file (None: unknown)
        self.last_spool_error: Optional[str] = None
        self.latencies_ms: Deque[float] = collections.deque(maxlen=LATENCY_SAMPLES)

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        report = await loop.run_in_executor(self._executor, self.spool.open)
        self._work = asyncio.Event()
        self._kick = asyncio.Event()
        self._seqs = dict(report.seqs)
        self.meta = dict(report.meta)
        self._next_id = self._tail_from = report.next_id
        self.rows, self.bytes, self.oldest_ts = report.rows, report.bytes, report.oldest_ts
        self.moved_aside = report.moved_aside
        self.lost_moved_aside = report.lost
        self._writer = asyncio.ensure_future(self._write_loop())
        if report.rows:
            self.log.info(
                "spool %s holds %d message(s) (%d bytes) from an earlier run; they go first",
                self.spool.path,
                report.rows,
                report.bytes,
            )

    async def close(self) -> None:
        """Detach, write what is pending (acks, counters), close the spool."""
        self.detach()
        if self._writer is not None and not self._writer.done():
            await self.flush()
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
        for _, fut in self._pending:
            if not fut.done():
                fut.set_result(False)
        self._pending = []
        await asyncio.get_running_loop().run_in_executor(self._executor, self.spool.close)

    # ------------------------------------------------------------ seq counters

    def peek(self, topic: str) -> int:
        return self._seqs.get(topic, 0) + 1

    def advance(self, topic: str, count: int = 1) -> None:
        value = self._seqs.get(topic, 0) + count
        self._seqs[topic] = value
        self._dirty_seqs[topic] = value

    def set_meta(self, key: str, value: Any) -> None:
        """Persist a small JSON value with the next commit (call flush() to force one)."""
        self.meta[key] = value
        self._dirty_meta[key] = value
        self._wake_writer()

    # ------------------------------------------------------------ writing

    async def put(self, rows: List[NewRow]) -> bool:
        """Spool ``rows``; returns once committed (True) or after a spool error (False)."""
        assert self._work is not None, "outbox is not open"
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((rows, fut))
        self._work.set()
        return bool(await fut)

    async def flush(self) -> bool:
        """Commit counters, metadata and acknowledgements now."""
        return await self.put([])

    def _wake_writer(self) -> None:
        if self._work is not None:
            self._work.set()

    async def _write_loop(self) -> None:
        assert self._work is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._work.wait()
            self._work.clear()
            if self._ack_timer is not None:
                self._ack_timer.cancel()
                self._ack_timer = None
            batch, self._pending = self._pending, []
            inserts = [row for rows, _ in batch for row in rows]
            seqs, self._dirty_seqs = self._dirty_seqs, {}
            deletes, self._acked = self._acked, []
            meta, self._dirty_meta = self._dirty_meta, {}
            dead = list(self._dead.values())
            try:
                result: CommitResult = await loop.run_in_executor(
                    self._executor,
                    self.spool.commit,
                    inserts,
                    seqs,
                    deletes,
                    meta,
                    self._next_id,
                    dead,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._commit_failed(exc, inserts, seqs, deletes, meta)
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(False)
                continue
            for letter in dead:  # they are in the table now; the pump skips them no more
                self._dead.pop(letter.row.id, None)
            self._committed(inserts, result)
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(True)

    def _committed(self, inserts: List[NewRow], result: CommitResult) -> None:
        self._append_tail(result.ids, inserts)
        if not self.spool_writable:
            self.spool_writable = True
            self.log.warning(
                "the spool %s can be written again; %d message(s) went without it meanwhile",
                self.spool.path,
                self.spool_errors,
            )
        if result.dropped:
            self._dropped_through = max(self._dropped_through, result.dropped_through)
            while self._tail and self._tail[0].id <= result.dropped_through:
                self._tail.popleft()
            first = self.dropped == 0
            self.dropped += result.dropped
            # the spool wrote the new total in the same transaction as the drop
            self.meta["dropped_total"] = int(self.meta.get("dropped_total", 0)) + result.dropped
            if first or self.dropped % 1000 < result.dropped:
                self.log.warning(
                    "spool full (max %d bytes, max age %.0f s): dropped the %d oldest "
                    "message(s); %d dropped since start",
                    self.spool.max_bytes,
                    self.spool.max_age_s,
                    result.dropped,
                    self.dropped,
                )
        self.rows, self.bytes, self.oldest_ts = result.rows, result.bytes, result.oldest_ts
        self._notify()

    def _commit_failed(
        self,
        exc: Exception,
        inserts: List[NewRow],
        seqs: Dict[str, int],
        deletes: List[int],
        meta: Dict[str, Any],
    ) -> None:
        """Messages that could not be spooled go out live, from memory (counted).

        A full disk must not stop the output: they get ids as if spooled and wait
        in the in-memory tail for the pump, which sends them over the current
        connection or the next one; only a restart, or a tail that overflows,
        loses them. Counters, metadata and acknowledgements are retried.
        """
        for topic, value in seqs.items():
            self._dirty_seqs.setdefault(topic, value)
        for key, value in meta.items():
            self._dirty_meta.setdefault(key, value)
        self._acked = deletes + self._acked
        self._append_tail(list(range(self._next_id, self._next_id + len(inserts))), inserts)
        self.spool_errors += len(inserts)
        self.spool_writable = False
        reason = f"{type(exc).__name__}: {exc}"
        if reason != self.last_spool_error:
            self.log.error(
                "cannot write the spool %s (%s): sending without it until it can be "
                "written again (%d message(s) so far)",
                self.spool.path,
                reason,
                self.spool_errors,
            )
        self.last_spool_error = reason
        self._notify()

    def _append_tail(self, ids: List[int], inserts: List[NewRow]) -> None:
        """Hand rows (spooled or not) to the pump, keeping at most ``tail_rows`` in memory."""
        for ident, row in zip(ids, inserts):
            self._tail.append(SpoolRow(ident, row.topic, row.payload, row.qos, row.retain))
        if ids:
            self._next_id = ids[-1] + 1
        while len(self._tail) > self._tail_rows:
            self._tail_from = self._tail.popleft().id + 1

    # ------------------------------------------------------------ sending

    def attach(self, conn: MqttConnection) -> None:
        """Start sending over ``conn``, from the oldest spooled message."""
        self.detach()
        self._conn = conn
        self._live_from = self._next_id
        self._pump_task = asyncio.ensure_future(self._pump(self._gen, conn))

    def detach(self) -> None:
        """The connection is gone: what was in flight stays spooled for the next one."""
        self._gen += 1
        if self._conn is not None:
            self._count_losses()
        self._conn = None
        self._inflight.clear()
        self._cursor = 0
        if self._pump_task is not None:
            self._pump_task.cancel()
            self._pump_task = None
        self._notify()

    def _count_losses(self) -> None:
        """Count the lost link against each message in flight; give up on a message that
        was in flight, unacknowledged, on MAX_SEND_ATTEMPTS lost links in a row, the last
        time alone.

        A broker that drops the link over one message (MQTT 3.1.1 has no other way to
        refuse one bigger than its max_packet_size) would otherwise get it again first
        on every reconnect, and nothing behind it would ever be delivered. But the
        messages sent beside it are in flight on those links too, and the broker closes
        the link before it acknowledges the ones it read just before: counting them all
        would give up on innocent messages (it did, with oversized messages every few
        seconds). So once the same messages were in flight on two lost links in a row,
        the next links send them one at a time, each waiting for its PUBACK
        (``_probe_through``), and only a message alone in flight is given up on.
        """
        losses = {i: self._losses.get(i, 0) + 1 for i in self._inflight}
        self._losses = losses
        if len(losses) == 1:
            ((ident, lost),) = losses.items()
            if lost >= MAX_SEND_ATTEMPTS:
                del losses[ident]
                self._bury(self._inflight[ident], f"the broker dropped the connection {lost} "
                           "times while it was in flight")  # fmt: skip
                return
        if any(lost >= 2 for lost in losses.values()):
            self._probe_through = max(self._probe_through, max(losses))

    def _bury(self, row: SpoolRow, reason: str) -> None:
        """Move ``row`` to the dead-letter table (at the next commit) and stop sending it."""
        self._dead[row.id] = DeadLetter(row, reason)
        self.dead_lettered += 1
        self.meta["dead_lettered_total"] = int(self.meta.get("dead_lettered_total", 0)) + 1
        self._dirty_meta["dead_lettered_total"] = self.meta["dead_lettered_total"]
        self.log.warning(
            "gave up on message %d on %s (%d bytes): %s; kept in the spool's dead-letter "
            "table (%d so far)",
            row.id,
            row.topic,
            len(row.payload),
            reason,
            self.dead_lettered,
        )
        self._wake_writer()

    async def _pump(self, gen: int, conn: MqttConnection) -> None:
        assert self._kick is not None
        loop = asyncio.get_running_loop()
        self._cursor = 0
        window = max(1, min(self.max_inflight, conn.receive_maximum))
        # Refill in bursts (a few acks at a time) rather than one publish per PUBACK,
        # unless fewer messages than that are waiting.
        burst = max(1, window // BURST_DIV)
        while gen == self._gen:
            probing = self._probing()
            room = (1 if probing else window) - len(self._inflight)
            waiting = self._next_id - self._cursor
            from_db = self._cursor < self._tail_from
            need = 1 if probing else max(burst, window // 4) if from_db else burst
            if waiting <= 0 or room < min(need, waiting):
                self._kick.clear()
                await self._kick.wait()
                continue
            if from_db:
                snapshot = self._next_id
                rows = await loop.run_in_executor(
                    self._executor, self.spool.read, self._cursor, room
                )
                if gen != self._gen:
                    return
                rows = [r for r in rows if r.id > self._dropped_through]
                if not rows:
                    self._cursor = max(self._cursor, snapshot)
                    continue
            else:
                rows = self._take_tail(room)
                if not rows:
                    self._cursor = self._next_id
                    continue
            if not self._send(gen, conn, rows):
                return  # the link is gone; the sink detaches and attaches the next one

    def _probing(self) -> bool:
        """Whether the next message goes alone: one of the messages under suspicion is next,
        or still in flight (``_count_losses``)."""
        oldest = next(iter(self._inflight), None)  # sent in id order: the first is the oldest
        return self._cursor <= self._probe_through or (
            oldest is not None and oldest <= self._probe_through
        )

    def _take_tail(self, count: int) -> List[SpoolRow]:
        tail = self._tail
        while tail and tail[0].id < self._cursor:
            tail.popleft()
        rows = [tail.popleft() for _ in range(min(count, len(tail)))]
        self._tail_from = rows[-1].id + 1 if rows else max(self._tail_from, self._cursor)
        return rows

    def _send(self, gen: int, conn: MqttConnection, rows: List[SpoolRow]) -> bool:
        now = time.monotonic()
        for row in rows:
            if row.id in self._dead:
                self._cursor = row.id + 1
                continue
            replay = row.id < self._live_from
            payload = mark_replayed(row.payload) if replay else row.payload
            on_ack = functools.partial(self._on_ack, gen, row.id, now, row.topic)
            if not conn.publish(row.topic, payload, row.qos, row.retain, on_ack):
                return False
            self._inflight[row.id] = row
            self._cursor = row.id + 1
            self.published += 1
            if replay:
                self.replayed += 1
        return True

    def _on_ack(
        self, gen: int, row_id: int, sent: float, topic: str, failure: Optional[str]
    ) -> None:
        self._losses.pop(row_id, None)
        if failure is None:
            self.acked += 1
            self.latencies_ms.append((time.monotonic() - sent) * 1000.0)
        else:
            # An MQTT 5 broker refused it (e.g. not authorised for the topic): resending
            # would be refused again, so it leaves the spool, counted and logged.
            self.rejected += 1
            if self.rejected == 1 or self.rejected % 1000 == 0:
                self.log.warning(
                    "broker refused a message on %s (%s); %d refused so far",
                    topic,
                    failure,
                    self.rejected,
                )
        self._acked.append(row_id)
        if gen == self._gen:
            self._inflight.pop(row_id, None)
        if len(self._acked) >= self._ack_flush_rows:
            self._wake_writer()
        elif self._ack_timer is None:
            loop = asyncio.get_running_loop()
            self._ack_timer = loop.call_later(self._ack_flush_delay_s, self._wake_writer)
        self._notify()

    # ------------------------------------------------------------ waiting

    def _notify(self) -> None:
        if self._kick is not None:
            self._kick.set()
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        if self.on_change is not None:
            self.on_change()

    @property
    def idle(self) -> bool:
        """Everything spooled has been sent and acknowledged (or nothing is connected)."""
        return not self._pending and not self._inflight and self._cursor >= self._next_id

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    async def drain(self, timeout_s: float) -> bool:
        """Wait until the spool is sent and acknowledged over the current connection."""
        deadline = time.monotonic() + timeout_s
        while self._conn is not None and not (self.idle and self.rows == 0):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await asyncio.wait_for(fut, left)
            except asyncio.TimeoutError:
                return False
            if self._acked and self.idle:
                await self.flush()
        return self._conn is not None

    # ------------------------------------------------------------ status

    def status(self) -> Dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {
            "path": str(self.spool.path),
            "depth": self.rows,
            "bytes": self.bytes,
            "oldest_age_s": None
            if self.oldest_ts is None
            else round(max(0.0, time.time() - self.oldest_ts), 1),
            "inflight": len(self._inflight),
            "published": self.published,
            "replayed": self.replayed,
            "acked": self.acked,
            "rejected": self.rejected,
            "dead_lettered": self.dead_lettered,
            "dead_lettered_total": int(self.meta.get("dead_lettered_total", 0)),
            "dropped": self.dropped,
            "dropped_total": int(self.meta.get("dropped_total", 0)),
            "writable": self.spool_writable,
            "write_errors": self.spool_errors,
            "last_write_error": self.last_spool_error,
            "moved_aside": self.moved_aside,
            "lost_moved_aside": self.lost_moved_aside,
            "ack_latency_ms": {
                "samples": len(lat),
                "p50": _percentile(lat, 0.50),
                "p99": _percentile(lat, 0.99),
            },
        }


def _percentile(ordered: List[float], q: float) -> Optional[float]:
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 3)
