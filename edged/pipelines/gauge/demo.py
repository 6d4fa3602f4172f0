"""``edged demo``: synthetic gauge camera -> gauge pipeline -> MQTT + HTTP preview, no config file.

The broker: one already answering on 127.0.0.1:1883, else a ``mosquitto`` (if
installed) or an embedded ``amqtt`` broker started for the demo on a free
port, else the demo runs without MQTT and says so. The gauges' true values
travel with each frame and are drawn on the preview next to the readings. Beside
the dials, ``--panels`` panel meters are read from their ``roi`` by the panel
model, ``--meters`` water-meter sub-dials turn at fixed places of the frame,
read from theirs by the pointer model, and ``--displays`` seven-segment
displays show a changing number, read from theirs by the display model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, List, Optional, Tuple

__all__ = ["build_demo_config", "register_demo"]

DEMO_WIDTH, DEMO_HEIGHT = 720, 320


def register_demo(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run a self-contained gauge-reading demo (synthetic camera, MQTT, preview)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--gauges", type=int, default=2, help="dials in the synthetic scene (1-6)")
    p.add_argument(
        "--panels",
        type=int,
        default=1,
        help="panel meters after the dials, read by the panel model (0-3)",
    )
    p.add_argument(
        "--meters",
        type=int,
        default=2,
        help="water-meter sub-dials in the scene, read by the pointer model (0-4)",
    )
    p.add_argument(
        "--displays",
        type=int,
        default=1,
        help="seven-segment displays in the scene, read by the display model (0-4)",
    )
    p.add_argument("--rate", type=float, default=5.0, help="frames per second")
    p.add_argument(
        "--mqtt-port",
        type=int,
        default=None,
        help="broker port (default: 1883 if one answers there, else a free one)",
    )
    p.add_argument("--http-port", type=int, default=8080, help="preview port (a free one if taken)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--model", default=None, help="gauge model (default: the bundled one)")
    p.set_defaults(func=demo_command)


def _answers(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _answers("127.0.0.1", port, 0.2):
            return True
        time.sleep(0.05)
    return False


def start_broker(port: Optional[int], workdir: str) -> Tuple[Optional[int], Optional[Any], str]:
    """``(port, handle, how)``: an existing broker, a started one, or none."""
    if port is None and _answers("127.0.0.1", 1883):
        return 1883, None, "the broker already running on 127.0.0.1:1883"
    if port is not None and _answers("127.0.0.1", port):
        return port, None, f"the broker already running on 127.0.0.1:{port}"
    port = port or _free_port()
    exe = shutil.which("mosquitto")
    if exe:
        conf = os.path.join(workdir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        proc = subprocess.Popen(
            [exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if _wait_listening(port):
            return port, proc, f"mosquitto started for the demo on 127.0.0.1:{port}"
        proc.terminate()
    try:
        from amqtt.broker import Broker  # type: ignore[import-not-found]
    except ImportError:
        hint = "install mosquitto, or pip install 'edged[demo]' for amqtt"
        return None, None, f"no MQTT broker ({hint})"
    ready = threading.Event()
    failure: List[str] = []

    def serve() -> None:  # runs on the broker's own thread and event loop
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # amqtt looks the loop up from inside its constructor
        try:
            broker = Broker(
                {
                    "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
                    "auth": {"allow-anonymous": True},
                },
                loop=loop,
            )
            loop.run_until_complete(broker.start())
        except Exception as exc:  # any failure: the demo goes on without MQTT and says why
            failure.append(f"{type(exc).__name__}: {exc}")
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, name="demo-broker", daemon=True).start()
    if ready.wait(5) and not failure and _wait_listening(port):
        return port, None, f"an embedded amqtt broker on 127.0.0.1:{port}"
    why = failure[0] if failure else "it did not start within 5 s"
    return None, None, f"no MQTT broker (the embedded amqtt broker failed: {why})"


def build_demo_config(
    workdir: str,
    gauges: int,
    rate: float,
    mqtt_port: Optional[int],
    http_port: int,
    model: Optional[str],
    meters: int = 0,
    displays: int = 0,
    panels: int = 0,
) -> str:
    """Write the demo's config (JSON is YAML) and return its path."""
    from edged.config.gauge import (
        DEFAULT_DISPLAY_MODEL,
        DEFAULT_GAUGE_MODEL,
        DEFAULT_PANEL_MODEL,
        DEFAULT_POINTER_MODEL,
    )
    from edged.pipelines.gauge.scene import GaugeScene
    from edged.weights import resolve_model

    scene = GaugeScene(
        DEMO_WIDTH,
        DEMO_HEIGHT,
        gauges,
        seed=0,
        meters=meters,
        displays=displays,
        panels=panels,
    )
    config: dict = {
        "device_id": "demo",
        "sources": [
            {
                "id": "cam0",
                "kind": "synthetic",
                "scene": "gauges",
                "gauges": gauges,
                "width": DEMO_WIDTH,
                "height": DEMO_HEIGHT,
                "rate": rate,
                "period_s": 60.0,
                "meters": meters,
                "displays": displays,
                "panels": panels,
            }
        ],
        "pipelines": [
            {
                "id": "dials",
                "kind": "gauge",
                "source": "cam0",
                "model": resolve_model(model or DEFAULT_GAUGE_MODEL),
                "pointer_model": resolve_model(DEFAULT_POINTER_MODEL),
                "panel_model": resolve_model(DEFAULT_PANEL_MODEL),
                "display_model": resolve_model(DEFAULT_DISPLAY_MODEL),
                "backend": "onnxruntime",
                "gauges": [d.config() for d in [*scene.gauges, *scene.meters, *scene.displays]],
            }
        ],
        "sinks": {"http": {"host": "127.0.0.1", "port": http_port}},
    }
    if mqtt_port is not None:
        config["sinks"]["mqtt"] = {
            "host": "127.0.0.1",
            "port": mqtt_port,
            "spool": os.path.join(workdir, "spool.db"),
        }
    path = os.path.join(workdir, "demo.yaml")
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    return path


def demo_command(args: argparse.Namespace) -> int:
    from edged.daemon import run_daemon

    workdir = tempfile.mkdtemp(prefix="edged-demo-")
    port, broker, how = start_broker(args.mqtt_port, workdir)
    http_port = args.http_port if not _answers("127.0.0.1", args.http_port) else _free_port()
    path = build_demo_config(
        workdir,
        max(1, min(6, args.gauges)),
        args.rate,
        port,
        http_port,
        args.model,
        max(0, min(4, args.meters)),
        max(0, min(4, args.displays)),
        max(0, min(3, args.panels)),
    )
    lines: List[str] = [
        "edged demo: synthetic gauges and displays -> gauge pipeline (ONNX Runtime) -> MQTT + "
        "preview",
        f"  preview:  http://127.0.0.1:{http_port}/",
        f"  MQTT:     {how}",
    ]
    if port is not None:
        lines.append(
            f"  readings: mosquitto_sub -h 127.0.0.1 -p {port} -t 'edged/demo/dials/gauge/#' -v"
        )
    lines.append(f"  config:   {path}   (Ctrl-C stops)")
    print("\n".join(lines), flush=True)
    if args.duration:
        import signal

        timer = threading.Timer(args.duration, lambda: os.kill(os.getpid(), signal.SIGTERM))
        timer.daemon = True
        timer.start()
    try:
        return asyncio.run(run_daemon(path))
    except KeyboardInterrupt:
        return 0
    finally:
        if broker is not None:
            broker.terminate()
            try:
                broker.wait(timeout=5)
            except subprocess.TimeoutExpired:
                broker.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        sys.stdout.flush()
