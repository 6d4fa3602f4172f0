"""Home Assistant MQTT discovery: every configured gauge becomes a sensor.

Each gauge gets a retained config on ``<discovery_prefix>/sensor/<device_id>_<gauge_id>/config``
(``<device_id>_<pipeline_id>_<gauge_id>`` when two pipelines share a gauge id).
Its state is the gauge's retained reading topic, its availability is edged's
``status`` topic, and all gauges of one edged share one Home Assistant device.
Configs are sent on every connect and again when Home Assistant says ``online``
on ``<discovery_prefix>/status``. The topics announced are remembered in the
spool, so a gauge that left the config (reload or restart) is removed with an
empty retained payload, and forgotten once the broker has acknowledged that.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from edged.messages import Topics
from edged.sinks.mqtt_client import MqttConnection
from edged.sinks.outbox import Outbox

__all__ = ["Discovery", "GaugeEntity", "object_ids", "sensor_config"]

META_KEY = "homeassistant_announced"


class GaugeEntity(NamedTuple):
    """One configured gauge, as the daemon describes it."""

    pipeline_id: str
    gauge_id: str
    name: Optional[str] = None
    unit: str = ""


def object_ids(device_id: str, gauges: Iterable[GaugeEntity]) -> List[Tuple[GaugeEntity, str]]:
    """Each gauge with its discovery object id (also its ``unique_id``)."""
    gauges = list(gauges)
    counts: Dict[str, int] = {}
    for gauge in gauges:
        counts[gauge.gauge_id] = counts.get(gauge.gauge_id, 0) + 1
    return [
        (
            g,
            f"{device_id}_{g.gauge_id}"
            if counts[g.gauge_id] == 1
            else f"{device_id}_{g.pipeline_id}_{g.gauge_id}",
        )
        for g in gauges
    ]


def sensor_config(
    gauge: GaugeEntity, object_id: str, topics: Topics, version: str
) -> Dict[str, Any]:
    """The discovery payload of one gauge (Home Assistant's MQTT sensor schema)."""
    device_id = topics.device_id
    return {
        "name": gauge.name or gauge.gauge_id,
        "unique_id": object_id,
        "state_topic": topics.gauge(gauge.pipeline_id, gauge.gauge_id),
        # a null value (unreadable gauge) renders as 'None', which Home Assistant
        # shows as 'unknown' rather than as an error
        "value_template": "{{ value_json.value }}",
        "unit_of_measurement": gauge.unit,
        "state_class": "measurement",
        "json_attributes_topic": topics.gauge(gauge.pipeline_id, gauge.gauge_id),
        # ``why`` is left out of a message while null: get() makes it null here too
        "json_attributes_template": (
            "{{ {'confidence': value_json.confidence, 'quality': value_json.quality, "
            "'why': value_json.get('why'), "
            "'pipeline_id': value_json.pipeline_id, 'seq': value_json.seq} | tojson }}"
        ),
        "availability": [
            {
                "topic": topics.status,
                "value_template": "{{ value_json.state }}",
                "payload_available": "online",
                "payload_not_available": "offline",
            }
        ],
        "qos": 1,
        "device": {
            "identifiers": [f"edged_{device_id}"],
            "name": f"edged {device_id}",
            "manufacturer": "edged",
            "model": "edged edge-AI daemon",
            "sw_version": version,
        },
        "origin": {"name": "edged", "sw_version": version},
    }


class Discovery:
    """Announces and removes gauge sensors over a connection; see the module docstring."""

    def __init__(
        self,
        topics: Topics,
        gauges: Sequence[GaugeEntity],
        *,
        enabled: bool,
        version: str,
        outbox: Outbox,
        log: Optional[logging.Logger] = None,
    ):
        self.topics = topics
        self.enabled = enabled
        self.version = version
        self.outbox = outbox
        self.log = log or logging.getLogger(__name__)
        self.gauges: List[GaugeEntity] = list(gauges)
        self.announcements = 0
        self.removed = 0

    def configs(self) -> Dict[str, bytes]:
        """Discovery topic → payload for every configured gauge (none when disabled)."""
        if not self.enabled:
            return {}
        return {
            self.topics.ha_sensor_config(object_id): json.dumps(
                sensor_config(gauge, object_id, self.topics, self.version),
                separators=(",", ":"),
            ).encode("utf-8")
            for gauge, object_id in object_ids(self.topics.device_id, self.gauges)
        }

    @property
    def announced(self) -> List[str]:
        return list(self.outbox.meta.get(META_KEY, []))

    def on_connect(self, conn: MqttConnection) -> None:
        """Subscribe to Home Assistant's birth message and announce."""
        if self.enabled and self.gauges:
            conn.subscribe(self.topics.ha_status, 1)
        self.announce(conn)

    def on_message(self, topic: str, payload: bytes, conn: Optional[MqttConnection]) -> bool:
        """Re-announce when Home Assistant (re)starts; True if the message was for us."""
        if topic != self.topics.ha_status:
            return False
        if payload.strip() == b"online" and conn is not None:
            self.log.info("Home Assistant is online: announcing %d gauge(s)", len(self.gauges))
            self.announce(conn)
        return True

    def set_gauges(self, gauges: Sequence[GaugeEntity], conn: Optional[MqttConnection]) -> None:
        """The configured gauges changed (a reload): announce the new set, remove the rest."""
        self.gauges = list(gauges)
        if conn is not None:
            self.on_connect(conn)

    def announce(self, conn: MqttConnection) -> None:
        configs = self.configs()
        for topic, payload in configs.items():
            conn.publish(topic, payload, 1, True)
        if configs:
            self.announcements += 1
        announced = self.announced
        known = set(announced)
        added = [t for t in configs if t not in known]
        if added:
            self.outbox.set_meta(META_KEY, announced + added)
        for topic in announced:
            if topic not in configs:
                self.log.info("removing Home Assistant sensor %s (no longer configured)", topic)
                conn.publish(topic, b"", 1, True, lambda error, t=topic: self._removed(t, error))

    def _removed(self, topic: str, error: Optional[str]) -> None:
        if error is not None:
            self.log.warning("could not remove %s: %s", topic, error)
            return
        self.removed += 1
        self.outbox.set_meta(META_KEY, [t for t in self.announced if t != topic])

    def status(self) -> Dict[str, Any]:
        return {
            "enabled": self.enabled,
            "gauges": len(self.gauges),
            "announced": len(self.announced),
            "removed": self.removed,
        }
