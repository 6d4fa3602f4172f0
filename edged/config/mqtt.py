"""Config model for the MQTT sink: broker, credentials, TLS, topics, spool, Home Assistant."""

from __future__ import annotations

import re
from typing import Any, Dict, Optional

from pydantic import Field, SecretStr, field_validator, model_validator
from typing_extensions import Literal

from edged.config.base import EdgedModel
from edged.config.secrets import check_one_secret_source, resolve_secret
from edged.config.sources import ReconnectConfig

__all__ = ["HomeAssistantConfig", "MqttSinkConfig", "MqttTlsConfig"]

QoS = Literal[0, 1, 2]

# One topic level or several, without wildcards, empty levels or a leading/trailing '/'.
TOPIC_PREFIX_PATTERN = r"^[^/#+\s]+(/[^/#+\s]+)*$"
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class MqttTlsConfig(EdgedModel):
    """TLS to the broker: which CA to trust and, optionally, a client certificate."""

    ca_file: Optional[str] = Field(
        None,
        description="PEM file of the CA(s) that signed the broker's certificate; "
        "none = the system's trusted CAs",
    )
    cert_file: Optional[str] = Field(
        None, description="Client certificate (PEM), if the broker asks for one"
    )
    key_file: Optional[str] = Field(
        None, description="Private key of the client certificate (PEM), if not in cert_file"
    )
    insecure: bool = Field(
        False,
        description="Skip certificate and host name checks. For tests only: anyone on the "
        "path can then read and forge messages",
    )

    @model_validator(mode="after")
    def _key_needs_cert(self) -> MqttTlsConfig:
        if self.key_file and not self.cert_file:
            raise ValueError("key_file is set but cert_file is not; set both or neither")
        return self


class HomeAssistantConfig(EdgedModel):
    """Home Assistant MQTT discovery: every configured gauge becomes a sensor."""

    enabled: bool = Field(
        True, description="Announce gauges to Home Assistant (only when a gauge pipeline exists)"
    )
    discovery_prefix: str = Field(
        "homeassistant",
        pattern=TOPIC_PREFIX_PATTERN,
        description="Home Assistant's discovery prefix (its MQTT integration setting)",
    )


class MqttSinkConfig(EdgedModel):
    """Publish results to an MQTT broker, through an on-disk spool that loses nothing."""

    host: str = Field("127.0.0.1", min_length=1, description="Broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (usually 1883, 8883 for TLS)")
    protocol: Literal["3.1.1", "5"] = Field("3.1.1", description="MQTT protocol version")
    keepalive_s: int = Field(
        30,
        ge=2,
        le=3600,
        description="Seconds between keep-alive pings: edged notices a silently dead link "
        "within two times this, the broker (which then publishes the last will) after 1.5",
    )
    connect_timeout_s: float = Field(
        10.0, gt=0, le=300, description="Longest wait for TCP, TLS and the broker's CONNACK"
    )
    client_id: Optional[str] = Field(
        None,
        min_length=1,
        max_length=128,
        description="MQTT client id; default 'edged-<device_id>'. Must be unique on the "
        "broker, or the broker disconnects the older client in a loop",
    )
    username: Optional[str] = Field(None, description="User name for the broker")
    password: Optional[SecretStr] = Field(None, description="Password (prefer password_file)")
    password_file: Optional[str] = Field(None, description="File holding the password")
    password_env: Optional[str] = Field(None, description="Environment variable with the password")
    tls: Optional[MqttTlsConfig] = Field(None, description="Connect with TLS (none = plain TCP)")
    topic_prefix: str = Field(
        "edged",
        pattern=TOPIC_PREFIX_PATTERN,
        description="First topic level(s): topics are <topic_prefix>/<device_id>/…",
    )
    qos: QoS = Field(1, description="Default QoS. 1 and 2 go through the spool; 0 bypasses it")
    qos_by_kind: Dict[str, QoS] = Field(
        default_factory=dict,
        description="QoS per message kind, e.g. {pose: 0, gauge: 1, stats: 0}; "
        "kinds not listed use qos",
    )
    max_inflight: int = Field(
        256,
        ge=1,
        le=65000,
        description="Messages handed to the broker and not yet acknowledged (an MQTT 5 "
        "broker's Receive Maximum lowers it)",
    )
    spool: str = Field(
        "/var/lib/edged/spool.db",
        min_length=1,
        description="SQLite file that holds every message until the broker acknowledges it",
    )
    spool_max_bytes: int = Field(
        64 * 1024 * 1024,
        ge=256 * 1024,
        description="Most disk the spool takes in all (database, WAL and shared-memory file); "
        "payloads get half of it, beyond that the oldest messages are dropped (counted)",
    )
    spool_max_age_s: float = Field(
        7 * 24 * 3600.0,
        gt=0,
        description="Spooled messages older than this are dropped (counted)",
    )
    spool_sync: Literal["normal", "full"] = Field(
        "full",
        description="SQLite synchronous mode: 'full' survives power loss, 'normal' survives "
        "a crash of edged but may lose the last writes on power loss",
    )
    reconnect: ReconnectConfig = Field(
        default_factory=ReconnectConfig, description="Backoff between connection attempts"
    )
    stats_interval_s: float = Field(
        60.0, ge=0, le=86400, description="Seconds between 'stats' messages; 0 = none"
    )
    homeassistant: HomeAssistantConfig = Field(
        default_factory=HomeAssistantConfig, description="Home Assistant MQTT discovery"
    )
    queue_size: int = Field(
        1000, ge=1, description="Results buffered in memory before the oldest is dropped"
    )

    @field_validator("protocol", mode="before")
    @classmethod
    def _version_as_written(cls, value: Any) -> Any:
        """``protocol: 5`` written by hand is the number 5 in YAML: the version "5"."""
        return "5" if value == 5 and not isinstance(value, bool) else value

    @field_validator("qos_by_kind")
    @classmethod
    def _kind_names(cls, value: Dict[str, int]) -> Dict[str, int]:
        for kind in value:
            if not KIND_PATTERN.match(kind):
                raise ValueError(
                    f"{kind!r} is not a message kind; use lower-case names such as pose, "
                    "gauge, motion, stats"
                )
        if "status" in value:
            raise ValueError("the status topic is always QoS 1 and retained; remove 'status'")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> MqttSinkConfig:
        check_one_secret_source("password", self.password, self.password_file, self.password_env)
        if (self.password or self.password_file or self.password_env) and not self.username:
            raise ValueError("a password is set but no username; set username too")
        return self

    def resolved_password(self) -> Optional[str]:
        """The password from whichever of the three fields is set (reads file/env now)."""
        return resolve_secret("password", self.password, self.password_file, self.password_env)

    def qos_for(self, kind: str) -> int:
        """The QoS for messages of one kind (pose, gauge, stats, …)."""
        return int(self.qos_by_kind.get(kind, self.qos))
