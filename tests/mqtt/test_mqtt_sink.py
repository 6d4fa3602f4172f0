"""The MQTT sink in-process against a real Mosquitto: messages, outages, failures, status."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any, List

import pytest
from mqttkit import (
    Proxy,
    Subscriber,
    assert_no_gap,
    fill_spool_disk,
    free_spool_disk,
    load_schema,
)

from edged.bus import ResultBus
from edged.sinks.homeassistant import GaugeEntity
from edged.sinks.mqtt import MqttSink

jsonschema = pytest.importorskip("jsonschema")

DEVICE = "dev1"
BASE = f"edged/{DEVICE}"
STATUS = f"{BASE}/status"
POSE = f"{BASE}/people/pose"
STEAM = f"{BASE}/boiler/gauge/steam"
WATER = f"{BASE}/boiler/gauge/water"
GAUGES = [
    GaugeEntity("boiler", "steam", "Steam pressure", "bar"),
    GaugeEntity("boiler", "water", None, "bar"),
]


class Running:
    """A started sink on its own bus."""

    def __init__(self, sink: MqttSink):
        self.sink = sink
        self.bus = ResultBus()

    async def __aenter__(self) -> Running:
        await self.sink.start(self.bus)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.sink.stop()

    def publish(self, results: List[Any]) -> None:
        for r in results:
            self.bus.publish(r)

    async def connected(self, timeout_s: float = 5.0) -> None:
        ok = await self.sink.wait_for(lambda s: s.status()["connected"], timeout_s)
        assert ok, self.sink.status()

    async def spool_empty(self, timeout_s: float = 10.0) -> None:
        ok = await self.sink.wait_for(
            lambda s: s.outbox.rows == 0 and s.outbox.idle and s.handled_all(), timeout_s
        )
        assert ok, self.sink.status()


def make_sink(config: Any, **kw: Any) -> MqttSink:
    sink = MqttSink(config, device_id=DEVICE, **kw)
    sink.handled_all = lambda: sink._sub is not None and sink._sub.depth == 0  # type: ignore
    return sink


def validator(name: str) -> Any:
    return jsonschema.Draft202012Validator(load_schema(name))


async def test_subscriber_gets_messages_that_match_the_committed_schemas(
    broker, sink_config, results
):
    sub = Subscriber(broker.port, [f"{BASE}/#"]).start()
    try:
        async with Running(make_sink(sink_config(broker.port), gauges=GAUGES)) as run:
            await run.connected()
            run.publish([results.pose(i) for i in range(1, 4)])
            run.publish([results.gauge(1, ["steam", "water"])])
            motion = {"motion": False, "motion_fraction": 0.0, "brightness": 10.0}
            run.publish([results.make("motion", motion, 1, "m0")])
            await run.sink.publish_stats()
            await sub.until(
                lambda s: (
                    s.count_on(POSE) == 3
                    and s.count_on(STEAM) == 1
                    and s.count_on(WATER) == 1
                    and s.count_on(f"{BASE}/m0/motion") == 1
                    and s.count_on(f"{BASE}/stats") == 1
                ),
                5,
            )
        await sub.until(lambda s: len(s.json_on(STATUS)) >= 2, 5)
    finally:
        sub.stop()
    for message in sub.json_on(POSE):
        validator("edged.pose-1.json").validate(message)
    for message in sub.json_on(STEAM) + sub.json_on(WATER):
        validator("edged.gauge-1.json").validate(message)
    validator("edged.motion-1.json").validate(sub.json_on(f"{BASE}/m0/motion")[0])
    stats = sub.json_on(f"{BASE}/stats")[0]
    validator("edged.stats-1.json").validate(stats)
    assert stats["sinks"][0]["name"] == "mqtt"
    online, offline = sub.json_on(STATUS)[-2:]
    for message in (online, offline):
        validator("edged.status-1.json").validate(message)
    assert online["state"] == "online" and offline["state"] == "offline"
    assert offline["reason"] == "shutdown" and offline["seq"] == online["seq"] + 1
    assert sub.seqs_on(POSE) == [1, 2, 3]


async def test_broker_outage_loses_nothing(broker, sink_config, results):
    """1,000 messages, the broker stopped for seconds mid-stream: all arrive, per topic in order
    and without a gap, to a subscriber with a persistent session.

    The subscriber goes away before the outage and comes back only after edged has
    delivered everything, so what it gets after the restart was kept for it by the
    broker's persistence: nothing depends on it being connected at the right moment.
    """
    sub = Subscriber(broker.port, [f"{BASE}/#"], client_id="outage-sub", persistent=True).start()
    config = sink_config(broker.port, queue_size=5000, homeassistant={"enabled": False})
    produced = {POSE: 0, STEAM: 0, WATER: 0}

    def produce(run: Running, frames: range) -> None:
        batch = []
        for i in frames:  # one message per frame: pose, steam, water, pose, …
            if i % 3 == 0:
                batch.append(results.pose(i))
                produced[POSE] += 1
            else:
                gauge = "steam" if i % 3 == 1 else "water"
                batch.append(results.gauge(i, [gauge]))
                produced[STEAM if gauge == "steam" else WATER] += 1
        run.publish(batch)

    async def paced(run: Running, frames: range, seconds: float) -> None:
        steps = 20
        chunk = max(1, len(frames) // steps)
        for start in range(frames.start, frames.stop, chunk):
            produce(run, range(start, min(start + chunk, frames.stop)))
            await asyncio.sleep(seconds / steps)  # a camera's pace, not a wait for an event

    async with Running(make_sink(config)) as run:
        await run.connected()
        await paced(run, range(0, 300), 0.5)
        assert await sub.until(lambda s: s.count_on(POSE) >= 50, 5)
        sub.stop()  # its session stays on the broker
        broker.stop()  # mid-stream: some of the first 300 are still in flight
        await paced(run, range(300, 700), 3.0)  # 400 more, while the broker is away
        status = run.sink.status()
        assert not status["connected"] and status["spool"]["depth"] > 0
        assert "connection" in status["connection_error"]
        broker.start()
        await paced(run, range(700, 1000), 0.5)
        assert sum(produced.values()) == 1000
        await run.spool_empty(20)  # every message acknowledged by the broker
        status = run.sink.status()
    back = Subscriber(broker.port, [f"{BASE}/#"], client_id="outage-sub", persistent=True)
    back.start()
    try:
        ok = await back.until(
            lambda s: all(
                len(set(sub.seqs_on(t) + s.seqs_on(t))) >= n for t, n in produced.items()
            ),
            10,
        )
    finally:
        back.stop()
    got = {t: sub.seqs_on(t) + back.seqs_on(t) for t in produced}
    assert ok, {t: len(set(seqs)) for t, seqs in got.items()}
    for topic, count in produced.items():
        assert_no_gap(got[topic], count)
    replayed = [m for t in produced for m in back.json_on(t) if m.get("replayed")]
    assert len(replayed) >= 400
    assert status["acked"] >= 1000 and status["dropped"] == 0 and status["connects"] == 2


async def test_network_cut_messages_sent_into_the_void_are_sent_again(broker, sink_config, results):
    """The link dies without a FIN or RST: paho 'sends' into the void, no PUBACK comes. The
    keep-alive notices, the will says offline, and after the link is back every message
    arrives, in order, without a gap."""
    proxy = Proxy(broker.port)
    sub = Subscriber(broker.port, [f"{BASE}/#"]).start()
    config = sink_config(proxy.port, keepalive_s=2, connect_timeout_s=1)
    try:
        async with Running(make_sink(config)) as run:
            await run.connected()
            run.publish([results.pose(i) for i in range(0, 100)])
            assert await sub.until(lambda s: s.count_on(POSE) == 100, 5)
            proxy.cut()
            run.publish([results.pose(i) for i in range(100, 200)])
            assert await run.sink.wait_for(lambda s: s.outbox.rows == 100, 5)
            assert await run.sink.wait_for(lambda s: not s.status()["connected"], 10)
            assert run.sink.status()["connection_error"].startswith("connection lost")
            assert await sub.until(lambda s: s.json_on(STATUS)[-1]["state"] == "offline", 5)
            proxy.heal()
            run.publish([results.pose(i) for i in range(200, 300)])
            assert await sub.until(lambda s: len(set(s.seqs_on(POSE))) == 300, 15)
            await run.spool_empty()
    finally:
        sub.stop()
        proxy.close()
    assert_no_gap(sub.seqs_on(POSE), 300)
    assert [m["state"] for m in sub.json_on(STATUS)][:3] == ["online", "offline", "online"]
    assert sub.json_on(STATUS)[1]["reason"] == "connection lost"
    assert all(m.get("replayed") for m in sub.json_on(POSE) if 100 < m["seq"] <= 200)


async def test_broker_down_at_start_spools_then_delivers(make_broker, sink_config, results):
    broker = make_broker()
    async with Running(make_sink(sink_config(broker.port))) as run:
        ok = await run.sink.wait_for(lambda s: s.failed_attempts >= 2, 5)
        assert ok
        status = run.sink.status()
        assert not status["connected"]
        assert "connection refused" in status["connection_error"]
        run.publish([results.pose(i) for i in range(1, 51)])
        assert await run.sink.wait_for(lambda s: s.outbox.rows == 50, 5)
        broker.start()
        sub = Subscriber(broker.port, [f"{BASE}/#"]).start()
        try:
            await run.connected(10)
            assert await sub.until(lambda s: len(set(s.seqs_on(POSE))) == 50, 10)
        finally:
            sub.stop()
        await run.spool_empty()
    assert_no_gap(sub.seqs_on(POSE), 50)
    assert all(m.get("replayed") for m in sub.json_on(POSE))
    online = sub.json_on(STATUS)
    assert online and online[0]["state"] == "online"


async def test_wrong_password_is_a_clear_error_and_is_retried(
    make_broker, sink_config, results, caplog
):
    broker = make_broker(users={"edged": "right"})
    broker.start()
    config = sink_config(broker.port, username="edged", password="wrong")
    async with Running(make_sink(config)) as run:
        assert await run.sink.wait_for(lambda s: s.failed_attempts >= 3, 5)
        run.publish([results.pose(1)])
        assert await run.sink.wait_for(lambda s: s.outbox.rows == 1, 5)
        status = run.sink.status()
    assert not status["connected"]
    error = status["connection_error"]
    assert "refused the connection" in error and "username and password" in error
    assert "Not authorized" in error or "Bad user name or password" in error
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "cannot connect" in r.message]
    assert len(errors) == 1, "the same error is logged once, not once per retry"


async def test_password_from_a_file_connects(make_broker, sink_config, results, tmp_path):
    broker = make_broker(users={"edged": "right"})
    broker.start()
    secret = tmp_path / "mqtt-password"
    secret.write_text("right\n")
    config = sink_config(broker.port, username="edged", password_file=str(secret), protocol="5")
    sub = Subscriber(broker.port, [f"{BASE}/#"], username="edged", password="right").start()
    try:
        async with Running(make_sink(config)) as run:
            await run.connected()
            run.publish([results.pose(1)])
            assert await sub.until(lambda s: s.count_on(POSE) == 1, 5)
    finally:
        sub.stop()


async def test_tls_with_the_test_ca(make_broker, sink_config, results, certs):
    broker = make_broker(tls=certs)
    broker.start()
    config = sink_config(broker.tls_port, tls={"ca_file": str(certs["ca"])})
    sub = Subscriber(broker.port, [f"{BASE}/#"]).start()  # plain listener of the same broker
    try:
        async with Running(make_sink(config)) as run:
            await run.connected()
            assert run.sink.status()["connection_error"] is None
            run.publish([results.pose(1)])
            assert await sub.until(lambda s: s.count_on(POSE) == 1, 5)
    finally:
        sub.stop()


@pytest.mark.parametrize(
    "tls,expect",
    [
        ({}, "certificate check failed"),  # the system CAs do not know the test CA
        ({"ca_file": "MISSING"}, "cannot load ca_file"),
    ],
)
async def test_tls_failure_names_the_cause(make_broker, sink_config, certs, tmp_path, tls, expect):
    broker = make_broker(tls=certs)
    broker.start()
    tls = {k: str(tmp_path / v) for k, v in tls.items()}
    config = sink_config(broker.tls_port, tls=tls)
    async with Running(make_sink(config)) as run:
        assert await run.sink.wait_for(lambda s: s.failed_attempts >= 2, 5)
        error = run.sink.status()["connection_error"]
    assert expect in error, error


async def test_plain_client_on_the_tls_port_says_so(make_broker, sink_config, certs):
    broker = make_broker(tls=certs)
    broker.start()
    async with Running(make_sink(sink_config(broker.tls_port))) as run:
        assert await run.sink.wait_for(lambda s: s.failed_attempts >= 1, 5)
        error = run.sink.status()["connection_error"]
    assert "closed the connection before accepting it" in error or "no answer" in error, error


async def test_a_result_that_cannot_be_serialised_is_dropped_and_counted(
    broker, sink_config, results, caplog
):
    sub = Subscriber(broker.port, [f"{BASE}/#"]).start()
    try:
        async with Running(make_sink(sink_config(broker.port))) as run:
            await run.connected()
            bad = results.make("pose", {"persons": [{"score": float("nan")}]}, 2, "people")
            run.publish([results.pose(1), bad, results.pose(3)])
            assert await sub.until(lambda s: s.count_on(POSE) == 2, 5)
            status = run.sink.status()
    finally:
        sub.stop()
    assert status["unserialisable"] == 1 and status["dropped"] == 1
    assert sub.seqs_on(POSE) == [1, 2]  # no seq was spent on the bad one
    assert "pipeline people" in caplog.text


async def test_qos0_kinds_bypass_the_spool(broker, sink_config, results):
    sub = Subscriber(broker.port, [f"{BASE}/#"]).start()
    config = sink_config(broker.port, qos_by_kind={"pose": 0})
    try:
        async with Running(make_sink(config)) as run:
            await run.connected()
            run.publish([results.pose(i) for i in range(1, 11)])
            assert await sub.until(lambda s: s.count_on(POSE) == 10, 5)
            status = run.sink.status()
    finally:
        sub.stop()
    assert status["spool"]["published"] == 0 and status["published"] == 10


async def test_seq_continues_across_restarts(broker, sink_config, results):
    sub = Subscriber(broker.port, [f"{BASE}/#"]).start()
    config = sink_config(broker.port)
    try:
        for start in (1, 4):
            async with Running(make_sink(config)) as run:
                await run.connected()
                run.publish([results.pose(i) for i in range(start, start + 3)])
                assert await sub.until(lambda s, n=start + 2: s.count_on(POSE) == n, 5)
    finally:
        sub.stop()
    assert sub.seqs_on(POSE) == [1, 2, 3, 4, 5, 6]
    statuses = sub.json_on(STATUS)
    assert [m["state"] for m in statuses] == ["online", "offline", "online", "offline"]
    assert [m["seq"] for m in statuses] == [1, 2, 3, 4]


async def test_status_reports_spool_counters_and_latency(broker, sink_config, results):
    async with Running(make_sink(sink_config(broker.port))) as run:
        await run.connected()
        run.publish([results.pose(i) for i in range(1, 101)])
        await run.spool_empty()
        status = run.sink.status()
    assert status["connected"] and status["client_id"] == "edged-dev1"
    assert status["published"] == 100 and status["acked"] == 100
    assert status["spool"]["depth"] == 0 and status["spool"]["oldest_age_s"] is None
    latency = status["ack_latency_ms"]
    assert latency["samples"] == 100 and 0 < latency["p50"] <= latency["p99"]
    assert json.dumps(status)


async def test_periodic_stats(broker, sink_config):
    sub = Subscriber(broker.port, [f"{BASE}/stats"]).start()
    try:
        async with Running(make_sink(sink_config(broker.port, stats_interval_s=0.1))) as run:
            await run.connected()
            assert await sub.until(lambda s: s.count_on(f"{BASE}/stats") >= 3, 5)
    finally:
        sub.stop()
    stats = sub.json_on(f"{BASE}/stats")
    assert [m["seq"] for m in stats[:3]] == [1, 2, 3]
    assert stats[0]["interval_s"] == 0.1


async def test_a_corrupt_spool_is_moved_aside_and_the_sink_runs(
    broker, sink_config, results, tmp_path
):
    config = sink_config(broker.port)
    Path(config.spool).write_bytes(b"garbage" * 1000)
    sub = Subscriber(broker.port, [f"{BASE}/#"]).start()
    try:
        async with Running(make_sink(config)) as run:
            await run.connected()
            run.publish([results.pose(1)])
            assert await sub.until(lambda s: s.count_on(POSE) == 1, 5)
            moved = run.sink.status()["spool"]["moved_aside"]
    finally:
        sub.stop()
    assert moved and Path(moved).read_bytes().startswith(b"garbage")


async def test_stop_while_the_broker_never_answers_is_quick_and_leaves_no_thread(
    broker, sink_config
):
    proxy = Proxy(broker.port)
    proxy.cut()  # TCP connects, but no CONNACK ever comes back
    try:
        config = sink_config(proxy.port, connect_timeout_s=30)
        sink = make_sink(config)
        await sink.start(ResultBus())
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, proxy.accepted.wait, 5)  # now awaiting CONNACK
        started = loop.time()
        await sink.stop()
        assert loop.time() - started < 2.0
    finally:
        proxy.close()
    for thread in threading.enumerate():
        if thread.name.startswith("paho-mqtt-client-edged-dev1"):
            thread.join(5)
            assert not thread.is_alive(), "paho's thread outlived the sink"


async def _on_spool(sink: MqttSink, action: Any) -> None:
    """Run ``action`` on the sink's spool connection, on the spool's own thread."""
    db = sink.outbox.spool._db
    await asyncio.get_running_loop().run_in_executor(sink._spool_executor, action, db)


async def test_a_full_spool_disk_sends_live_and_recovers_when_space_returns(
    broker, sink_config, results
):
    sub = Subscriber(broker.port, [f"{BASE}/#"]).start()
    config = sink_config(broker.port, homeassistant={"enabled": False})
    try:
        async with Running(make_sink(config)) as run:
            await run.connected()
            await _on_spool(run.sink, fill_spool_disk)
            run.publish([results.pose(i) for i in range(1, 201)])
            assert await sub.until(lambda s: s.count_on(POSE) >= 200, 10), sub.count_on(POSE)
            spool = run.sink.status()["spool"]
            # (not "writable is False" now: rows acknowledged meanwhile free pages that later
            # commits may reuse, so the flag can already be back; the errors stay counted)
            assert spool["write_errors"] > 0 and "full" in spool["last_write_error"]
            await _on_spool(run.sink, free_spool_disk)
            run.publish([results.pose(i) for i in range(201, 401)])
            # delivered means committed first: the spool was written again by then (waiting
            # for an empty spool alone can return before the new messages reach it)
            assert await sub.until(lambda s: s.count_on(POSE) >= 400, 10), sub.count_on(POSE)
            await run.spool_empty()
            spool = run.sink.status()["spool"]
    finally:
        sub.stop()
    assert spool["writable"] is True
    assert_no_gap(sub.seqs_on(POSE), 400)


async def test_a_message_the_broker_drops_the_link_over_is_dead_lettered_and_the_rest_flows(
    make_broker, sink_config, results
):
    """Mosquitto with max_packet_size 1000 closes an MQTT 3.1.1 link on a bigger message:
    after a few tries it goes to the dead-letter table and everything behind it arrives."""
    broker = make_broker(settings=["max_packet_size 1000"])
    broker.start()
    sub = Subscriber(broker.port, [f"{BASE}/#"]).start()
    config = sink_config(broker.port, homeassistant={"enabled": False})
    person = {"score": 0.9, "keypoints": {f"k{i}": [1.5, 2.5, 0.5] for i in range(60)}}
    big = results.make("pose", {"persons": [person]}, 3, "people")
    try:
        async with Running(make_sink(config)) as run:
            await run.connected()
            run.publish([results.pose(1), results.pose(2), big])
            run.publish([results.pose(i) for i in range(4, 11)])
            assert await sub.until(lambda s: s.count_on(POSE) >= 9, 20), sub.seqs_on(POSE)
            await run.spool_empty()
            status = run.sink.status()
            kept = await asyncio.get_running_loop().run_in_executor(
                run.sink._spool_executor, run.sink.outbox.spool.dead_letters
            )
    finally:
        sub.stop()
    assert sorted(set(sub.seqs_on(POSE))) == [1, 2, 4, 5, 6, 7, 8, 9, 10]
    assert status["spool"]["dead_lettered"] == 1 and status["spool"]["dead_lettered_total"] == 1
    assert kept == 1


async def test_messages_sent_beside_oversized_ones_are_never_given_up_on(
    make_broker, sink_config, results
):
    """One oversized message in every 17 while the stream flows: the broker drops the link
    over each, before it acknowledges the messages it read just ahead of it. Only the
    oversized ones may go to the dead-letter table; the rest all arrive."""
    broker = make_broker(settings=["max_packet_size 1000"])
    broker.start()
    sub = Subscriber(broker.port, [f"{BASE}/#"]).start()
    config = sink_config(broker.port, homeassistant={"enabled": False})
    person = {"score": 0.9, "keypoints": {f"k{i}": [1.5, 2.5, 0.5] for i in range(60)}}
    big, small, seq = [], [], 1
    try:
        async with Running(make_sink(config)) as run:
            await run.connected()
            for burst in range(12):
                batch = [results.pose(seq + i) for i in range(8)]
                small += range(seq, seq + 8)
                seq += 8
                if burst % 2 == 0:
                    batch.append(results.make("pose", {"persons": [person]}, seq, "people"))
                    big.append(seq)
                    seq += 1
                run.publish(batch)
                await asyncio.sleep(0.15)
            assert await sub.until(lambda s: s.count_on(POSE) >= len(small), 30), len(small)
            await run.spool_empty(30)
            status = run.sink.status()
    finally:
        sub.stop()
    assert sorted(set(sub.seqs_on(POSE))) == small
    assert status["spool"]["dead_lettered"] == len(big)
