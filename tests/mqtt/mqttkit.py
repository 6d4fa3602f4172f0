"""Helpers for the MQTT tests: a real Mosquitto broker, a recording subscriber, test certificates.

Imported by name (``from mqttkit import …``): the tests directory is not a
package, and a second module called ``conftest`` would shadow the top one.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import shutil
import socket
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from sourcekit import free_tcp_port, wait_until

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"

MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> Optional[str]:
    for name in MOSQUITTO_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """A Mosquitto process on loopback with persistence; can be stopped and started again."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        *,
        users: Optional[Dict[str, str]] = None,
        tls: Optional[Dict[str, Path]] = None,
        settings: Sequence[str] = (),
    ):
        self.binary = binary
        self.workdir = workdir
        self.port = free_tcp_port()
        self.tls_port = free_tcp_port() if tls else None
        self.users = users
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = workdir / "mosquitto.log"
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        lines = [
            # as root, mosquitto would switch to the 'mosquitto' user, who cannot read tmp_path
            f"user {getpass.getuser()}",
            "per_listener_settings false",
            "persistence true",
            f"persistence_location {workdir / 'data'}/",
            "autosave_interval 0",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            f"log_dest file {self.log_path}",
            *settings,  # e.g. "max_packet_size 1000"
            f"listener {self.port} 127.0.0.1",
        ]
        if tls:
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {tls['ca']}",
                f"certfile {tls['cert']}",
                f"keyfile {tls['key']}",
            ]
        if users:
            password_file = workdir / "passwords"
            for index, (user, password) in enumerate(users.items()):
                flags = ["-b", "-c"] if index == 0 else ["-b"]
                subprocess.run(
                    ["mosquitto_passwd", *flags, str(password_file), user, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        self.config_path = workdir / "mosquitto.conf"
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        assert self.proc is None, "broker already running"
        with open(self.workdir / "mosquitto.stderr", "ab") as stderr:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        ports = [p for p in (self.port, self.tls_port) if p]
        proc = self.proc
        up = wait_until(lambda: proc.poll() is not None or all(listening(p) for p in ports), 10)
        if not up or proc.poll() is not None:
            self.stop()
            stderr = (self.workdir / "mosquitto.stderr").read_text()
            raise RuntimeError(f"mosquitto did not start listening:\n{stderr}\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM: mosquitto saves sessions and retained messages, then exits."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


class Subscriber:
    """A paho client that records every message; waits use a condition, not sleeps.

    ``persistent=True`` keeps its session on the broker (clean_session=False), so
    QoS 1 messages published while it is away are queued for it.
    """

    def __init__(
        self,
        port: int,
        topics: List[str],
        *,
        client_id: Optional[str] = None,
        persistent: bool = False,
        username: Optional[str] = None,
        password: Optional[str] = None,
    ):
        self.port = port
        self.topics = topics
        self.messages: List[Tuple[str, bytes, bool]] = []  # topic, payload, retain
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-sub-{id(self)}",
            clean_session=not persistent,
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(0.05, 0.2)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def start(self, timeout_s: float = 5.0) -> Subscriber:
        self.client.connect("127.0.0.1", self.port, 30)
        self.client.loop_start()
        assert self._subscribed.wait(timeout_s), "subscriber did not get SUBACK"
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # runs on paho's thread
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe([(t, 1) for t in self.topics])

    # runs on paho's thread
    def _on_subscribe(self, client: Any, userdata: Any, mid: Any, codes: Any, props: Any) -> None:
        self._subscribed.set()

    # runs on paho's thread
    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._cond:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Subscriber], bool], timeout_s: float) -> bool:
        """Block until ``predicate(self)`` holds (re-checked on every message)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout_s)

    async def until(self, predicate: Callable[[Subscriber], bool], timeout_s: float) -> bool:
        """``wait_for`` from a coroutine, in a thread, so the loop keeps running the sink."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.wait_for, predicate, timeout_s)

    def json_on(self, topic: str) -> List[Dict[str, Any]]:
        return [json.loads(p) for t, p, _ in self.snapshot() if t == topic and p]

    def snapshot(self) -> List[Tuple[str, bytes, bool]]:
        with self._cond:
            return list(self.messages)

    def count_on(self, topic: str) -> int:
        return sum(1 for t, _, _ in self.snapshot() if t == topic)

    def seqs_on(self, topic: str) -> List[int]:
        return [m["seq"] for m in self.json_on(topic)]


def assert_no_gap(seqs: List[int], expected: int, first: int = 1) -> None:
    """Every seq from ``first`` to ``first + expected - 1`` arrived; duplicates allowed
    (QoS 1 is at least once), and first arrivals come in order."""
    unique = set(seqs)
    missing = sorted(set(range(first, first + expected)) - unique)
    assert not missing, f"{len(missing)} seq(s) missing, e.g. {missing[:10]}"
    firsts = list(dict.fromkeys(seqs))
    assert firsts == sorted(firsts), "messages arrived out of order"


class Proxy:
    """A TCP forwarder to the broker whose cable can be cut: bytes stop flowing both ways
    but no socket is closed, as when a switch dies or a Wi-Fi link drops silently."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self.accepted = threading.Event()  # set at the first connection
        self._sockets: List[socket.socket] = []
        self._lock = threading.Lock()
        self._accepting = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        self._accepting.start()

    def cut(self) -> None:
        self._cut.set()

    def heal(self) -> None:
        """The link is back: connections from before the cut are dead, new ones work."""
        self._close_connections()
        self._cut.clear()

    def close(self) -> None:
        self._listener.close()
        self._close_connections()

    def _close_connections(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, upstream]
            self.accepted.set()
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(src, dst), name="proxy-pump", daemon=True
                ).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
                if not data:
                    break
                if not self._cut.is_set():  # cut: the bytes are lost on the way
                    dst.sendall(data)
            except OSError:
                break
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def make_certificates(directory: Path) -> Dict[str, Path]:
    """A CA and a server certificate for localhost/127.0.0.1, made with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("openssl")
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=edged test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=localhost")  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return {"ca": ca, "cert": cert, "key": key}


def load_schema(name: str) -> Dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


def fill_spool_disk(db: Any) -> None:
    """Make a spool's SQLite connection meet a full disk, the way SQLite reports one.

    ``max_page_count`` stops the file from growing (SQLite clamps it to the current
    size) and a filler table takes every free page left, so the next write fails with
    "database or disk is full". Run it on the thread that owns the connection.
    """
    db.execute("CREATE TABLE IF NOT EXISTS test_filler (x BLOB)")
    db.execute("PRAGMA max_page_count=1")
    for size in (65536, 4096, 512, 16):
        try:
            while True:
                db.execute("INSERT INTO test_filler VALUES (zeroblob(?))", (size,))
        except sqlite3.OperationalError:
            pass


def free_spool_disk(db: Any) -> None:
    """Space is back: the filler goes and the file may grow again."""
    db.execute("PRAGMA max_page_count=1000000")
    db.execute("DROP TABLE IF EXISTS test_filler")
