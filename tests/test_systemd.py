"""systemd notify over a real unix datagram socket: READY, STATUS, WATCHDOG, STOPPING."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from edged.config import parse_config
from edged.daemon import Daemon
from edged.pipelines import create_pipeline
from edged.systemd import Notifier, SystemdWatchdog, watchdog_interval_s

from sourcekit import until

pytest.importorskip("cv2")

CONFIG = """
device_id: sd
sources:
  - {id: cam0, kind: synthetic, width: 64, height: 48, rate: 30}
pipelines:
  - {id: motion0, kind: motion, source: cam0}
"""


class NotifySocket:
    """The receiving end systemd would hold: a bound AF_UNIX datagram socket."""

    def __init__(self, address: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.2)
        self.address = address
        self.messages = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def keys(self):
        return [line.split("=", 1)[0] for _, m in self.messages for line in m.splitlines()]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request, tmp_path):
    address = str(tmp_path / "notify") if request.param == "path" else f"@edged-test-{os.getpid()}"
    receiver = NotifySocket(address)
    yield receiver
    receiver.close()


def test_ready_status_watchdog_stopping_in_order(notify_socket, tmp_path, edged_cmd):
    config = tmp_path / "edged.yaml"
    config.write_text(CONFIG)
    env = dict(os.environ, NOTIFY_SOCKET=notify_socket.address, WATCHDOG_USEC="1000000")
    proc = subprocess.Popen([*edged_cmd, "run", "-c", str(config)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while notify_socket.keys().count("WATCHDOG") < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    keys = notify_socket.keys()
    assert keys[keys.index("READY") :].count("WATCHDOG") >= 4
    assert keys.index("READY") < keys.index("WATCHDOG") < keys.index("STOPPING")
    assert keys[-1] == "STOPPING" and "STATUS" in keys
    ready = next(m for _, m in notify_socket.messages if m.startswith("READY=1"))
    assert "STATUS=cam0 " in ready
    pings = [t for t, m in notify_socket.messages if m == "WATCHDOG=1"]
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert max(gaps) < 1.0, "a ping at least once per WATCHDOG_USEC (edged aims at half)"


def test_watchdog_interval_from_environment():
    assert watchdog_interval_s({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert watchdog_interval_s({}) is None
    other_pid = str(os.getpid() + 1)
    assert watchdog_interval_s({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": other_pid}) is None


class BlockingPipeline:
    """Wraps a motion pipeline; blocks inside process() while ``gate`` is clear."""

    def __init__(self, config, gate):
        self.inner = create_pipeline(config)
        self.gate = gate

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def process(self, frame):
        if not self.gate.is_set():
            self.blocked_at = time.monotonic()
        self.gate.wait()
        return self.inner.process(frame)


async def test_stuck_pipeline_stops_the_pings_within_one_interval(tmp_path):
    receiver = NotifySocket(str(tmp_path / "notify"))
    gate = threading.Event()
    gate.set()
    daemon = Daemon(parse_config(CONFIG), pipeline_factory=lambda c: BlockingPipeline(c, gate))
    await daemon.start()
    notifier = Notifier({"NOTIFY_SOCKET": receiver.address})
    interval, stuck_after = 0.1, 0.5
    watchdog = SystemdWatchdog(daemon, notifier, interval, stuck_after_s=stuck_after)
    watchdog.start()
    try:
        await until(lambda: watchdog.pings >= 3, 5)
        gate.clear()  # the next frame hangs in the model
        runner = daemon.pipelines()["motion0"]
        await until(lambda: getattr(runner.pipeline, "blocked_at", None) is not None, 5)
        stuck_at = runner.pipeline.blocked_at + stuck_after
        await until(lambda: bool(watchdog.withheld), 5)
        assert watchdog.last_ping_mono <= stuck_at + interval, "a ping was sent after the stall"
        assert "pipeline motion0 stuck on one frame" in watchdog.withheld[0]
        gate.set()
        count = watchdog.pings
        await until(lambda: watchdog.pings > count, 5)  # progress again: pings resume
    finally:
        gate.set()
        await watchdog.stop()
        await daemon.stop()
        receiver.close()
