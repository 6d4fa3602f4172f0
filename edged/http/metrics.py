"""Prometheus metrics: one registry per app, read from the daemon at scrape time.

Counters and gauges come from ``daemon.status()`` through a custom collector,
so a scrape always reflects the parts running now (a reload needs no
re-registration). Latency histograms need every observation, so they are fed
from the result bus by the HTTP sink.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, Mapping, Optional

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from edged.http.view import DaemonView
from edged.results import Result

__all__ = ["LATENCY_BUCKETS_S", "SINK_FIELDS", "DaemonCollector", "HttpMetrics"]

LATENCY_BUCKETS_S = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip

#: Optional fields of a sink's status() exported per sink: field -> (metric, type, help).
#: The MQTT sink reports these (its nested ``spool`` dict is flattened to ``spool_*``);
#: a sink without a field simply has no sample.
SINK_FIELDS = {
    "connected": ("edged_sink_connected", "gauge", "1 while the sink is connected (MQTT broker)"),
    "connects": ("edged_sink_connects", "counter", "Successful connections (MQTT broker)"),
    "published": ("edged_sink_published", "counter", "Messages handed to the broker"),
    "acked": ("edged_sink_acked", "counter", "Messages the broker acknowledged"),
    "dropped": ("edged_sink_dropped_messages", "counter", "Messages given up (all reasons)"),
    "dropped_spool_full": (
        "edged_sink_spool_dropped",
        "counter",
        "Spooled messages dropped because the spool was full",
    ),
    "spool_depth": ("edged_sink_spool_depth", "gauge", "Messages waiting in the on-disk spool"),
    "spool_bytes": ("edged_sink_spool_bytes", "gauge", "Bytes waiting in the on-disk spool"),
    "spool_writable": (
        "edged_sink_spool_writable",
        "gauge",
        "0 while the spool cannot be written (messages go out without it)",
    ),
    "spool_write_errors": (
        "edged_sink_spool_write_errors",
        "counter",
        "Messages that could not be written to the spool",
    ),
    "spool_dead_lettered": (
        "edged_sink_spool_dead_lettered",
        "counter",
        "Messages given up on and kept in the spool's dead-letter table",
    ),
    "spool_oldest_age_s": (
        "edged_sink_spool_oldest_age_seconds",
        "gauge",
        "Age of the oldest message waiting in the spool",
    ),
}


class DaemonCollector:
    """Turns one ``daemon.status()`` into metric families (runs on the loop, per scrape)."""

    def __init__(self, view: DaemonView, extra: Optional[Callable[[], Iterator[Metric]]] = None):
        self._view = view
        self._extra = extra

    def collect(self) -> Iterator[Metric]:
        status = self._view.status()
        info = GaugeMetricFamily(
            "edged_info", "edged version and device id", labels=["version", "device_id"]
        )
        info.add_metric([str(status.get("version")), str(status.get("device_id"))], 1)
        yield info
        yield GaugeMetricFamily(
            "edged_uptime_seconds", "Seconds since the daemon started", status.get("uptime_s", 0)
        )
        yield from _sources(status.get("sources", []))
        yield from _pipelines(status.get("pipelines", []))
        yield from _sinks(status.get("sinks", []))
        failed = GaugeMetricFamily(
            "edged_part_failed", "1 for each part that failed to start", labels=["part", "id"]
        )
        for entry in status.get("failed", []):
            failed.add_metric([entry["part"], entry["id"]], 1)
        yield failed
        if self._extra is not None:
            yield from self._extra()


def _family(kind: str, name: str, doc: str, labels: Any) -> Metric:
    cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    return cls(name, doc, labels=labels)


def _table(rows: Any, id_key: str, spec: Any) -> Iterator[Metric]:
    """One family per (status field, metric) in ``spec``, one sample per row that has it."""
    for field, (name, kind, doc) in spec.items():
        family = _family(kind, name, doc, [id_key])
        for row in rows:
            value = row.get(field)
            if isinstance(value, bool):
                value = int(value)
            if isinstance(value, (int, float)):
                family.add_metric([str(row.get("id", row.get("name")))], float(value))
        yield family


def _sources(rows: Any) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "edged_source_up", "1 while the source is streaming", labels=["source_id", "kind"]
    )
    for row in rows:
        up.add_metric([row["id"], str(row.get("kind"))], 1 if row["state"] == "streaming" else 0)
    yield up
    yield from _table(
        rows,
        "source_id",
        {
            "frames": ("edged_source_frames", "counter", "Frames captured"),
            "dropped": (
                "edged_source_dropped_frames",
                "counter",
                "Frames replaced in the latest-frame slot before a pipeline took them",
            ),
            "throttled": (
                "edged_source_throttled_frames",
                "counter",
                "Frames skipped by the source's fps cap",
            ),
            "reconnects": ("edged_source_reconnects", "counter", "Reconnects after failures"),
            "fps": ("edged_source_fps", "gauge", "Frames per second over the last seconds"),
            "frame_age_s": (
                "edged_source_frame_age_seconds",
                "gauge",
                "Age of the newest frame (monotonic clock)",
            ),
        },
    )


def _pipelines(rows: Any) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "edged_pipeline_up", "1 while the pipeline is running", labels=["pipeline_id", "kind"]
    )
    for row in rows:
        up.add_metric([row["id"], str(row.get("kind"))], 1 if row["state"] == "running" else 0)
    yield up
    yield from _table(
        rows,
        "pipeline_id",
        {
            "processed": ("edged_pipeline_processed_frames", "counter", "Frames processed"),
            "errors": ("edged_pipeline_errors", "counter", "Frames whose processing raised"),
            "skipped_frames": (
                "edged_pipeline_skipped_frames",
                "counter",
                "Source frames this pipeline never saw (it was busy)",
            ),
            "restarts": ("edged_pipeline_restarts", "counter", "Restarts after a crash"),
        },
    )


def _flat_sink(row: Mapping[str, Any]) -> Dict[str, Any]:
    flat = dict(row, id=row.get("name"))
    spool = row.get("spool")
    if isinstance(spool, Mapping):
        for key in ("depth", "bytes", "oldest_age_s"):
            flat.setdefault(f"spool_{key}", spool.get(key))
    return flat


def _sinks(rows: Any) -> Iterator[Metric]:
    named = [_flat_sink(row) for row in rows]
    spec: Dict[str, Any] = {
        "handled": ("edged_sink_handled_results", "counter", "Results the sink has handled"),
        "queue_depth": ("edged_sink_queue_depth", "gauge", "Results waiting for the sink"),
        "queue_dropped": (
            "edged_sink_queue_dropped_results",
            "counter",
            "Results dropped because the sink fell behind",
        ),
        "restarts": ("edged_sink_restarts", "counter", "Restarts of the sink's task"),
    }
    spec.update(SINK_FIELDS)
    yield from _table(named, "sink", spec)


class HttpMetrics:
    """The app's registry: the daemon collector, the HTTP side, and latency histograms."""

    def __init__(
        self, view: DaemonView, http_stats: Callable[[], Mapping[str, float]] = lambda: {}
    ):
        self.registry = CollectorRegistry(auto_describe=False)
        self._http_stats = http_stats
        self.stage_seconds = Histogram(
            "edged_pipeline_stage_seconds",
            "Time per pipeline stage (preprocess, infer, postprocess) per frame",
            ["pipeline_id", "stage"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.latency_seconds = Histogram(
            "edged_pipeline_latency_seconds",
            "Time from a frame entering a pipeline to its result (all stages)",
            ["pipeline_id"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.registry.register(DaemonCollector(view, self._http))

    def observe(self, result: Result) -> None:
        """Record one result's stage timings (called for every result on the bus)."""
        total = 0.0
        for stage, ms in result.timings_ms.items():
            self.stage_seconds.labels(result.pipeline_id, stage).observe(ms / 1000.0)
            total += ms
        if result.timings_ms:
            self.latency_seconds.labels(result.pipeline_id).observe(total / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def _http(self) -> Iterator[Metric]:
        stats = self._http_stats()
        yield CounterMetricFamily(
            "edged_http_jpeg_encodes",
            "Preview JPEG encodes (one per new frame of a watched stream, whatever the viewers)",
            stats.get("encodes", 0),
        )
        yield CounterMetricFamily(
            "edged_http_jpeg_encode_seconds",
            "CPU time spent in JPEG encodes",
            stats.get("encode_seconds", 0.0),
        )
        yield GaugeMetricFamily(
            "edged_http_stream_viewers", "Open MJPEG streams", stats.get("viewers", 0)
        )
        yield CounterMetricFamily(
            "edged_http_viewers_dropped",
            "MJPEG viewers disconnected because a write timed out",
            stats.get("dropped_slow", 0),
        )
        yield CounterMetricFamily(
            "edged_http_uploads", "Try-it images processed", stats.get("uploads", 0)
        )
