"""MQTT throughput at QoS 1: edged's spool + paho versus paho alone, against a local Mosquitto.

    python bench/mqtt_throughput.py [--messages 20000] [--rounds 3] [--window 256]

Modes, run in alternation in the same process and against the same broker:

* ``paho (caller's window)``: a bare paho client (its own network thread), paho's own
  in-flight limit off and the caller keeping ``window`` messages unacknowledged with a
  semaphore, as edged's outbox does. The baseline of every ratio.
* ``paho (paho's own window)``: paho's ``max_inflight_messages`` = window, every message
  published at once and paho queueing the rest (its latency includes that queue).
* ``spool+paho (sync=…)``: edged's Outbox: each batch committed to the SQLite spool
  (WAL) first, handed to paho in order within the window, deleted on PUBACK.
* ``sink``: the whole MqttSink: Results → pose messages (pydantic) → spool → broker.
* ``sustained``: the whole MqttSink fed at a fixed rate; a subscriber measures capture →
  delivery latency and the spool depth is watched.

Throughput is messages / time to the last PUBACK; CPU is this process's CPU time (all
threads, not the broker's) per message; latency p50/p99 is publish → PUBACK per message.
Prints Markdown tables for bench/results/mqtt.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt import __version__ as paho_version
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edged.bus import ResultBus
from edged.config.mqtt import MqttSinkConfig
from edged.frames import Frame
from edged.results import Result
from edged.sinks.mqtt import MqttSink
from edged.sinks.mqtt_client import ClientSettings, MqttConnection
from edged.sinks.outbox import Outbox
from edged.sinks.spool import CommitResult, NewRow, OpenReport, Spool

KEYPOINTS = ["nose", "left_eye", "right_eye", "left_shoulder", "right_shoulder", "neck"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mosquitto(workdir: Path) -> Iterator[int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"user {os.environ.get('USER') or 'root'}\n"
        "allow_anonymous true\nmax_inflight_messages 0\nmax_queued_messages 0\n"
        f"log_type error\nlistener {port} 127.0.0.1\n"
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def pose_payload(i: int) -> bytes:
    person = {
        "score": 0.91,
        "keypoints": {k: [100.5 + j, 200.25, 0.8] for j, k in enumerate(KEYPOINTS)},
    }
    body = {
        "schema": "edged.pose/1", "device_id": "bench", "seq": i + 1, "ts": time.time(),
        "pipeline_id": "people", "source_id": "cam0", "frame_seq": i, "frame_age_ms": 12.5,
        "persons": [person, person], "width": 640, "height": 480,
    }  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()


# ---------------------------------------------------------------- paho alone


def run_paho(
    port: int, payloads: List[bytes], window: int, caller_window: bool = False
) -> Dict[str, float]:
    """Paho alone. ``caller_window``: paho's own limit off (0) and the caller keeps at most
    ``window`` unacknowledged with a semaphore, as edged's outbox does; otherwise paho's
    ``max_inflight_messages`` = window and paho queues the rest itself."""
    assert len(payloads) < 65535, "mids would repeat"
    done = threading.Event()
    room = threading.Semaphore(window)
    sent: Dict[int, float] = {}
    acked: Dict[int, float] = {}
    total = len(payloads)

    # runs on paho's thread, holding paho's message lock: take no lock of ours here
    def on_publish(client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        acked[mid] = time.perf_counter()
        if caller_window:
            room.release()
        if len(acked) == total:
            done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-paho")
    client.max_inflight_messages_set(0 if caller_window else window)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port, 30)
    client.loop_start()
    start = time.perf_counter()
    cpu = time.process_time()
    for payload in payloads:
        if caller_window:
            room.acquire()
        before = time.perf_counter()
        sent[client.publish("bench/paho/pose", payload, 1).mid] = before
    assert done.wait(120), "paho run did not finish"
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    client.disconnect()
    client.loop_stop()
    latencies = [(acked[mid] - t) * 1000 for mid, t in sent.items()]
    return {
        "msg_s": total / elapsed,
        "cpu_us": cpu / total * 1e6,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
    }


# ---------------------------------------------------------------- spool + paho


async def run_outbox(
    port: int, payloads: List[bytes], window: int, sync: str, workdir: Path, batch: int
) -> Dict[str, float]:
    path = workdir / f"bench-{sync}-{time.monotonic_ns()}.db"
    executor = ThreadPoolExecutor(1, thread_name_prefix="mqtt-spool")
    spool = Spool(str(path), max_bytes=1 << 30, max_age_s=1e9, synchronous=sync)
    outbox = Outbox(spool, executor, max_inflight=window)
    await outbox.open()
    conn = MqttConnection(ClientSettings("127.0.0.1", port, f"bench-outbox-{sync}"))
    await conn.open()
    outbox.attach(conn)
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    total = len(payloads)

    def check() -> None:
        if outbox.acked >= total and not finished.done():
            finished.set_result(None)

    outbox.on_change = check
    start = time.perf_counter()
    cpu = time.process_time()
    for i in range(0, total, batch):
        await outbox.put(
            [NewRow("bench/outbox/pose", p, 1, False) for p in payloads[i : i + batch]]
        )
    await asyncio.wait_for(finished, 120)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    lat = list(outbox.latencies_ms)
    await outbox.drain(5)
    await conn.close()
    await outbox.close()
    executor.shutdown()
    size = path.stat().st_size if path.exists() else 0
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return {
        "msg_s": total / elapsed,
        "cpu_us": cpu / total * 1e6,
        "p50": percentile(lat, 0.5),
        "p99": percentile(lat, 0.99),
        "db_bytes": size,
    }


# ---------------------------------------------------------------- interleaved, same connections


class PahoChunks:
    """Paho alone with the caller's window, kept connected; runs one chunk at a time."""

    def __init__(self, port: int, window: int):
        self.room = threading.Semaphore(window)
        self.acked = 0
        self.cond = threading.Condition()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-paho-chunks")
        self.client.max_inflight_messages_set(0)
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()

    # runs on paho's thread, holding paho's message lock: release only, take nothing
    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self.room.release()
        with self.cond:
            self.acked += 1
            self.cond.notify_all()

    def run(self, payloads: List[bytes]) -> Tuple[float, float]:
        target = self.acked + len(payloads)
        start, cpu = time.perf_counter(), time.process_time()
        for payload in payloads:
            self.room.acquire()
            self.client.publish("bench/paho/pose", payload, 1)
        with self.cond:
            assert self.cond.wait_for(lambda: self.acked >= target, 60)
        return time.perf_counter() - start, time.process_time() - cpu

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class NullSpool:
    """A spool that keeps nothing: the outbox and the asyncio-paho bridge without SQLite."""

    path = ":null:"
    max_bytes = 0
    max_age_s = 0.0

    def __init__(self) -> None:
        self.next_id = 1

    def open(self) -> OpenReport:
        return OpenReport(0, 0, 1, None, {}, {}, None)

    def commit(self, inserts: Any, seqs: Any, deletes: Any, meta: Any = None) -> CommitResult:
        ids = list(range(self.next_id, self.next_id + len(inserts)))
        self.next_id += len(inserts)
        return CommitResult(ids, len(deletes), 0, 0, 0, 0, None)

    def read(self, from_id: int, limit: int) -> List[Any]:
        return []

    def close(self) -> None:
        pass


class OutboxChunks:
    """edged's spool + paho, kept open and connected; runs one chunk at a time."""

    def __init__(self, port: int, window: int, sync: str, workdir: Path, batch: int):
        self.port, self.window, self.sync, self.batch = port, window, sync, batch
        self.path = workdir / f"chunks-{sync}-{time.monotonic_ns()}.db"
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="mqtt-spool")

    async def open(self) -> None:
        spool: Any = NullSpool()
        if self.sync != "none":
            spool = Spool(str(self.path), max_bytes=1 << 30, max_age_s=1e9, synchronous=self.sync)
        self.outbox = Outbox(spool, self.executor, max_inflight=self.window)
        await self.outbox.open()
        self.conn = MqttConnection(ClientSettings("127.0.0.1", self.port, f"bench-{self.sync}"))
        await self.conn.open()
        self.outbox.attach(self.conn)

    async def run(self, payloads: List[bytes]) -> Tuple[float, float]:
        outbox = self.outbox
        target = outbox.acked + len(payloads)
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(payloads), self.batch):
            rows = [NewRow("bench/outbox/pose", p, 1, False) for p in payloads[i : i + self.batch]]
            await outbox.put(rows)
        waiter = asyncio.get_running_loop().create_future()

        def check() -> None:
            if outbox.acked >= target and not waiter.done():
                waiter.set_result(None)

        outbox.on_change = check
        check()
        await asyncio.wait_for(waiter, 60)
        outbox.on_change = None
        return time.perf_counter() - start, time.process_time() - cpu

    async def close(self) -> None:
        await self.outbox.drain(5)
        await self.conn.close()
        await self.outbox.close()
        self.executor.shutdown()


async def run_interleaved(
    port: int, payloads: List[bytes], window: int, workdir: Path, batch: int, pairs: int
) -> Dict[str, Any]:
    """Chunks of every mode back to back, the order rotating: load from other processes
    hits all modes alike, and each chunk's ratio is against paho's chunk next to it."""
    paho_runner = PahoChunks(port, window)
    outboxes = {
        sync: OutboxChunks(port, window, sync, workdir, batch)
        for sync in ("none", "normal", "full")
    }
    for runner in outboxes.values():
        await runner.open()
    modes = ["paho", "none", "normal", "full"]
    got: Dict[str, List[Tuple[float, float]]] = {m: [] for m in modes}
    try:
        for i in range(pairs + 1):
            order = modes[i % len(modes) :] + modes[: i % len(modes)]
            for mode in order:
                if mode == "paho":
                    result = paho_runner.run(payloads)
                else:
                    result = await outboxes[mode].run(payloads)
                if i > 0:  # the first round warms up (SQLite file growth, caches)
                    got[mode].append(result)
    finally:
        paho_runner.close()
        for runner in outboxes.values():
            await runner.close()
    n = len(payloads)
    out: Dict[str, Any] = {}
    for mode in modes:
        out[mode] = {
            "msg_s": statistics.median(n / e for e, _ in got[mode]),
            "cpu_us": statistics.median(c / n * 1e6 for _, c in got[mode]),
        }
    for mode in ("none", "normal", "full"):
        out[f"{mode}_ratio"] = statistics.median(
            (n / e) / (n / pe) for (e, _), (pe, _) in zip(got[mode], got["paho"])
        )
        out[f"{mode}_ratio_min"] = min(
            (n / e) / (n / pe) for (e, _), (pe, _) in zip(got[mode], got["paho"])
        )
        out[f"{mode}_cpu_ratio"] = statistics.median(
            c / pc for (_, c), (_, pc) in zip(got[mode], got["paho"])
        )
    for mode in ("normal", "full"):  # the spool's own cost: against the bridge without it
        out[f"{mode}_vs_none"] = statistics.median(
            ne / e for (e, _), (ne, _) in zip(got[mode], got["none"])
        )
    return out


# ---------------------------------------------------------------- the whole sink


IMAGE = np.zeros((480, 640, 3), np.uint8)


def pose_result(i: int) -> Result:
    person = {
        "score": 0.91,
        "keypoints": {k: [100.5 + j, 200.25, 0.8] for j, k in enumerate(KEYPOINTS)},
    }
    frame = Frame("cam0", i, time.time(), time.monotonic(), IMAGE)
    return Result("people", "pose", frame, {"persons": [person, person]})


def sink_config(port: int, workdir: Path, window: int, sync: str) -> MqttSinkConfig:
    return MqttSinkConfig(
        port=port,
        spool=str(workdir / f"sink-{time.monotonic_ns()}.db"),
        spool_sync=sync,
        max_inflight=window,
        stats_interval_s=0,
        queue_size=100000,
        homeassistant={"enabled": False},
    )


async def run_sink(
    port: int, count: int, window: int, sync: str, workdir: Path
) -> Dict[str, float]:
    sink = MqttSink(sink_config(port, workdir, window, sync), device_id="bench")
    bus = ResultBus()
    await sink.start(bus)
    assert await sink.wait_for(lambda s: s.status()["connected"], 5)
    results = [pose_result(i) for i in range(count)]
    start = time.perf_counter()
    cpu = time.process_time()
    for r in results:
        bus.publish(r)
    ok = await sink.wait_for(lambda s: s.outbox.acked >= count, 120)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    assert ok, sink.status()
    lat = list(sink.outbox.latencies_ms)
    await sink.stop()
    return {
        "msg_s": count / elapsed,
        "cpu_us": cpu / count * 1e6,
        "p50": percentile(lat, 0.5),
        "p99": percentile(lat, 0.99),
    }


async def run_sustained(
    port: int, rate: float, seconds: float, window: int, sync: str, workdir: Path
) -> Dict[str, float]:
    received: List[float] = []
    lock = threading.Lock()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        now = time.time()
        with lock:
            received.append(now - json.loads(message.payload)["ts"])

    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub")
    subscribed = threading.Event()
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", port, 30)
    sub.subscribe("edged/bench/people/pose", 1)
    sub.loop_start()
    assert subscribed.wait(5)

    sink = MqttSink(sink_config(port, workdir, window, sync), device_id="bench")
    bus = ResultBus()
    await sink.start(bus)
    assert await sink.wait_for(lambda s: s.status()["connected"], 5)
    total = int(rate * seconds)
    tick = 0.01
    per_tick = rate * tick
    start = time.monotonic()
    sent = 0
    max_depth = 0
    while sent < total:
        due = min(total, int((time.monotonic() - start) / tick * per_tick) + 1)
        for i in range(sent, due):
            bus.publish(pose_result(i))
        sent = due
        max_depth = max(max_depth, sink.outbox.rows)
        await asyncio.sleep(tick)
    produce_s = time.monotonic() - start
    ok = await sink.wait_for(lambda s: s.outbox.acked >= total, 30)
    drained_s = time.monotonic() - start
    await sink.stop()
    deadline = time.monotonic() + 10
    while len(received) < total and time.monotonic() < deadline:
        time.sleep(0.01)
    sub.disconnect()
    sub.loop_stop()
    lat_ms = [x * 1000 for x in received]
    return {
        "ok": float(ok),
        "rate": total / produce_s,
        "drain_s": drained_s - produce_s,
        "received": float(len(received)),
        "total": float(total),
        "p50": percentile(lat_ms, 0.5),
        "p99": percentile(lat_ms, 0.99),
        "max_depth": float(max_depth),
        "dropped": float(sink.status()["dropped"] + sink.base_status()["queue_dropped"]),
    }


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20000, help="per whole run")
    parser.add_argument("--chunk", type=int, default=2000, help="messages per interleaved chunk")
    parser.add_argument("--pairs", type=int, default=15, help="interleaved rounds")
    parser.add_argument("--rounds", type=int, default=3, help="whole runs per mode")
    parser.add_argument("--window", type=int, default=256, help="max in flight (sink default)")
    parser.add_argument(
        "--sweep", default="20,100,256,1000", help="windows to compare paho and spool+paho at"
    )
    parser.add_argument("--batch", type=int, default=256, help="messages per spool put")
    parser.add_argument("--rate", type=float, default=2000.0, help="sustained msg/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="sustained duration")
    parser.add_argument("--write", help="also write the report (Markdown) to this file")
    args = parser.parse_args()
    payloads = [pose_payload(i) for i in range(args.messages)]
    rows: Dict[str, List[Dict[str, float]]] = {}
    sweep: Dict[Any, List[Dict[str, float]]] = {}
    windows = [int(w) for w in args.sweep.split(",") if w]
    with tempfile.TemporaryDirectory(prefix="edged-bench-") as tmp:
        workdir = Path(tmp)
        with mosquitto(workdir) as port:
            inter = asyncio.run(
                run_interleaved(
                    port, payloads[: args.chunk], args.window, workdir, args.batch, args.pairs
                )
            )
            for _ in range(args.rounds):
                rows.setdefault("paho (caller's window)", []).append(
                    run_paho(port, payloads, args.window, caller_window=True)
                )
                rows.setdefault("paho (paho's own window)", []).append(
                    run_paho(port, payloads, args.window)
                )
                for sync in ("normal", "full"):
                    rows.setdefault(f"spool+paho (sync={sync})", []).append(
                        asyncio.run(
                            run_outbox(port, payloads, args.window, sync, workdir, args.batch)
                        )
                    )
                rows.setdefault("whole sink (sync=full)", []).append(
                    asyncio.run(run_sink(port, args.messages, args.window, "full", workdir))
                )
            for _ in range(args.rounds):
                for window in windows:
                    sweep.setdefault(("paho", window), []).append(
                        run_paho(port, payloads, window, caller_window=True)
                    )
                    sweep.setdefault(("spool+paho", window), []).append(
                        asyncio.run(run_outbox(port, payloads, window, "full", workdir, args.batch))
                    )
            sustained = asyncio.run(
                run_sustained(port, args.rate, args.seconds, args.window, "full", workdir)
            )
    out: List[str] = []
    say = out.append
    load = os.getloadavg()
    say("## MQTT: spool + paho versus paho alone (QoS 1, local Mosquitto)\n")
    write = f" --write {args.write}" if args.write else ""
    say(f"Command: `python bench/mqtt_throughput.py{write}`\n")
    say(
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}, paho-mqtt {paho_version}, SQLite {sqlite3.sqlite_version}, "
        f"{mosquitto_version()}; load average at the end {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f} (1 / 5 / 15 min)."
    )
    say(
        f"- Messages: pose messages of {len(payloads[0])} bytes, QoS 1, one topic; window "
        f"(messages unacknowledged at once) {args.window}, edged's default `max_inflight`; "
        f"spool writes in batches of {args.batch}."
    )
    say(
        "- paho alone = paho's in-flight limit off and the caller keeping the window with a "
        "semaphore (paho's own limit rescans its queue on every PUBACK and is slower, see "
        "below). CPU = this process's CPU time, all threads, per message (not the broker's).\n"
    )
    say(
        f"Interleaved: {args.pairs} rounds of {args.chunk}-message chunks, one chunk of each "
        "mode back to back in rotating order over the same connections; ratio = chunk msg/s "
        "over the paho chunk beside it:\n"
    )
    say("| mode | median msg/s | median ratio | worst ratio | CPU µs/msg | CPU ratio |")
    say("| --- | ---: | ---: | ---: | ---: | ---: |")
    say(f"| paho alone | {inter['paho']['msg_s']:,.0f} | 1.00 | 1.00 | "
        f"{inter['paho']['cpu_us']:.0f} | 1.00 |")  # fmt: skip
    names = {
        "none": "outbox + paho, no spool (asyncio bridge only)",
        "normal": "spool (WAL, synchronous=NORMAL) + paho",
        "full": "spool (WAL, synchronous=FULL) + paho",
    }
    for mode in ("none", "normal", "full"):
        say(
            f"| {names[mode]} | {inter[mode]['msg_s']:,.0f} | "
            f"{inter[f'{mode}_ratio']:.2f} | {inter[f'{mode}_ratio_min']:.2f} | "
            f"{inter[mode]['cpu_us']:.0f} | {inter[f'{mode}_cpu_ratio']:.2f} |"
        )
    say(
        f"\nThe spool's own cost, against the same outbox and bridge without it (same rounds): "
        f"NORMAL {inter['normal_vs_none']:.2f}, FULL {inter['full_vs_none']:.2f} of its "
        "throughput. What separates the bridge from paho alone is the hand-over between "
        "paho's thread and the event loop, which the architecture requires (nothing blocks "
        "the loop, paho's callbacks only hand over)."
    )
    say(
        f"\nWhole runs of {args.messages} messages each (median of {args.rounds}; time to the "
        "last PUBACK; latency = publish to PUBACK per message):\n"
    )
    say("| mode | msg/s | CPU µs/msg | publish→ack p50 ms | p99 ms | all runs msg/s |")
    say("| --- | ---: | ---: | ---: | ---: | --- |")
    for mode, runs in rows.items():
        rate = statistics.median(r["msg_s"] for r in runs)
        cpu = statistics.median(r["cpu_us"] for r in runs)
        p50 = statistics.median(r["p50"] for r in runs)
        p99 = statistics.median(r["p99"] for r in runs)
        each = ", ".join(f"{r['msg_s']:,.0f}" for r in runs)
        say(f"| {mode} | {rate:,.0f} | {cpu:.0f} | {p50:.2f} | {p99:.2f} | {each} |")
    say(
        "\n(paho's own window: every message published at once, so its latency includes the "
        "wait in paho's queue.)\n"
    )
    say(f"By window (whole runs, synchronous=FULL, median of {args.rounds}):\n")
    say("| window | paho msg/s | spool+paho msg/s | ratio | paho CPU µs | spool+paho CPU µs |")
    say("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for window in windows:
        a, b = sweep[("paho", window)], sweep[("spool+paho", window)]
        ra = statistics.median(r["msg_s"] for r in a)
        rb = statistics.median(r["msg_s"] for r in b)
        ca = statistics.median(r["cpu_us"] for r in a)
        cb = statistics.median(r["cpu_us"] for r in b)
        say(f"| {window} | {ra:,.0f} | {rb:,.0f} | {rb / ra:.2f} | {ca:.0f} | {cb:.0f} |")
    st = sustained
    say(
        f"\nSustained: {st['total']:.0f} pose results at {st['rate']:,.0f}/s for "
        f"{args.seconds:g} s through the whole sink (Result → pydantic message → spool "
        f"(FULL) → broker → a subscriber): received {st['received']:.0f}, dropped "
        f"{st['dropped']:.0f}, largest spool depth {st['max_depth']:.0f}, spool empty "
        f"{st['drain_s']:.2f} s after the last result; capture → subscriber latency p50 "
        f"{st['p50']:.1f} ms, p99 {st['p99']:.1f} ms."
    )
    text = "\n".join(out) + "\n"
    print(text)
    if args.write:
        Path(args.write).write_text(text)
    return 0


def mosquitto_version() -> str:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    try:
        head = subprocess.run([binary, "-h"], capture_output=True, text=True).stdout
    except OSError:
        return "mosquitto"
    return head.splitlines()[0].strip() if head else "mosquitto"


if __name__ == "__main__":
    sys.exit(main())
