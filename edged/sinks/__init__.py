"""Result sinks, one per configured section of ``sinks``."""

from __future__ import annotations

from typing import Any

from edged.sinks.base import Sink

__all__ = ["Sink", "create_sink"]


def create_sink(name: str, section: Any, daemon: Any = None) -> Sink:
    """The Sink for one section of the ``sinks`` config (e.g. 'jsonl').

    ``daemon`` is the running Daemon, for sinks that show more than results
    (the HTTP sink reads its status, source slots and pipelines).
    """
    if name == "jsonl":
        from edged.sinks.jsonl import JsonlSink

        return JsonlSink(section)
    if name == "http":
        from edged.sinks.http import HttpSink

        return HttpSink(section, daemon)
    if name == "mqtt":
        from edged.sinks.mqtt import MqttSink

        if daemon is None:
            raise ValueError("the mqtt sink needs the daemon (its device_id and status)")
        return MqttSink.for_daemon(section, daemon)
    raise ValueError(f"no sink named {name!r}")
