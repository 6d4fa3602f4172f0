"""The MQTT sink: results become messages, go through the spool, and reach the broker.

Parts, one per module: ``edged.messages`` (models and topics), ``spool``
(SQLite), ``outbox`` (spool → broker, in order, deleted on PUBACK),
``mqtt_client`` (one paho session), ``homeassistant`` (discovery). This module
ties them together and owns the connection: connect, keep ``status`` right
(``online`` on every connect, ``offline`` as last will and on a clean stop),
reconnect with backoff, and publish periodic ``stats``.

The broker being down never stops edged: results are spooled and sent when it
is back. Wrong credentials or a TLS problem are logged as errors, shown in the
sink's status, and retried with backoff; they never crash the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from edged import __version__
from edged.backoff import Backoff
from edged.config.mqtt import MqttSinkConfig
from edged.messages import (
    OutgoingMessage,
    StatsMessage,
    StatusMessage,
    Topics,
    encode,
    messages_for_result,
)
from edged.results import Result
from edged.sinks.base import Sink
from edged.sinks.homeassistant import Discovery, GaugeEntity
from edged.sinks.mqtt_client import ClientSettings, MqttConnectError, MqttConnection
from edged.sinks.outbox import Outbox
from edged.sinks.spool import NewRow, Spool
from edged.supervise import Supervised

__all__ = ["MqttSink", "gauge_entities"]

StatusProvider = Callable[[], Dict[str, Any]]

STATUS_QOS = 1
DRAIN_TIMEOUT_S = 1.0
OFFLINE_ACK_TIMEOUT_S = 1.0


def gauge_entities(config: Any) -> List[GaugeEntity]:
    """The gauges a whole edged config defines (pipelines with a ``gauges`` list)."""
    found = []
    for pipeline in getattr(config, "pipelines", []):
        for gauge in getattr(pipeline, "gauges", None) or []:
            found.append(
                GaugeEntity(
                    pipeline.id,
                    gauge.id,
                    getattr(gauge, "name", None),
                    getattr(gauge, "unit", "") or "",
                )
            )
    return found


class MqttSink(Sink):
    """Publishes results over MQTT without losing any; see the module docstring."""

    name = "mqtt"

    def __init__(
        self,
        config: MqttSinkConfig,
        *,
        device_id: str,
        status_provider: Optional[StatusProvider] = None,
        gauges: Sequence[GaugeEntity] = (),
        version: str = __version__,
    ):
        self.queue_size = config.queue_size
        super().__init__()
        self.config = config
        self.device_id = device_id
        self.version = version
        self.topics = Topics(config.topic_prefix, device_id, config.homeassistant.discovery_prefix)
        self.client_id = config.client_id or f"edged-{device_id}"
        self._status_provider = status_provider
        self._spool_executor = ThreadPoolExecutor(1, thread_name_prefix="mqtt-spool")
        spool = Spool(
            config.spool,
            max_bytes=config.spool_max_bytes,
            max_age_s=config.spool_max_age_s,
            synchronous=config.spool_sync,
        )
        self.outbox = Outbox(
            spool, self._spool_executor, max_inflight=config.max_inflight, log=self.log
        )
        self.outbox.on_change = self._changed
        self._watchers: List[asyncio.Future] = []
        self.discovery = Discovery(
            self.topics,
            gauges,
            enabled=config.homeassistant.enabled,
            version=version,
            outbox=self.outbox,
            log=self.log,
        )
        self._conn: Optional[MqttConnection] = None
        self._connection: Optional[Supervised] = None
        self._stats_task: Optional[asyncio.Task] = None
        self._closing = False
        self._status_seqs = (1, 2)  # online, offline (will) of the current session
        self.started_mono = time.monotonic()
        self.connected_since_mono: Optional[float] = None
        self.down_since_mono: Optional[float] = self.started_mono  # None while connected
        self.connects = 0
        self.failed_attempts = 0
        self.connection_error: Optional[str] = None
        self.unserialisable = 0
        self.qos0_sent = 0
        self.qos0_dropped = 0
        self.stats_sent = 0

    @classmethod
    def for_daemon(cls, config: MqttSinkConfig, daemon: Any) -> MqttSink:
        """The sink as the daemon starts it: its device id, status and gauges."""
        return cls(
            config,
            device_id=daemon.config.device_id,
            status_provider=daemon.status,
            gauges=gauge_entities(daemon.config),
        )

    # ------------------------------------------------------------ Sink interface

    async def open(self) -> None:
        await self.outbox.open()
        self._connection = Supervised("mqtt connection", self._maintain_connection)
        self._connection.start()
        if self.config.stats_interval_s > 0:
            self._stats_task = asyncio.ensure_future(self._stats_loop())

    async def handle_batch(self, results: List[Result]) -> None:
        rows: List[NewRow] = []
        direct = 0
        for result in results:
            try:
                messages = messages_for_result(result, self.topics, self.outbox)
            except Exception as exc:
                self._unserialisable(result, exc)
                continue
            for message in messages:
                qos = self.config.qos_for(message.kind)
                if qos == 0:
                    self._publish_qos0(message)
                    direct += 1
                else:
                    rows.append(NewRow(message.topic, message.payload, qos, message.retain))
        if rows or direct:
            await self.outbox.put(rows)  # also persists the seq counters of QoS 0 topics

    async def close(self) -> None:
        self._closing = True
        if self._stats_task is not None:
            self._stats_task.cancel()
            try:
                await self._stats_task
            except asyncio.CancelledError:
                pass
        conn = self._conn
        if conn is not None and conn.connected and not conn.closed.is_set():
            if not await self.outbox.drain(DRAIN_TIMEOUT_S):
                self.log.info("%d message(s) stay spooled for the next start", self.outbox.rows)
            _, offline_seq = self._status_seqs
            payload = self._status_payload("offline", offline_seq, "shutdown")
            error = await conn.publish_wait(
                self.topics.status, payload, STATUS_QOS, True, OFFLINE_ACK_TIMEOUT_S
            )
            if error is not None:
                self.log.warning("could not publish 'offline' on shutdown: %s", error)
        if self._connection is not None:
            await self._connection.cancel()
        if conn is not None:
            await conn.close(0.5)
        self._conn = None
        await self.outbox.close()
        self._spool_executor.shutdown(wait=True)

    def status(self) -> Dict[str, Any]:
        now = time.monotonic()
        outbox = self.outbox.status()
        return {
            "connected": self._conn is not None,
            "connected_for_s": None
            if self.connected_since_mono is None
            else round(now - self.connected_since_mono, 1),
            "down_for_s": None
            if self.down_since_mono is None
            else round(now - self.down_since_mono, 1),
            "broker": f"{self.config.host}:{self.config.port}",
            "client_id": self.client_id,
            "connection_error": self.connection_error,
            "connects": self.connects,
            "failed_attempts": self.failed_attempts,
            "published": outbox["published"] + self.qos0_sent,
            "acked": outbox["acked"],
            "dropped": outbox["dropped"] + self.qos0_dropped + self.unserialisable,
            "dropped_spool_full": outbox["dropped"],
            "dropped_qos0_offline": self.qos0_dropped,
            "unserialisable": self.unserialisable,
            "ack_latency_ms": outbox.pop("ack_latency_ms"),
            "spool": outbox,
            "homeassistant": self.discovery.status(),
        }

    async def wait_for(self, predicate: Callable[[MqttSink], bool], timeout_s: float) -> bool:
        """Wait until ``predicate(self)`` holds; re-checked after every change of connection,
        spool or acknowledgements. False at the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not predicate(self):
            left = deadline - loop.time()
            if left <= 0:
                return False
            fut = loop.create_future()
            self._watchers.append(fut)
            try:
                await asyncio.wait_for(fut, left)
            except asyncio.TimeoutError:
                return predicate(self)
        return True

    def _changed(self) -> None:
        watchers, self._watchers = self._watchers, []
        for fut in watchers:
            if not fut.done():
                fut.set_result(None)

    def set_gauges(self, gauges: Iterable[GaugeEntity]) -> None:
        """The configured gauges changed: re-announce and remove the gone ones."""
        self.discovery.set_gauges(list(gauges), self._conn)

    def config_reloaded(self, config: Any) -> None:
        """A reload kept this sink running (its section did not change): follow the rest.

        Gauges that left the config are removed from Home Assistant. A new device_id
        changes every topic, so it needs the sink restarted; until then, the old one is kept.
        """
        gauges = gauge_entities(config)
        if gauges != self.discovery.gauges:
            self.set_gauges(gauges)
        device_id = getattr(config, "device_id", self.device_id)
        if device_id != self.device_id:
            self.log.warning(
                "device_id changed from %s to %s: the MQTT sink keeps the old one until it "
                "restarts",
                self.device_id,
                device_id,
            )

    # ------------------------------------------------------------ connection

    def _settings(self) -> ClientSettings:
        cfg = self.config
        online_seq = self.outbox.peek(self.topics.status)
        offline_seq = online_seq + 1  # the will follows 'online', so seqs stay in order
        self._status_seqs = (online_seq, offline_seq)
        will = self._status_payload("offline", offline_seq, "connection lost")
        return ClientSettings(
            host=cfg.host,
            port=cfg.port,
            client_id=self.client_id,
            protocol=cfg.protocol,
            keepalive_s=cfg.keepalive_s,
            connect_timeout_s=cfg.connect_timeout_s,
            username=cfg.username,
            password=cfg.resolved_password if cfg.username is not None else None,
            tls=cfg.tls,
            will=(self.topics.status, will, STATUS_QOS, True),
        )

    async def _maintain_connection(self) -> None:
        """Connect, serve the session, and after it ends back off and connect again."""
        reconnect = self.config.reconnect
        backoff = Backoff(reconnect.initial_s, reconnect.max_s, stable_s=reconnect.stable_s)
        while not self._closing:
            conn = MqttConnection(self._settings(), self._on_message, self.log)
            try:
                await conn.open()
            except MqttConnectError as exc:
                self._connect_failed(exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.succeeded()
            try:
                await self._session(conn)
            finally:
                self._conn = None
                self.connected_since_mono = None
                self.down_since_mono = time.monotonic()
                if not self._closing:
                    self.connection_error = f"connection lost: {conn.close_reason}"
                self.outbox.detach()  # also signals the change
            if self._closing:
                return
            self.log.warning(
                "lost the connection to %s (%s); spooling until it is back",
                conn.settings.broker,
                conn.close_reason,
            )
            await conn.close()
            await asyncio.sleep(backoff.next_delay())

    async def _session(self, conn: MqttConnection) -> None:
        self.connects += 1
        self.log.info(
            "connected to %s as %s%s; %d message(s) spooled",
            conn.settings.broker,
            self.client_id,
            f" after {self.failed_attempts} failed attempt(s)" if self.failed_attempts else "",
            self.outbox.rows,
        )
        self.failed_attempts = 0
        self.connection_error = None
        online_seq, _ = self._status_seqs
        self.outbox.advance(self.topics.status, 2)  # 'online' now, 'offline' later
        await self.outbox.flush()
        if conn.closed.is_set():
            return
        conn.publish(self.topics.status, self._status_payload("online", online_seq), 1, True)
        self._conn = conn
        self.connected_since_mono = time.monotonic()
        self.down_since_mono = None
        self.discovery.on_connect(conn)
        self.outbox.attach(conn)
        self._changed()
        await conn.closed.wait()

    def _connect_failed(self, exc: MqttConnectError) -> None:
        self.failed_attempts += 1
        reason = str(exc)
        if reason != self.connection_error:
            level = logging.ERROR if exc.config_problem else logging.WARNING
            self.log.log(
                level,
                "cannot connect: %s; retrying with backoff, results are spooled meanwhile",
                reason,
            )
        else:
            self.log.debug("connect attempt %d failed: %s", self.failed_attempts, reason)
        self.connection_error = reason
        self._changed()

    def _on_message(self, topic: str, payload: bytes) -> None:
        self.discovery.on_message(topic, payload, self._conn)

    # ------------------------------------------------------------ messages

    def _publish_qos0(self, message: OutgoingMessage) -> None:
        conn = self._conn
        if conn is not None and conn.publish(message.topic, message.payload, 0, message.retain):
            self.qos0_sent += 1
        else:
            self.qos0_dropped += 1

    def _unserialisable(self, result: Result, exc: Exception) -> None:
        self.unserialisable += 1
        if self.unserialisable == 1 or self.unserialisable % 1000 == 0:
            text = str(exc).replace("\n", " ")
            self.log.warning(
                "dropped a %s result of pipeline %s that does not fit its message "
                "(%d so far): %s: %.300s",
                result.kind,
                result.pipeline_id,
                self.unserialisable,
                type(exc).__name__,
                text,
            )

    def _daemon_status(self) -> Dict[str, Any]:
        if self._status_provider is None:
            return {}
        try:
            return self._status_provider()
        except Exception:
            self.log.exception("the status provider failed")
            return {}

    def _uptime_s(self, info: Dict[str, Any]) -> float:
        uptime = info.get("uptime_s")
        if isinstance(uptime, (int, float)):
            return float(uptime)
        return round(time.monotonic() - self.started_mono, 1)

    def _status_payload(self, state: str, seq: int, reason: Optional[str] = None) -> bytes:
        info = self._daemon_status() if state == "online" else {}
        sources = [
            {"id": s.get("id"), "state": s.get("state")}
            for s in info.get("sources", [])
            if isinstance(s, dict)
        ]
        message = StatusMessage(
            device_id=self.device_id,
            seq=seq,
            ts=round(time.time(), 6),
            state=state,
            reason=reason,
            version=self.version,
            uptime_s=self._uptime_s(info) if state == "online" else None,
            sources=sources,
        )
        return encode(message)

    async def publish_stats(self) -> None:
        """Publish one ``stats`` message now (the stats loop calls this periodically)."""
        info = self._daemon_status()
        topic = self.topics.stats
        message = StatsMessage(
            device_id=self.device_id,
            seq=self.outbox.peek(topic),
            ts=round(time.time(), 6),
            interval_s=self.config.stats_interval_s or 1.0,
            uptime_s=self._uptime_s(info),
            sources=info.get("sources", []),
            pipelines=info.get("pipelines", []),
            sinks=info.get("sinks", [self.base_status()]),
        )
        payload = encode(message)
        self.outbox.advance(topic)
        qos = self.config.qos_for("stats")
        if qos == 0:
            self._publish_qos0(OutgoingMessage(topic, payload, "stats", False, None))
            await self.outbox.flush()
        else:
            await self.outbox.put([NewRow(topic, payload, qos, False)])
        self.stats_sent += 1

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.stats_interval_s)
            try:
                await self.publish_stats()
            except Exception:
                self.log.exception("could not publish stats")
