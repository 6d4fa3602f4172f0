"""What bench/abuse.py and bench/soak.py share: a live ``edged run`` with a synthetic gauge
camera, its own Mosquitto on loopback, a subscriber that checks ``seq`` per topic, and the
daemon's figures read from /proc (Linux only).

Not a benchmark itself; imported by the scripts next to it (``from livekit import …``).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
TOKEN = "abuse-bench-token"
DEVICE_ID = "bench"
PREFIX = "edged"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
    """Poll an outside process's state with a deadline (it offers no event to wait on)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step_s)
    return True


def mosquitto_binary() -> str:
    for name in ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("mosquitto not found (apt install mosquitto)")


class Broker:
    """A Mosquitto on loopback with persistence, so a stop and start keeps sessions."""

    def __init__(self, workdir: Path, name: str = "mosquitto", settings: Sequence[str] = ()):
        self.workdir = workdir / name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        lines = [
            f"user {getpass.getuser()}",  # as root it would switch to 'mosquitto'
            "persistence true",
            f"persistence_location {self.workdir}/",
            "autosave_interval 0",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "log_type error",
            "log_type warning",
            f"log_dest file {self.workdir / 'mosquitto.log'}",
            *settings,
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
        ]
        self.config_path = self.workdir / "mosquitto.conf"
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        assert self.proc is None, "broker already running"
        with open(self.workdir / "stderr", "ab") as stderr:
            self.proc = subprocess.Popen(
                [mosquitto_binary(), "-c", str(self.config_path)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        if not wait_until(lambda: listening(self.port), 10):
            self.stop()
            raise SystemExit(f"mosquitto did not start: {(self.workdir / 'stderr').read_text()}")

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its sessions, then exits."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None


def write_config(
    workdir: Path,
    http_port: int,
    mqtt_port: Optional[int],
    *,
    name: str = "edged",
    rate: float = 5.0,
    gauges: int = 3,
    meters: int = 0,
    http: Optional[Dict[str, Any]] = None,
    mqtt: Optional[Dict[str, Any]] = None,
) -> Path:
    """The demo's config (``edged demo``: synthetic gauge camera → gauge pipeline), with a
    bearer token from a file, the HTTP sink on ``http_port`` and MQTT with a small spool."""
    from edged.pipelines.gauge.demo import build_demo_config

    home = workdir / name
    home.mkdir(parents=True, exist_ok=True)
    demo = Path(build_demo_config(str(home), gauges, rate, mqtt_port, http_port, None, meters))
    config = json.loads(demo.read_text())
    demo.unlink()
    config["device_id"] = DEVICE_ID
    token_file = home / "token"
    token_file.write_text(TOKEN + "\n")
    config["sinks"]["http"] = {
        "host": "127.0.0.1",
        "port": http_port,
        "token_file": str(token_file),
        **(http or {}),
    }
    if mqtt_port is not None:
        config["sinks"]["mqtt"].update(
            {"client_id": f"bench-{name}", "spool_max_bytes": 1024 * 1024, **(mqtt or {})}
        )
    config["logging"] = {"level": "INFO"}
    path = home / "edged.yaml"
    path.write_text(json.dumps(config, indent=2))
    return path


class Daemon:
    """``python -m edged run -c CONFIG`` as a child process, its log in a file."""

    def __init__(self, config: Path, http_port: int):
        self.config = config
        self.port = http_port
        self.base = f"http://127.0.0.1:{http_port}"
        self.log_path = config.parent / "edged.log"
        self.proc: Optional[subprocess.Popen] = None
        self.started_mono = 0.0

    def start(self, timeout_s: float = 60.0) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edged", "run", "-c", str(self.config)],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started_mono = time.monotonic()
        if not wait_until(lambda: self.exited() or self.healthy(), timeout_s, 0.2):
            self.stop()
            raise SystemExit(f"edged never became healthy; log:\n{self.log_tail()}")
        if self.exited():
            raise SystemExit(f"edged exited with {self.proc.returncode}; log:\n{self.log_tail()}")

    def exited(self) -> bool:
        return self.proc is None or self.proc.poll() is not None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.HTTPError):
            return False

    def get(self, path: str, timeout_s: float = 5.0) -> Tuple[int, bytes]:
        request = urllib.request.Request(
            self.base + path, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def status(self) -> Dict[str, Any]:
        code, body = self.get("/api/status")
        return json.loads(body) if code == 200 else {}

    def mqtt_status(self) -> Dict[str, Any]:
        for sink in self.status().get("sinks", []):
            if isinstance(sink, dict) and sink.get("name") == "mqtt":
                return sink
        return {}

    def proc_status(self) -> Dict[str, int]:
        """VmRSS, VmHWM (kB) and Threads from /proc/<pid>/status."""
        out: Dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "Threads"):
                    out[key] = int(value.split()[0])
        return out

    def rss_mb(self) -> float:
        return self.proc_status().get("VmRSS", 0) / 1024

    def hwm_mb(self) -> float:
        return self.proc_status().get("VmHWM", 0) / 1024

    def fds(self) -> int:
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return 0

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout_s: float = 20.0) -> Optional[int]:
        """SIGTERM, then SIGKILL past ``timeout_s``; the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


class RssSampler:
    """Samples a process's VmRSS on a thread; ``peak_mb`` is the largest seen."""

    def __init__(self, daemon: Daemon, every_s: float = 0.1):
        self.daemon = daemon
        self.every_s = every_s
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self.peak_mb = self.daemon.rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.peak_mb = max(self.peak_mb, self.daemon.rss_mb())


class SeqSubscriber:
    """A paho subscriber with a persistent session that keeps every ``seq`` per topic.

    A message without an integer ``seq`` (retained discovery configs, status) is counted
    apart. Gaps are seqs between a topic's first and last that never arrived.
    """

    def __init__(self, port: int, topic: str = f"{PREFIX}/#", client_id: str = "bench-sub"):
        self.port = port
        self.topic = topic
        self.seqs: Dict[str, List[int]] = {}
        self.other = 0
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.reconnect_delay_set(0.05, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def start(self, timeout_s: float = 10.0) -> SeqSubscriber:
        self.client.connect("127.0.0.1", self.port, 30)
        self.client.loop_start()
        if not self._subscribed.wait(timeout_s):
            raise SystemExit("the subscriber got no SUBACK")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # runs on paho's thread
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe(self.topic, 1)

    # runs on paho's thread
    def _on_subscribe(self, client: Any, userdata: Any, mid: Any, codes: Any, props: Any) -> None:
        self._subscribed.set()

    # runs on paho's thread
    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        seq = None
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            seq = json.loads(message.payload).get("seq")
        with self._lock:
            if isinstance(seq, int) and not message.retain:
                self.seqs.setdefault(message.topic, []).append(seq)
            else:
                self.other += 1

    def snapshot(self) -> Dict[str, List[int]]:
        with self._lock:
            return {topic: list(seqs) for topic, seqs in self.seqs.items()}

    def total(self) -> int:
        with self._lock:
            return sum(len(s) for s in self.seqs.values())

    def report(self, topics: Optional[Callable[[str], bool]] = None) -> Dict[str, Any]:
        """Per topic (``topics`` filters): received, unique, missing seqs inside the range
        seen, duplicates, first arrivals out of order."""
        per: Dict[str, Dict[str, int]] = {}
        for topic, seqs in self.snapshot().items():
            if topics is not None and not topics(topic):
                continue
            unique = set(seqs)
            firsts = list(dict.fromkeys(seqs))
            out_of_order = sum(1 for a, b in zip(firsts, firsts[1:]) if b < a)
            per[topic] = {
                "received": len(seqs),
                "unique": len(unique),
                "first": min(unique),
                "last": max(unique),
                "missing": max(unique) - min(unique) + 1 - len(unique),
                "duplicates": len(seqs) - len(unique),
                "out_of_order": out_of_order,
            }
        return {
            "topics": per,
            "received": sum(t["received"] for t in per.values()),
            "missing": sum(t["missing"] for t in per.values()),
            "duplicates": sum(t["duplicates"] for t in per.values()),
            "out_of_order": sum(t["out_of_order"] for t in per.values()),
        }


def is_reading(topic: str) -> bool:
    """A gauge reading's topic (edged/<device>/<pipeline>/gauge/<gauge>)."""
    return "/gauge/" in topic


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{os.uname().machine}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)"
    )
