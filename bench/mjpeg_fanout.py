"""Server CPU of an MJPEG preview with 1 viewer versus 10 over the same seconds.

Frigate's MJPEG endpoint encodes every frame once per client, so a forgotten
browser tab or TV multiplies the encode cost. edged encodes each frame once
per stream, whatever the number of viewers; this measures that claim on a
real ``edged run`` process: a synthetic camera, a motion pipeline and the
HTTP sink, watched by 0, 1 and 10 clients in turn (the clients run in this
process, so their CPU is not counted). Goal: CPU(10) / CPU(1) <= 1.1.

    python bench/mjpeg_fanout.py                          # print the figures
    python bench/mjpeg_fanout.py --write bench/results/http.md

Linux only (reads /proc/<pid>/stat for the server's CPU time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
MARK = b"--edgedframe\r\n"
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")

CONFIG = """
device_id: bench
sources:
  - {{id: cam0, kind: synthetic, width: {width}, height: {height}, rate: {rate}}}
pipelines:
  - {{id: motion0, kind: motion, source: cam0}}
sinks:
  http: {{host: 127.0.0.1, port: {port}, stream_fps: {stream_fps}, jpeg_quality: {quality}}}
logging: {{level: WARNING}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S


def scrape(base: str, name: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


class Viewer:
    """A client that reads the stream as fast as it comes and counts the parts."""

    def __init__(self) -> None:
        self.parts = 0
        self.bytes = 0
        self.first = asyncio.Event()

    async def run(self, port: int, path: str, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        await writer.drain()
        tail = b""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                read = asyncio.ensure_future(reader.read(1 << 20))
                await asyncio.wait({read, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    read.cancel()
                    break
                chunk = read.result()
                if not chunk:
                    break
                data = tail + chunk
                found = data.count(MARK)
                self.parts += found
                self.bytes += len(chunk)
                tail = data[-(len(MARK) - 1) :]
                if found:
                    self.first.set()
        finally:
            stopping.cancel()
            writer.close()


async def measure(pid: int, port: int, path: str, clients: int, seconds: float) -> Dict[str, float]:
    base = f"http://127.0.0.1:{port}"
    stop = asyncio.Event()
    viewers = [Viewer() for _ in range(clients)]
    tasks = [asyncio.ensure_future(v.run(port, path, stop)) for v in viewers]
    if viewers:
        await asyncio.wait_for(asyncio.gather(*(v.first.wait() for v in viewers)), 10)
    await asyncio.sleep(1.0)  # settle
    loop = asyncio.get_running_loop()
    encodes0 = await loop.run_in_executor(None, scrape, base, "edged_http_jpeg_encodes_total")
    enc_s0 = await loop.run_in_executor(None, scrape, base, "edged_http_jpeg_encode_seconds_total")
    parts0 = [v.parts for v in viewers]
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, t1 = cpu_seconds(pid), time.monotonic()
    parts1 = [v.parts for v in viewers]
    encodes1 = await loop.run_in_executor(None, scrape, base, "edged_http_jpeg_encodes_total")
    enc_s1 = await loop.run_in_executor(None, scrape, base, "edged_http_jpeg_encode_seconds_total")
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(1.0)  # let the server notice the viewers left
    wall = t1 - t0
    received = [b - a for a, b in zip(parts0, parts1)]
    return {
        "clients": clients,
        "wall_s": wall,
        "cpu_s": cpu1 - cpu0,
        "encodes": encodes1 - encodes0,
        "encode_cpu_s": enc_s1 - enc_s0,
        "fps_per_client": (statistics.mean(received) / wall) if received else 0.0,
        "min_fps_client": (min(received) / wall) if received else 0.0,
    }


def start_server(args: argparse.Namespace, workdir: Path) -> Tuple[subprocess.Popen, int]:
    port = free_port()
    config = workdir / "bench.yaml"
    config.write_text(
        CONFIG.format(
            width=args.width,
            height=args.height,
            rate=args.rate,
            port=port,
            stream_fps=args.stream_fps,
            quality=args.quality,
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "edged", "run", "-c", str(config)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "server.log", "wb"),  # noqa: SIM115 - lives as long as the server
    )
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"edged run exited: {(workdir / 'server.log').read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("edged run never became healthy")
        time.sleep(0.2)


def run(args: argparse.Namespace) -> Tuple[List[Dict[str, float]], str]:
    counts = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_server(args, Path(tmp))
        try:
            time.sleep(args.warmup)
            rows: List[Dict[str, float]] = []
            for rep in range(args.repeat):
                for n in counts if rep % 2 == 0 else list(reversed(counts)):
                    row = asyncio.run(measure(proc.pid, port, args.path, n, args.seconds))
                    row["rep"] = rep
                    rows.append(row)
                    print(
                        f"  {n:>3} clients: server CPU {row['cpu_s']:.3f} s in "
                        f"{row['wall_s']:.1f} s, {row['encodes']:.0f} encodes, "
                        f"{row['fps_per_client']:.1f} fps per client",
                        file=sys.stderr,
                    )
        finally:
            proc.terminate()
            proc.wait(10)
    return rows, report(args, rows, counts)


def report(args: argparse.Namespace, rows: List[Dict[str, float]], counts: List[int]) -> str:
    def median(n: int, key: str) -> float:
        return statistics.median(r[key] for r in rows if r["clients"] == n)

    one = median(1, "cpu_s") if 1 in counts else None
    lines = [
        "## MJPEG fan-out: server CPU with 1 vs 10 viewers",
        "",
        f"Command: `{' '.join(['python bench/mjpeg_fanout.py', *sys.argv[1:]])}`",
        "",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}.",
        f"- Server: `edged run` with a synthetic camera {args.width}x{args.height} at "
        f"{args.rate:g} fps, a motion pipeline, and the HTTP sink (stream_fps "
        f"{args.stream_fps:g}, jpeg_quality {args.quality}); viewers read `{args.path}` "
        f"as fast as it comes, from another process.",
        f"- Each figure is the median of {args.repeat} windows of {args.seconds:g} s "
        "(window order alternates); CPU is user + system time of the whole server process.",
        "",
        "| viewers | server CPU s | % of one core | JPEG encodes | encode CPU s | fps per viewer "
        "| slowest viewer fps | CPU vs 1 viewer |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in counts:
        cpu = median(n, "cpu_s")
        wall = median(n, "wall_s")
        ratio = f"{cpu / one:.3f}" if one else "-"
        lines.append(
            f"| {n} | {cpu:.3f} | {100 * cpu / wall:.1f} | {median(n, 'encodes'):.0f} | "
            f"{median(n, 'encode_cpu_s'):.3f} | {median(n, 'fps_per_client'):.1f} | "
            f"{median(n, 'min_fps_client'):.1f} | {ratio} |"
        )
    if one and 10 in counts:
        ten = median(10, "cpu_s")
        encode = median(1, "encode_cpu_s")
        lines += [
            "",
            f"Ratio CPU(10) / CPU(1) = **{ten / one:.3f}** (goal <= 1.1). Encodes are the same "
            "with 1 and 10 viewers and zero with none. A per-viewer encoder (Frigate's way) "
            f"would add about 9 x {encode:.3f} s = {9 * encode:.3f} s of encode CPU alone over "
            f"the same window with 10 viewers, a ratio of about {(one + 9 * encode) / one:.2f} "
            "before counting the extra drawing.",
        ]
    lines += [
        "",
        "Notes:",
        "",
        "- The 0-viewer row is the camera and the pipeline alone: with nobody watching, "
        "the HTTP sink draws and encodes nothing.",
        "- What 9 more viewers cost is their socket writes only (the same bytes object "
        "for all). A first version wrapped every write in `asyncio.wait_for` and waited "
        "for parts with a timed `Event.wait`, which created a task and a timer per viewer "
        "per frame; that measured CPU(10) / CPU(1) = 1.36 (one 4 s window). Viewers now "
        "wait on one plain future per part and the broadcaster, which wakes anyway, "
        "watches their write times; that is the figure above.",
        "- The viewers are on loopback, so the kernel's TCP work for both ends is charged "
        "partly to the server; over a real network it is less.",
        "- The encode count itself (0, N, N for 0, 1 and 10 viewers over N frames) is "
        "asserted exactly in `tests/http/test_mjpeg.py`; this benchmark measures CPU.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="0,1,10", help="viewer counts to measure")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window")
    parser.add_argument("--repeat", type=int, default=3, help="windows per viewer count")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--rate", type=float, default=15.0, help="camera fps")
    parser.add_argument("--stream-fps", type=float, default=15.0, help="sinks.http.stream_fps")
    parser.add_argument("--quality", type=int, default=75, help="sinks.http.jpeg_quality")
    parser.add_argument("--path", default="/stream/motion0.mjpg", help="stream to watch")
    parser.add_argument("--write", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    _, text = run(args)
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
