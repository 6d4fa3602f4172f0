"""Abuse suite: the hostile inputs of issue 17 against a live ``edged run``, with figures.

    python bench/abuse.py [--quick] [--write bench/results/abuse.md] [--json FILE]

Starts everything itself, on loopback only, in a temporary directory removed at the end:
a Mosquitto on a free port, ``python -m edged run`` with the demo's synthetic gauge camera
(``--rate`` fps), the gauge pipeline, the HTTP sink (a bearer token) and the MQTT sink
with a 1 MB spool, and a subscriber that records every per-topic ``seq``. Then, per area:

* config: ``edged check`` on files that are not UTF-8, UTF-16, a complex key, 20,000
  nested ``[``, an alias bomb (10**9 values), NaN/inf/1e308 gauge scales, a rate and an fps
  of 1e-300, a FIFO, /dev/zero, a secret that is not UTF-8, an empty token file
  (D9, D10, D11, D12, D13, D20): exit 2 with a message, no traceback, quickly, in little
  memory.
* HTTP: D1's JPEG bomb (644 bytes here, built from another small JPEG) and a PNG header
  bomb (D1), credentials that are not UTF-8 (D8), cross-origin POSTs (D16), concurrent
  uploads just under the size limit (D15), slowloris connections beyond the connection
  limit (D5), malformed requests (D18).
* MQTT and spool: a broker outage and its recovery (messages lost, duplicated, out of
  order), kill -9s of the daemon and restarts on the same spool (seq must carry on),
  and a second daemon against a second Mosquitto with ``max_packet_size 1000`` whose
  stats messages are larger (D6): the readings must keep flowing, and only messages
  too large for the broker may end in the dead-letter table.

For each check it prints what was tried, what happened and the figures: 5xx answers (503
"busy" is a refusal and counted apart), the daemon's peak RSS (VmRSS sampled every 50 ms)
and its growth, seconds to refuse, messages lost. Exit status 1 if any check fails: a 5xx,
a bomb not refused within 2 s, RSS growth over 200 MB, a message lost, a traceback, a
daemon that stops answering or exits non-zero. ``--quick`` runs fewer and shorter rounds.

Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livekit import (
    REPO,
    TOKEN,
    Broker,
    Daemon,
    RssSampler,
    SeqSubscriber,
    free_port,
    is_reading,
    machine,
    wait_until,
    write_config,
)

BOMB_LIMIT_S = 2.0
RSS_LIMIT_MB = 200.0
CHECK_TIMEOUT_S = 30.0
PIPELINE = "dials"
MAX_PACKET = 1000  # the second Mosquitto's max_packet_size
HTTP_SETTINGS = {"max_connections": 64, "header_timeout_s": 5.0, "keepalive_timeout_s": 5.0}


class Check:
    """One line of the report: what was tried, what happened, the figures, pass or fail."""

    def __init__(self, area: str, name: str, tried: str):
        self.area = area
        self.name = name
        self.tried = tried
        self.happened = ""
        self.server_errors = 0  # 5xx other than 503
        self.peak_rss_mb: Optional[float] = None
        self.rss_growth_mb: Optional[float] = None
        self.refuse_s: Optional[float] = None
        self.lost: Optional[int] = None
        self.failures: List[str] = []
        self.figures: Dict[str, Any] = {}

    def fail(self, why: str) -> None:
        self.failures.append(why)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> Dict[str, Any]:
        return {
            "area": self.area,
            "name": self.name,
            "tried": self.tried,
            "happened": self.happened,
            "server_errors": self.server_errors,
            "peak_rss_mb": self.peak_rss_mb,
            "rss_growth_mb": self.rss_growth_mb,
            "refuse_s": self.refuse_s,
            "lost": self.lost,
            "failures": self.failures,
            "figures": self.figures,
        }


def statuses(counts: Counter) -> str:
    return ", ".join(f"{n} x {code or 'closed'}" for code, n in sorted(counts.items()))


def server_errors(counts: Counter) -> int:
    return sum(n for code, n in counts.items() if code >= 500 and code != 503)


# ---------------------------------------------------------------- hostile inputs


def small_jpeg(width: int = 32, height: int = 24) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((height, width, 3), 200, np.uint8))
    assert ok
    return buf.tobytes()


def scene_jpeg() -> bytes:
    """An ordinary picture the pipeline can read: the control beside every refusal."""
    from edged.pipelines.gauge.scene import GaugeScene

    image, _ = GaugeScene(720, 320, 3, seed=0).render(0)
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


def jpeg_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """D1: a small JPEG whose frame header claims width x height, hidden behind a stray
    byte before the first quantisation table (libjpeg skips it and decodes it all)."""
    data = bytearray(small_jpeg())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    dqt = data.find(b"\xff\xdb")
    return bytes(data[:dqt]) + b"\x00" + bytes(data[dqt:])


def png_bomb(width: int = 50000, height: int = 50000) -> bytes:
    """A PNG whose header claims 2.5 gigapixels (and whose data is one empty IDAT)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))


def post(
    port: int, path: str, body: bytes, ctype: str, extra: str = "", auth: bool = True
) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    )
    if auth:
        head += f"Authorization: Bearer {TOKEN}\r\n"
    return (head + extra + "\r\n").encode() + body


def multipart(data: bytes, ctype: str) -> Tuple[bytes, str]:
    boundary = "abuseboundary7d1"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="x.jpg"\r\n'
            f"Content-Type: {ctype}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


async def exchange(port: int, raw: bytes, timeout_s: float = 10.0) -> Tuple[int, float, bytes]:
    """Send bytes as they are; (status or 0 if closed unanswered, seconds to the status
    line, the first bytes of the answer)."""
    start = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout_s
        )
    except (OSError, asyncio.TimeoutError):
        return -1, time.monotonic() - start, b""
    try:
        writer.write(raw)
        await writer.drain()
        head = await asyncio.wait_for(reader.read(512), timeout_s)
    except (OSError, asyncio.TimeoutError):
        head = b""
    finally:
        writer.close()
    elapsed = time.monotonic() - start
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return (int(match.group(1)) if match else 0), elapsed, head


# ---------------------------------------------------------------- config area


def check_config(workdir: Path, good: Path, quick: bool) -> List[Check]:
    """``edged check`` on each unusable file: exit 2, a message, no traceback, fast."""
    import yaml

    base = json.loads(good.read_text())
    cases: List[Tuple[str, str, Callable[[Path], Path]]] = []

    def text_case(name: str, tried: str, text: str) -> None:
        def make(path: Path) -> Path:
            path.write_text(text)
            return path

        cases.append((name, tried, make))

    def bytes_case(name: str, tried: str, data: bytes) -> None:
        def make(path: Path) -> Path:
            path.write_bytes(data)
            return path

        cases.append((name, tried, make))

    def mutated(change: Callable[[Dict[str, Any]], None]) -> str:
        doc = json.loads(json.dumps(base))
        change(doc)
        return yaml.safe_dump(doc, sort_keys=False)

    good_text = yaml.safe_dump(base, sort_keys=False)
    bytes_case(
        "D9 not UTF-8",
        "the config plus a line `device_id_note: caf\\xe9` in Latin-1",
        good_text.encode() + "device_id_note: caf\xe9\n".encode("latin-1"),
    )
    bytes_case("D9 UTF-16", "the whole config saved as UTF-16", good_text.encode("utf-16"))
    text_case("D9 complex key", "`? [a, b] : 1` appended", good_text + "? [a, b]\n: 1\n")
    text_case("D9 deep nesting", "`sources: ` + 20,000 `[`", "sources: " + "[" * 20_000)
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    bomb = "\n".join(levels) + "\ndevice_id: *a8\n"
    text_case(
        "D10 alias bomb",
        "9 anchors of ten aliases each (10^9 values) as `device_id`",
        good_text.replace("device_id: bench\n", "") + bomb,
    )

    def gauge(**scale: float) -> Callable[[Dict[str, Any]], None]:
        return lambda doc: doc["pipelines"][0]["gauges"][0].update(scale)

    text_case("D11 NaN scale", "gauge `min_value: .nan`", mutated(gauge(min_value=float("nan"))))
    text_case("D11 inf scale", "gauge `max_value: .inf`", mutated(gauge(max_value=float("inf"))))
    text_case(
        "D11 1e308 span",
        "gauge scale -1e308 to 1e308",
        mutated(gauge(min_value=-1e308, max_value=1e308)),
    )
    text_case(
        "D12 tiny rate",
        "camera `rate: 1e-300`",
        mutated(lambda doc: doc["sources"][0].update(rate=1e-300)),
    )
    text_case(
        "D12 tiny fps",
        "camera `fps: 1e-300`",
        mutated(lambda doc: doc["sources"][0].update(fps=1e-300)),
    )

    def fifo(path: Path) -> Path:
        os.mkfifo(path)  # nobody ever writes: reading it would wait for ever
        return path

    cases.append(("D20 FIFO", "a FIFO with no writer as the config path", fifo))
    cases.append(
        ("D20 /dev/zero", "`/dev/zero` as the config path", lambda path: Path("/dev/zero"))
    )

    def secret_case(name: str, tried: str, data: bytes) -> None:
        def make(path: Path) -> Path:
            secret = path.with_suffix(".token")
            secret.write_bytes(data)
            path.write_text(
                mutated(lambda doc: doc["sinks"]["http"].update(token_file=str(secret)))
            )
            return path

        cases.append((name, tried, make))

    secret_case(
        "D9 secret not UTF-8", "HTTP `token_file` holding `caf\\xe9` (Latin-1)", b"caf\xe9\n"
    )
    secret_case("D13 empty token", "HTTP `token_file` that is empty", b"")
    if quick:
        cases = [c for c in cases if c[0] not in ("D11 inf scale", "D12 tiny fps", "D9 UTF-16")]

    checks = []
    cfgdir = workdir / "configs"
    cfgdir.mkdir()
    for index, (name, tried, make) in enumerate(cases):
        check = Check("config", name, tried)
        path = make(cfgdir / f"case{index}.yaml")
        code, seconds, peak_mb, err = run_check(path)
        said = " ".join(line.strip() for line in err.splitlines()[1:3] if line.strip())
        said = said.replace(str(cfgdir) + "/", "")
        check.refuse_s = seconds
        check.peak_rss_mb = peak_mb
        check.happened = f"exit {code} in {seconds:.2f} s: {shorten(said, 200)}"
        check.figures = {"exit": code, "stderr_bytes": len(err)}
        if code != 2:
            check.fail(f"exit {code}, not 2")
        if "Traceback" in err:
            check.fail("a traceback")
        if seconds > 10:
            check.fail(f"took {seconds:.1f} s")
        if peak_mb > 300:
            check.fail(f"peak RSS {peak_mb:.0f} MB")
        checks.append(check)
        print(line_of(check), file=sys.stderr, flush=True)
    return checks


def run_check(path: Path) -> Tuple[Optional[int], float, float, str]:
    """``edged check -c PATH``: exit status, seconds, peak RSS (MB: VmHWM of its
    /proc/<pid>/status, sampled every 20 ms; wait4's ru_maxrss would include this
    process's RSS, which the child inherits at fork), its stderr."""
    errfile = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edged", "check", "-c", str(path)],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=errfile,
    )
    code: Optional[int] = None
    peak_kb = 0
    status_path = Path(f"/proc/{proc.pid}/status")
    while True:
        try:
            for line in status_path.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        if proc.poll() is not None:
            code = proc.returncode
            break
        if time.monotonic() - start > CHECK_TIMEOUT_S:
            proc.kill()
            proc.wait()
            break
        time.sleep(0.02)
    seconds = time.monotonic() - start
    errfile.seek(0)
    err = errfile.read().decode(errors="replace")
    errfile.close()
    return code, seconds, peak_kb / 1024, err


def shorten(text: str, width: int) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------- HTTP area


class HttpArea:
    def __init__(self, daemon: Daemon, quick: bool):
        self.daemon = daemon
        self.port = daemon.port
        self.quick = quick
        self.baseline_mb = daemon.rss_mb()

    def measured(self, check: Check, sampler: RssSampler) -> None:
        check.peak_rss_mb = sampler.peak_mb
        check.rss_growth_mb = sampler.peak_mb - self.baseline_mb
        if check.rss_growth_mb > RSS_LIMIT_MB:
            check.fail(f"RSS grew {check.rss_growth_mb:.0f} MB")
        if not self.daemon.healthy():
            check.fail("/healthz did not answer 200 afterwards")

    async def bombs(self) -> Check:
        rounds = 2 if self.quick else 5
        bomb = jpeg_bomb()
        form, form_type = multipart(bomb, "image/jpeg")
        path = f"/api/infer/{PIPELINE}"
        check = Check(
            "http",
            "D1 decompression bombs",
            f"POST /api/infer: the {len(bomb)}-byte JPEG claiming 30000x30000 behind a stray "
            f"byte (raw and as a form) and a {len(png_bomb())}-byte PNG claiming 50000x50000, "
            f"{rounds} times each; one ordinary 720x320 JPEG as control",
        )
        counts: Counter = Counter()
        times: List[float] = []
        with RssSampler(self.daemon, 0.05) as sampler:
            for _ in range(rounds):
                for raw in (
                    post(self.port, path, bomb, "image/jpeg"),
                    post(self.port, path, form, form_type),
                    post(self.port, path, png_bomb(), "image/png"),
                ):
                    code, seconds, _ = await exchange(self.port, raw)
                    counts[code] += 1
                    times.append(seconds)
            control, control_s, _ = await exchange(
                self.port, post(self.port, path, scene_jpeg(), "image/jpeg"), 30
            )
        self.measured(check, sampler)
        check.server_errors = server_errors(counts)
        check.refuse_s = max(times)
        refused = sum(n for code, n in counts.items() if 400 <= code < 500)
        check.happened = (
            f"{statuses(counts)}; slowest refusal {max(times):.3f} s, median "
            f"{statistics.median(times):.3f} s; control {control} in {control_s:.2f} s"
        )
        check.figures = {"statuses": dict(counts), "control": control, "bomb_bytes": len(bomb)}
        if refused != len(times):
            check.fail(f"{len(times) - refused} bomb(s) not refused with a 4xx")
        if max(times) > BOMB_LIMIT_S:
            check.fail(f"a bomb took {max(times):.2f} s to refuse")
        if control != 200:
            check.fail(f"the control upload got {control}")
        return check

    async def credentials(self) -> Check:
        check = Check(
            "http",
            "D8 credentials not UTF-8",
            "GET /api/status with `Authorization: Bearer \\xff\\xfe\\x80token`, with "
            "`Cookie: edged_session=\\xff\\xfe\\x80`, and POST /login with a form "
            "`token=\\xff\\xfe`",
        )
        base = f"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n".encode()
        requests = [
            base + b"Authorization: Bearer \xff\xfe\x80token\r\nConnection: close\r\n\r\n",
            base + b"Cookie: edged_session=\xff\xfe\x80\r\nConnection: close\r\n\r\n",
            post(
                self.port,
                "/login",
                b"token=\xff\xfe",
                "application/x-www-form-urlencoded",
                auth=False,
            ),
        ]
        counts: Counter = Counter()
        with RssSampler(self.daemon, 0.05) as sampler:
            for raw in requests * (1 if self.quick else 3):
                code, _, _ = await exchange(self.port, raw)
                counts[code] += 1
        self.measured(check, sampler)
        check.server_errors = server_errors(counts)
        check.happened = statuses(counts)
        check.figures = {"statuses": dict(counts)}
        if set(counts) != {401}:
            check.fail("not all 401")
        return check

    async def cross_origin(self) -> Check:
        path = f"/api/infer/{PIPELINE}"
        picture = scene_jpeg()
        check = Check(
            "http",
            "D16 cross-origin POST",
            "POST /api/infer with a valid token and `Origin: http://evil.example`, `null`, "
            "`http://127.0.0.1.evil.example`; control: the server's own origin",
        )
        counts: Counter = Counter()
        with RssSampler(self.daemon, 0.05) as sampler:
            for origin in ("http://evil.example", "null", "http://127.0.0.1.evil.example"):
                raw = post(self.port, path, picture, "image/jpeg", f"Origin: {origin}\r\n")
                code, _, _ = await exchange(self.port, raw)
                counts[code] += 1
            own = f"Origin: http://127.0.0.1:{self.port}\r\n"
            control, _, _ = await exchange(
                self.port, post(self.port, path, picture, "image/jpeg", own), 30
            )
        self.measured(check, sampler)
        check.server_errors = server_errors(counts)
        check.happened = f"{statuses(counts)}; own origin {control}"
        check.figures = {"statuses": dict(counts), "control": control}
        if set(counts) != {403}:
            check.fail("not all 403")
        if control != 200:
            check.fail(f"own origin got {control}")
        return check

    async def uploads(self) -> Check:
        clients = 12 if self.quick else 40
        size = 16 * 1024 * 1024 - 64 * 1024  # just under max_upload_bytes
        body = b"\xff\xd8" + bytes(size - 2)
        path = f"/api/infer/{PIPELINE}"
        check = Check(
            "http",
            "D15 concurrent large uploads",
            f"{clients} clients POST {size / 2**20:.1f} MB bodies at once (JPEG start, then "
            "zeros), each sent in 256 KB writes",
        )
        head = post(self.port, path, b"", "image/jpeg").replace(
            b"Content-Length: 0", f"Content-Length: {size}".encode()
        )

        async def one() -> Tuple[int, float]:
            start = time.monotonic()
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            answer = asyncio.ensure_future(reader.read(512))
            try:
                writer.write(head)
                view = memoryview(body)
                for offset in range(0, size, 256 * 1024):
                    if answer.done():
                        break
                    writer.write(view[offset : offset + 256 * 1024])
                    await writer.drain()
                data = await asyncio.wait_for(answer, 60)
            except (OSError, asyncio.TimeoutError):
                data = answer.result() if answer.done() and not answer.exception() else b""
            finally:
                writer.close()
            match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
            return (int(match.group(1)) if match else 0), time.monotonic() - start

        with RssSampler(self.daemon, 0.05) as sampler:
            results = await asyncio.gather(*(one() for _ in range(clients)))
        self.measured(check, sampler)
        counts = Counter(code for code, _ in results)
        check.server_errors = server_errors(counts)
        busy = [s for code, s in results if code == 503]
        check.refuse_s = max(busy) if busy else None
        check.happened = (
            f"{statuses(counts)} (503 = all upload slots busy); slowest 503 after "
            f"{max(busy) if busy else 0:.2f} s, slowest answer {max(s for _, s in results):.1f} s"
        )
        check.figures = {"statuses": dict(counts)}
        if 0 in counts:
            check.fail(f"{counts[0]} upload(s) closed without an answer")
        return check

    async def slowloris(self) -> Check:
        count = 100 if self.quick else 300
        limit = self.daemon.status()["sinks"]
        limit = next(s for s in limit if s.get("name") == "http")["connections"]["limit"]
        header_timeout = HTTP_SETTINGS["header_timeout_s"]
        check = Check(
            "http",
            "D5 slowloris beyond the limit",
            f"{count} connections that send half a request's headers and then 1 byte a second "
            f"(connection limit {limit}, header_timeout_s {header_timeout:g}); meanwhile a "
            "normal GET /healthz and the camera",
        )
        start_part = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n".encode()
        fds_before = self.daemon.fds()
        log_before = len(self.daemon.log_text().splitlines())
        frames_before = self.daemon.status()["sources"][0]["frames"]
        socks: List[socket.socket] = []
        fds_peak = fds_before
        with RssSampler(self.daemon, 0.05) as sampler:
            start = time.monotonic()
            for _ in range(count):
                sock = socket.create_connection(("127.0.0.1", self.port))
                sock.sendall(start_part)
                sock.setblocking(False)
                socks.append(sock)
                await asyncio.sleep(0.005)
            opened_s = time.monotonic() - start
            fds_peak = max(fds_peak, self.daemon.fds())
            over_limit_s = None
            normal, normal_s, _ = await exchange(
                self.port, start_part + b"Connection: close\r\n\r\n", 10
            )
            deadline = time.monotonic() + header_timeout + 15
            while time.monotonic() < deadline:
                open_now = sum(not closed_by_server(s) for s in socks)
                fds_peak = max(fds_peak, self.daemon.fds())
                if over_limit_s is None and open_now <= limit:
                    over_limit_s = time.monotonic() - start
                if open_now == 0:
                    break
                for sock in socks:
                    try:
                        sock.send(b"X")
                    except OSError:
                        pass
                await asyncio.sleep(1.0)
            all_closed_s = time.monotonic() - start
            still_open = sum(not closed_by_server(s) for s in socks)
            for sock in socks:
                sock.close()
        self.measured(check, sampler)
        await asyncio.sleep(0.5)
        fds_after = self.daemon.fds()
        frames_after = self.daemon.status()["sources"][0]["frames"]
        log_lines = self.daemon.log_text().splitlines()[log_before:]
        tracebacks = sum("Traceback" in line for line in log_lines)
        check.refuse_s = over_limit_s
        check.server_errors = 1 if normal >= 500 and normal != 503 else 0
        check.happened = (
            f"all {count} opened in {opened_s:.1f} s; at most {limit} open after "
            f"{over_limit_s if over_limit_s is not None else float('nan'):.1f} s, all closed "
            f"after {all_closed_s:.1f} s ({still_open} still open); GET /healthz {normal} in "
            f"{normal_s:.2f} s; daemon fds {fds_before} → peak {fds_peak} → {fds_after}; "
            f"camera +{frames_after - frames_before} frames; {len(log_lines)} log lines, "
            f"{tracebacks} tracebacks"
        )
        check.figures = {
            "limit": limit,
            "fds": [fds_before, fds_peak, fds_after],
            "log_lines": len(log_lines),
            "all_closed_s": all_closed_s,
        }
        if normal != 200:
            check.fail(f"GET /healthz got {normal} beside the slow clients")
        if still_open:
            check.fail(f"{still_open} slow connections never closed")
        if over_limit_s is None:
            check.fail("more than the limit stayed open")
        if fds_after > fds_before + 4:
            check.fail(f"fds {fds_before} → {fds_after}")
        if frames_after <= frames_before:
            check.fail("the camera stopped")
        if tracebacks or len(log_lines) > 20:
            check.fail(f"{len(log_lines)} log lines, {tracebacks} tracebacks")
        return check

    async def malformed(self) -> Check:
        rounds = 3 if self.quick else 10
        host = f"Host: 127.0.0.1:{self.port}\r\n".encode()
        kinds = {
            "header without colon": b"GET / HTTP/1.1\r\n" + host + b"no colon here\r\n\r\n",
            "10 KB request line": b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\n" + host + b"\r\n",
            "binary garbage": bytes(range(256)) * 4,
            "NUL in method": b"G\x00T / HTTP/1.1\r\n" + host + b"\r\n",
            "HTTP/9.9": b"GET / HTTP/9.9\r\n" + host + b"\r\n",
            "negative Content-Length": b"POST /login HTTP/1.1\r\n" + host
            + b"Content-Length: -1\r\n\r\n",
            "CL + TE smuggling": b"POST /login HTTP/1.1\r\n" + host + b"Content-Length: 4\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/status HTTP/1.1\r\n"
            + host + b"\r\n",
            "bad chunk size": b"POST /login HTTP/1.1\r\n" + host
            + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
            "1,000 headers": b"GET / HTTP/1.1\r\n" + host
            + b"".join(b"X-%d: y\r\n" % i for i in range(1000)) + b"\r\n",
        }  # fmt: skip
        check = Check(
            "http",
            "D18 malformed requests",
            f"{len(kinds)} kinds ({', '.join(kinds)}), {rounds} times each",
        )
        log_before = len(self.daemon.log_text().splitlines())
        counts: Counter = Counter()
        by_kind: Dict[str, Counter] = {}
        with RssSampler(self.daemon, 0.05) as sampler:
            for _ in range(rounds):
                for name, raw in kinds.items():
                    code, _, _ = await exchange(self.port, raw, 10)
                    counts[code] += 1
                    by_kind.setdefault(name, Counter())[code] += 1
        self.measured(check, sampler)
        await asyncio.sleep(0.3)
        log_lines = self.daemon.log_text().splitlines()[log_before:]
        tracebacks = sum("Traceback" in line for line in log_lines)
        check.server_errors = server_errors(counts)
        check.happened = (
            f"{statuses(counts)}; {len(log_lines)} log lines for {sum(counts.values())} "
            f"requests, {tracebacks} tracebacks"
        )
        check.figures = {
            "by_kind": {k: dict(v) for k, v in by_kind.items()},
            "log_lines": log_lines[:20],
        }
        if tracebacks:
            check.fail(f"{tracebacks} tracebacks in the log")
        if len(log_lines) > len(kinds) + 2:
            check.fail(f"{len(log_lines)} log lines (one per kind expected)")
        if counts.get(-1):
            check.fail("a connection was refused")
        return check

    async def run(self) -> List[Check]:
        out = []
        for step in (
            self.bombs,
            self.credentials,
            self.cross_origin,
            self.uploads,
            self.slowloris,
            self.malformed,
        ):
            check = await step()
            out.append(check)
            print(line_of(check), file=sys.stderr, flush=True)
        return out


def closed_by_server(sock: socket.socket) -> bool:
    try:
        while True:
            if not sock.recv(4096):
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


# ---------------------------------------------------------------- MQTT area


def wait_drained(daemon: Daemon, timeout_s: float) -> Optional[float]:
    """Seconds until the MQTT sink is connected with an empty spool; None at the deadline."""
    start = time.monotonic()

    def drained() -> bool:
        mqtt = daemon.mqtt_status()
        return bool(mqtt.get("connected")) and (mqtt.get("spool") or {}).get("depth") == 0

    if wait_until(drained, timeout_s, 0.2):
        return time.monotonic() - start
    return None


def check_outage(daemon: Daemon, broker: Broker, sub: SeqSubscriber, outage_s: float) -> Check:
    check = Check(
        "mqtt",
        "broker outage and recovery",
        f"Mosquitto stopped (SIGTERM) for {outage_s:g} s while the camera runs, then started "
        "again on the same port; a subscriber with a persistent session counts the gauge "
        "readings' seq",
    )
    before = sub.report(is_reading)
    with RssSampler(daemon, 0.2) as sampler:
        broker.stop()
        down = time.monotonic()
        depth_peak = 0
        healthz_ok = True
        while time.monotonic() - down < outage_s:
            spool = daemon.mqtt_status().get("spool") or {}
            depth_peak = max(depth_peak, spool.get("depth") or 0)
            healthz_ok = healthz_ok and daemon.healthy()
            time.sleep(1.0)
        broker.start()
        back = time.monotonic()
        drained_s = wait_drained(daemon, 60)
        time.sleep(2.0)  # the last messages reach the subscriber
    after = sub.report(is_reading)
    mqtt = daemon.mqtt_status()
    check.peak_rss_mb = sampler.peak_mb
    check.lost = after["missing"]
    check.refuse_s = drained_s
    arrived = after["received"] - before["received"]
    drained = "never" if drained_s is None else f"{drained_s:.1f} s"
    check.happened = (
        f"spool depth peaked at {depth_peak}; spool empty {drained} "
        f"after the broker was back; {arrived} readings arrived during and after; "
        f"**{after['missing']} lost**, {after['duplicates'] - before['duplicates']} duplicated, "
        f"{after['out_of_order']} out of order; {mqtt.get('connects')} connections in all"
    )
    check.figures = {
        "depth_peak": depth_peak,
        "drained_s": drained_s,
        "readings": {k: v for k, v in after.items() if k != "topics"},
        "broker_down_s": back - down,
        "healthz_during": healthz_ok,
    }
    if after["missing"]:
        check.fail(f"{after['missing']} readings lost")
    if after["out_of_order"]:
        check.fail(f"{after['out_of_order']} out of order")
    if drained_s is None:
        check.fail("the spool never emptied")
    if depth_peak == 0:
        check.fail("nothing was spooled during the outage (was the broker really down?)")
    return check


def check_crash(daemon: Daemon, sub: SeqSubscriber, times: int) -> Check:
    check = Check(
        "mqtt",
        "daemon killed (SIGKILL)",
        f"kill -9 of the daemon {times} time(s), each at a random moment with the camera "
        "running, and a restart on the same config and spool",
    )
    rng = np.random.default_rng(17)
    before = sub.report(is_reading)
    restarts: List[float] = []
    drained: List[float] = []
    restarted_at_1 = 0
    for _ in range(times):
        time.sleep(float(rng.uniform(2.0, 5.0)))
        seen = {t: list(v) for t, v in sub.snapshot().items() if is_reading(t)}
        assert daemon.proc is not None
        daemon.proc.kill()
        daemon.proc.wait(10)
        start = time.monotonic()
        daemon.start()
        restarts.append(time.monotonic() - start)
        drained_s = wait_drained(daemon, 30)
        drained.append(float("nan") if drained_s is None else drained_s)
        time.sleep(3.0)
        for topic, seqs in sub.snapshot().items():
            old = seen.get(topic)
            new = seqs[len(old) :] if old else []
            if old and new and ((1 in new and max(old) > 1) or max(new) <= max(old)):
                restarted_at_1 += 1  # seq started again instead of carrying on
    time.sleep(1.0)
    after = sub.report(is_reading)
    check.lost = after["missing"]
    check.refuse_s = max(restarts)
    check.peak_rss_mb = daemon.hwm_mb()
    check.happened = (
        f"healthy again {statistics.median(restarts):.1f} s after each restart (slowest "
        f"{max(restarts):.1f} s), spool empty {max(drained):.1f} s later at most; "
        f"{after['received'] - before['received']} readings arrived; **{after['missing']} "
        f"lost**, {after['duplicates'] - before['duplicates']} duplicated, "
        f"{after['out_of_order']} out of order; seq restarted at 1 on {restarted_at_1} topics"
    )
    check.figures = {"restart_s": restarts, "drained_s": drained}
    if after["missing"]:
        check.fail(f"{after['missing']} readings lost")
    if after["out_of_order"]:
        check.fail(f"{after['out_of_order']} out of order")
    if restarted_at_1:
        check.fail("seq restarted at 1")
    return check


def dead_letters(spool: Path) -> List[Tuple[str, int, Optional[int]]]:
    """(topic, payload bytes, seq) of each message in the spool's dead-letter table."""
    import sqlite3

    if not spool.exists():
        return []
    db = sqlite3.connect(f"file:{spool}?mode=ro", uri=True)
    out: List[Tuple[str, int, Optional[int]]] = []
    try:
        for topic, payload, size in db.execute("SELECT topic, payload, size FROM dead_letter"):
            try:
                seq = json.loads(payload).get("seq")
            except (ValueError, AttributeError):
                seq = None
            out.append((str(topic), int(size), seq if isinstance(seq, int) else None))
    except sqlite3.Error:
        pass
    finally:
        db.close()
    return out


def check_oversized(workdir: Path, seconds: float, rate: float, stats_s: float) -> Check:
    check = Check(
        "mqtt",
        "D6 message over max_packet_size",
        f"a second daemon against a second Mosquitto with `max_packet_size 1000` for "
        f"{seconds:g} s: its stats messages (about 2.5 KB, every {stats_s:g} s) are larger, "
        "gauge readings are not; then up to 30 s for the spool to empty",
    )
    broker = Broker(workdir, "mosquitto-small", [f"max_packet_size {MAX_PACKET}"])
    broker.start()
    sub = SeqSubscriber(broker.port, client_id="abuse-sub-small").start()
    http_port = free_port()
    config = write_config(
        workdir,
        http_port,
        broker.port,
        name="edged-small",
        rate=rate,
        http=HTTP_SETTINGS,
        mqtt={"stats_interval_s": stats_s, "reconnect": {"initial_s": 0.2, "max_s": 2.0}},
    )
    daemon = Daemon(config, http_port)
    mqtt: Dict[str, Any] = {}
    try:
        daemon.start()
        with RssSampler(daemon, 0.2) as sampler:
            time.sleep(seconds)
            behind = (daemon.mqtt_status().get("spool") or {}).get("depth")
            drained_s = wait_drained(daemon, 30)
            mqtt = daemon.mqtt_status()
            time.sleep(1.0)
        code = daemon.stop()
    finally:
        daemon.stop()
        sub.stop()
        broker.stop()
    readings = sub.report(is_reading)
    spool = mqtt.get("spool") or {}
    dead = dead_letters(Path(spool.get("path") or config.parent / "spool.db"))
    innocent = [(t, n) for t, n, _ in dead if len(t) + n + 8 <= MAX_PACKET]
    kinds = Counter("reading" if is_reading(t) else t.rsplit("/", 1)[-1] for t, _, _ in dead)
    sizes = [n for _, n, _ in dead]
    arrived = sub.snapshot()
    never = sum(1 for t, _, q in dead if is_reading(t) and q not in arrived.get(t, ()))
    check.peak_rss_mb = sampler.peak_mb
    check.lost = readings["missing"] + never
    check.happened = (
        f"{readings['received']} readings arrived, **{check.lost} lost**, "
        f"{readings['out_of_order']} out of order; dead-lettered "
        f"{spool.get('dead_lettered_total')} ({', '.join(f'{n} {k}' for k, n in kinds.items())}"
        f"; payloads {min(sizes, default=0)} to {max(sizes, default=0)} bytes, "
        f"{len(innocent)} that would have fitted, {never} readings that never arrived); "
        f"{mqtt.get('connects')} connections, acked "
        f"{mqtt.get('acked')} of {mqtt.get('published')} published; spool depth "
        f"{behind} after {seconds:g} s, "
        f"{'never empty' if drained_s is None else f'empty {drained_s:.1f} s later'}; "
        f"exit {code}"
    )
    check.figures = {
        "mqtt": {k: mqtt.get(k) for k in ("connects", "acked", "published")},
        "spool": spool,
    }
    if check.lost or not readings["received"]:
        check.fail(f"{check.lost} readings lost, {readings['received']} arrived")
    if innocent:
        check.fail(f"{len(innocent)} message(s) that fit the broker were dead-lettered")
    if not spool.get("dead_lettered_total"):
        check.fail("nothing was dead-lettered")
    check.refuse_s = drained_s
    if drained_s is None:
        check.fail(f"spool depth {spool.get('depth')} 30 s later: messages are stuck")
    if code != 0:
        check.fail(f"exit {code} on SIGTERM")
    return check


# ---------------------------------------------------------------- the run


def line_of(check: Check) -> str:
    def num(value: Optional[float], fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    growth = "" if check.rss_growth_mb is None else f" (+{check.rss_growth_mb:.0f})"
    verdict = "pass" if check.ok else "**FAIL**: " + "; ".join(check.failures)
    return (
        f"| {check.area} | {check.name} | {shorten(check.tried, 400)} | "
        f"{shorten(check.happened, 600)} | {check.server_errors} | "
        f"{num(check.peak_rss_mb, '.0f')}{growth} | {num(check.refuse_s, '.2f')} | "
        f"{num(check.lost, 'd')} | {verdict} |"
    )


def run(args: argparse.Namespace) -> Tuple[List[Check], Dict[str, Any]]:
    checks: List[Check] = []
    info: Dict[str, Any] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="edged-abuse-") as tmp:
        workdir = Path(tmp)
        broker = Broker(workdir)
        http_port = free_port()
        config = write_config(
            workdir,
            http_port,
            broker.port,
            rate=args.rate,
            http=HTTP_SETTINGS,
            mqtt={"stats_interval_s": 10, "reconnect": {"initial_s": 0.5, "max_s": 5.0}},
        )
        if "config" in args.areas:
            checks += check_config(workdir, config, args.quick)
        if "http" in args.areas or "mqtt" in args.areas:
            broker.start()
            sub = SeqSubscriber(broker.port, client_id="abuse-sub").start()
            daemon = Daemon(config, http_port)
            try:
                daemon.start()
                time.sleep(3.0)
                info["rss_start_mb"] = daemon.rss_mb()
                if "http" in args.areas:
                    checks += asyncio.run(HttpArea(daemon, args.quick).run())
                if "mqtt" in args.areas:
                    check = check_outage(daemon, broker, sub, 8.0 if args.quick else 30.0)
                    checks.append(check)
                    print(line_of(check), file=sys.stderr, flush=True)
                info["rss_end_mb"] = daemon.rss_mb()
                info["hwm_mb"] = daemon.hwm_mb()
                info["fds_end"] = daemon.fds()
                if "mqtt" in args.areas:
                    check = check_crash(daemon, sub, 1 if args.quick else 3)
                    checks.append(check)
                    print(line_of(check), file=sys.stderr, flush=True)
                info["exit"] = daemon.stop()
            finally:
                daemon.stop()
                sub.stop()
                broker.stop()
                log = daemon.log_text()
            info["log_errors"] = sum(" ERROR " in line for line in log.splitlines())
            info["log_tracebacks"] = log.count("Traceback")
            info["log_lines"] = len(log.splitlines())
            final = Check(
                "daemon",
                "whole run",
                "the main daemon through every check above (RSS before the kill -9s; the log "
                "and the exit status include the restarts)",
            )
            final.peak_rss_mb = info["hwm_mb"]
            final.rss_growth_mb = info["hwm_mb"] - info["rss_start_mb"]
            final.happened = (
                f"RSS {info['rss_start_mb']:.0f} → {info['rss_end_mb']:.0f} MB, VmHWM "
                f"{info['hwm_mb']:.0f} MB; {info['log_lines']} log lines, {info['log_errors']} "
                f"ERROR, {info['log_tracebacks']} tracebacks; exit {info['exit']} on SIGTERM"
            )
            if info["exit"] != 0:
                final.fail(f"exit {info['exit']} on SIGTERM")
            if info["log_tracebacks"]:
                final.fail(f"{info['log_tracebacks']} tracebacks in the log")
            if final.rss_growth_mb > RSS_LIMIT_MB:
                final.fail(f"VmHWM {final.rss_growth_mb:.0f} MB over the start")
            checks.append(final)
        if "mqtt" in args.areas:
            check = check_oversized(
                workdir, 15.0 if args.quick else 30.0, min(args.rate, 2.0), args.stats_every
            )
            checks.append(check)
            print(line_of(check), file=sys.stderr, flush=True)
    info["seconds"] = time.monotonic() - started
    return checks, info


def report(
    checks: List[Check], info: Dict[str, Any], args: argparse.Namespace, command: str
) -> str:
    failed = [c for c in checks if not c.ok]
    total_5xx = sum(c.server_errors for c in checks)
    lost = sum(c.lost or 0 for c in checks)
    bombs = [c.refuse_s for c in checks if c.name.startswith("D1 ") and c.refuse_s is not None]
    growth = max((c.rss_growth_mb or 0) for c in checks)
    lines = [
        "## Abuse suite: issue 17's hostile inputs against a live `edged run`",
        "",
        f"Command: `{command}`",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}; machine: {machine()} (at the end).",
        f"- Daemon: synthetic gauge camera 720x320 at {args.rate:g} fps → gauge pipeline "
        "(ONNX Runtime, CPU) → HTTP sink on 127.0.0.1 (bearer token, "
        + ", ".join(f"{k} {v:g}" for k, v in HTTP_SETTINGS.items())
        + ") + MQTT sink (QoS 1, 1 MB spool, reconnect 0.5 to 5 s) → Mosquitto on loopback.",
        "- Columns: 5xx = answers 500 to 599 other than 503 (503 is the designed 'busy' refusal); "
        "peak RSS = the daemon's VmRSS sampled every 50 ms during the check (config rows: "
        "the `edged check` process's own peak), growth over the daemon's RSS before the HTTP "
        "checks in brackets; s = seconds to refuse (slowest), to get back under the "
        "connection limit (D5) or to empty the spool after the outage; lost = gauge-reading "
        "seqs that never arrived.",
        f"- Took {info['seconds']:.0f} s in all.",
        "",
        "| area | check | tried | happened | 5xx | peak RSS MB | s | lost | result |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
        *(line_of(c) for c in checks),
        "",
        f"**{len(checks) - len(failed)} of {len(checks)} checks pass**; 5xx: {total_5xx}; "
        f"slowest bomb refusal: {max(bombs) if bombs else float('nan'):.3f} s; largest RSS "
        f"growth: {growth:.0f} MB; readings lost: {lost}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter rounds")
    parser.add_argument("--rate", type=float, default=5.0, help="camera fps")
    parser.add_argument(
        "--areas", default="config,http,mqtt", help="comma-separated: config, http, mqtt"
    )
    parser.add_argument(
        "--stats-every",
        type=float,
        default=10.0,
        help="stats interval of the D6 daemon: each stats message is one the broker refuses",
    )
    parser.add_argument("--write", type=Path, help="also write the report (Markdown) here")
    parser.add_argument("--json", type=Path, help="also keep the figures in this JSON file")
    args = parser.parse_args(argv)
    args.areas = set(args.areas.split(","))
    command = " ".join(["python bench/abuse.py", *(argv if argv is not None else sys.argv[1:])])
    checks, info = run(args)
    text = report(checks, info, args, command)
    print(text)
    if args.write:
        args.write.write_text(text)
    if args.json:
        figures = {"info": info, "checks": [c.as_dict() for c in checks]}
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
