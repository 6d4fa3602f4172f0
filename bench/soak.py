"""Soak: a live ``edged run`` for N minutes, watched from outside for leaks and lost messages.

    python bench/soak.py --minutes 20 [--interval 30] [--json FILE] [--write FILE.md]

The daemon is the demo's setup (``edged demo``): a synthetic gauge camera at ``--rate`` fps,
the gauge pipeline on ONNX Runtime, the HTTP sink and the MQTT sink with its SQLite spool,
to a Mosquitto this script starts on a free loopback port. A subscriber with a persistent
session records every message's per-topic ``seq``. Every ``--interval`` seconds the script
samples the daemon's RSS (/proc/<pid>/status VmRSS), open fds (/proc/<pid>/fd), threads,
CPU time and the messages received, then prints a table and a summary: RSS slope in MB/h
(least squares over all samples and over the second half), fds and threads start → end,
seq gaps, duplicates, out-of-order arrivals. Stops the daemon with SIGTERM at the end and
checks it exits 0. Exit status 1 if any seq is missing, the daemon died or exited non-zero,
/healthz failed, or fds or threads grew by more than a few.

Linux only; loopback only; everything lives in a temporary directory removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livekit import Broker, Daemon, SeqSubscriber, free_port, is_reading, machine, write_config

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
FD_SLACK = 4  # a reconnect or a log rotation may hold one or two more at the moment of a sample
THREAD_SLACK = 2


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S


def slope_per_hour(points: List[Tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.mean(t for t, _ in points)
    mean_v = statistics.mean(v for _, v in points)
    den = sum((t - mean_t) ** 2 for t, _ in points)
    if den == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / den * 3600


def sample(daemon: Daemon, sub: SeqSubscriber, t0: float, last: Optional[Dict[str, Any]]):
    now = time.monotonic()
    proc = daemon.proc_status()
    cpu = cpu_seconds(daemon.pid)
    mqtt = daemon.mqtt_status()
    row: Dict[str, Any] = {
        "t_s": round(now - t0, 1),
        "rss_mb": round(proc.get("VmRSS", 0) / 1024, 1),
        "hwm_mb": round(proc.get("VmHWM", 0) / 1024, 1),
        "fds": daemon.fds(),
        "threads": proc.get("Threads", 0),
        "cpu_s": round(cpu, 2),
        "received": sub.total(),
        "readings": sum(len(s) for t, s in sub.snapshot().items() if is_reading(t)),
        "spool_depth": (mqtt.get("spool") or {}).get("depth"),
        "healthy": daemon.healthy(),
    }
    if last is not None:
        wall = row["t_s"] - last["t_s"]
        row["cpu_pct"] = round(100 * (cpu - last["cpu_s"]) / wall, 1) if wall > 0 else 0.0
        row["msg_s"] = round((row["received"] - last["received"]) / wall, 1) if wall > 0 else 0
    else:
        row["cpu_pct"] = None
        row["msg_s"] = None
    return row


def run(args: argparse.Namespace) -> Dict[str, Any]:
    samples: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="edged-soak-") as tmp:
        workdir = Path(tmp)
        broker = Broker(workdir)
        broker.start()
        sub = SeqSubscriber(broker.port, client_id="soak-sub").start()
        http_port = free_port()
        config = write_config(
            workdir,
            http_port,
            broker.port,
            rate=args.rate,
            gauges=args.gauges,
            mqtt={"stats_interval_s": 60},
        )
        daemon = Daemon(config, http_port)
        exit_code: Optional[int] = None
        try:
            daemon.start()
            time.sleep(args.warmup)
            t0 = time.monotonic()
            end = t0 + args.minutes * 60
            last = None
            while True:
                row = sample(daemon, sub, t0, last)
                samples.append(row)
                print(fmt_row(row), file=sys.stderr, flush=True)
                last = row
                if daemon.exited() or time.monotonic() >= end - 1:
                    break
                time.sleep(max(0.0, min(args.interval, end - time.monotonic())))
            mqtt = daemon.mqtt_status()
            alive = not daemon.exited()
            # what is still in flight arrives before the count is taken
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (mqtt.get("spool") or {}).get("depth"):
                time.sleep(0.5)
                mqtt = daemon.mqtt_status()
            exit_code = daemon.stop()
            time.sleep(1.0)
        finally:
            if exit_code is None:
                daemon.stop()
            sub.stop()
            broker.stop()
            log = daemon.log_text()
    seqs = sub.report(is_reading)
    every = sub.report()
    return {
        "args": vars(args),
        "machine": machine(),
        "samples": samples,
        "readings": seqs,
        "all_topics": {k: v for k, v in every.items() if k != "topics"},
        "alive_at_end": alive,
        "exit_code": exit_code,
        "mqtt": {k: mqtt.get(k) for k in ("connects", "published", "acked", "dropped")},
        "log_errors": sum(1 for line in log.splitlines() if " ERROR " in line),
        "log_warnings": sum(1 for line in log.splitlines() if " WARNING " in line),
    }


def fmt_row(row: Dict[str, Any]) -> str:
    cpu = "-" if row["cpu_pct"] is None else f"{row['cpu_pct']:.0f}"
    rate = "-" if row["msg_s"] is None else f"{row['msg_s']:.1f}"
    return (
        f"| {row['t_s'] / 60:.1f} | {row['rss_mb']:.1f} | {row['fds']} | {row['threads']} | "
        f"{cpu} | {row['received']:,} | {rate} | {row['spool_depth']} | "
        f"{'yes' if row['healthy'] else 'NO'} |"
    )


def summarise(result: Dict[str, Any]) -> Dict[str, Any]:
    rows = result["samples"]
    points = [(r["t_s"], r["rss_mb"]) for r in rows]
    half = [p for p in points if p[0] >= points[-1][0] / 2]
    first, last = rows[0], rows[-1]
    readings = result["readings"]
    failures = []
    if readings["missing"]:
        failures.append(f"{readings['missing']} gauge reading seq(s) missing")
    if result["all_topics"]["missing"]:
        failures.append(f"{result['all_topics']['missing']} seq(s) missing on some topic")
    if not result["alive_at_end"]:
        failures.append("the daemon died during the soak")
    if result["exit_code"] != 0:
        failures.append(f"the daemon exited {result['exit_code']} on SIGTERM")
    if not all(r["healthy"] for r in rows):
        failures.append("/healthz failed at some sample")
    if max(r["fds"] for r in rows) > first["fds"] + FD_SLACK:
        failures.append(f"fds grew {first['fds']} -> {max(r['fds'] for r in rows)}")
    if max(r["threads"] for r in rows) > first["threads"] + THREAD_SLACK:
        failures.append(f"threads grew {first['threads']} -> {max(r['threads'] for r in rows)}")
    if not readings["received"]:
        failures.append("no gauge reading arrived")
    cpu = [r["cpu_pct"] for r in rows if r["cpu_pct"] is not None]
    fds = [r["fds"] for r in rows]
    return {
        "minutes": last["t_s"] / 60,
        "samples": len(rows),
        "rss_start_mb": first["rss_mb"],
        "rss_end_mb": last["rss_mb"],
        "rss_peak_mb": max(r["hwm_mb"] for r in rows),
        "rss_slope_mb_h": slope_per_hour(points),
        "rss_slope_second_half_mb_h": slope_per_hour(half),
        "fds": (first["fds"], last["fds"], min(fds), max(fds)),
        "threads": (first["threads"], last["threads"]),
        "cpu_pct_median": statistics.median(cpu) if cpu else 0.0,
        "failures": failures,
    }


def report(result: Dict[str, Any], summary: Dict[str, Any], command: str) -> str:
    args = result["args"]
    readings = result["readings"]
    topics = readings["topics"]
    failures = summary["failures"]
    verdict = "FAIL: " + "; ".join(failures) if failures else "pass"
    per_topic = ", ".join(f"{t.rsplit('/', 1)[1]} {v['unique']:,}" for t, v in topics.items())
    lines = [
        f"## Soak: `edged run` for {args['minutes']:g} min",
        "",
        f"Command: `{command}`",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}; machine: {result['machine']} (at the end).",
        f"- Daemon: synthetic gauge camera 720x320 at {args['rate']:g} fps with "
        f"{args['gauges']} dials → gauge pipeline (ONNX Runtime, CPU) → HTTP sink (token) + "
        "MQTT sink (QoS 1, SQLite spool of 1 MB, stats every 60 s) → Mosquitto on loopback; "
        "a subscriber with a persistent session records every per-topic `seq`.",
        f"- Sampled every {args['interval']:g} s after {args['warmup']:g} s of warm-up: "
        "VmRSS, open fds (/proc/<pid>/fd), Threads, CPU (user + system, % of one core over "
        "the interval), messages received by the subscriber (all topics), spool depth, "
        "/healthz.",
        "",
        "| min | RSS MB | fds | threads | CPU % | received | msg/s | spool depth | healthz |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *(fmt_row(r) for r in result["samples"]),
        "",
        "Summary:",
        "",
        f"- RSS {summary['rss_start_mb']:.1f} → {summary['rss_end_mb']:.1f} MB "
        f"(peak VmHWM {summary['rss_peak_mb']:.1f} MB); slope **{summary['rss_slope_mb_h']:+.1f} "
        f"MB/h** over all samples, {summary['rss_slope_second_half_mb_h']:+.1f} MB/h over the "
        "second half.",
        f"- fds {summary['fds'][0]} → {summary['fds'][1]} (range {summary['fds'][2]} to "
        f"{summary['fds'][3]}); threads {summary['threads'][0]} → {summary['threads'][1]}.",
        f"- Gauge readings: {readings['received']:,} received on {len(topics)} topics "
        f"({per_topic} unique); **{readings['missing']} seq gaps**, {readings['duplicates']} "
        f"duplicates, {readings['out_of_order']} out of order. All topics (stats, status "
        f"included): {result['all_topics']['missing']} missing.",
        f"- MQTT sink at the end: {result['mqtt']['published']} published, "
        f"{result['mqtt']['acked']} acknowledged, {result['mqtt']['dropped']} dropped, "
        f"{result['mqtt']['connects']} connection(s).",
        f"- CPU median {summary['cpu_pct_median']:.0f} % of one core; log: "
        f"{result['log_errors']} ERROR, {result['log_warnings']} WARNING lines; exit status on "
        f"SIGTERM {result['exit_code']}.",
        f"- Result: **{verdict}**",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="how long to run")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before sampling")
    parser.add_argument("--rate", type=float, default=5.0, help="camera fps")
    parser.add_argument("--gauges", type=int, default=3, help="dials in the scene (1-6)")
    parser.add_argument("--json", type=Path, help="also keep the figures in this JSON file")
    parser.add_argument("--write", type=Path, help="also write the report (Markdown) here")
    args = parser.parse_args(argv)
    command = " ".join(["python bench/soak.py", *(argv if argv is not None else sys.argv[1:])])
    result = run(args)
    summary = summarise(result)
    text = report(result, summary, command)
    print(text)
    if args.write:
        args.write.write_text(text)
    if args.json:
        result["summary"] = summary
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
