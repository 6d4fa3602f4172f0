"""The MQTT messages edged publishes: their models, their topics, and how results become them.

This module is the one place that knows topic names and message shapes. Every
message is a pydantic model whose JSON Schema is committed under ``schemas/``
(``edged schemas --write schemas``); a test fails when those files are stale.

Every message carries ``schema``, ``device_id``, ``pipeline_id``, ``source_id``,
``seq`` (per topic, +1 per message, persisted across restarts), ``frame_seq``,
capture ``ts`` and ``frame_age_ms``. Device-level messages (status, stats) have
no pipeline, source or frame: those keys are present and ``null``. A message
sent from the spool after an outage or a restart also has ``"replayed": true``.

Only the standard library and pydantic are imported here, so the schemas can be
generated on any machine.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, ClassVar, Dict, List, NamedTuple, Optional, Tuple, Type

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import Literal, Protocol

__all__ = [
    "MESSAGE_MODELS",
    "DeviceMessage",
    "GaugeKeypoints",
    "GaugeMessage",
    "GenericMessage",
    "Message",
    "MotionMessage",
    "OutgoingMessage",
    "Person",
    "PoseMessage",
    "ResultMessage",
    "SchemaFileError",
    "SeqCounters",
    "StatsMessage",
    "StatusMessage",
    "Topics",
    "check_schema_files",
    "encode",
    "mark_replayed",
    "messages_for_result",
    "schema_documents",
    "write_schema_files",
]

SCHEMA_ID_PREFIX = "urn:edged:schemas:"
Point = Tuple[float, float]


class Message(BaseModel):
    """Fields every edged message has."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        allow_inf_nan=False,
        json_schema_serialization_defaults_required=True,
    )

    schema_id: str = Field(
        alias="schema", description="Message type and version, e.g. 'edged.pose/1'"
    )
    device_id: str = Field(description="The device that published it (config device_id)")
    seq: int = Field(
        ge=1,
        description="Per topic: +1 for every message published on it, kept across restarts, "
        "so a gap means a lost message",
    )
    ts: float = Field(description="Capture time of the frame (epoch seconds, UTC)")
    replayed: bool = Field(
        False,
        description="True when sent from the spool after a broker outage or a restart "
        "(absent = false); ts is still the original capture time",
    )

    #: optional fields left out of the JSON while null (and not required by the schema), so
    #: messages that never have them stay as they were before the field existed
    omitted_when_null: ClassVar[Tuple[str, ...]] = ()


class ResultMessage(Message):
    """A message about one processed frame."""

    pipeline_id: str = Field(description="Pipeline that produced it")
    source_id: str = Field(description="Source the frame came from")
    frame_seq: int = Field(
        ge=0,
        description="The source's frame number; gaps are frames dropped on purpose by the "
        "latest-frame slot",
    )
    frame_age_ms: float = Field(
        ge=0, description="Milliseconds from capture to the moment the message was published"
    )


class DeviceMessage(Message):
    """A message about the device as a whole: no pipeline, source or frame (keys are null)."""

    ts: float = Field(description="When the message was made (epoch seconds, UTC)")
    pipeline_id: None = Field(None, description="Always null: not about one pipeline")
    source_id: None = Field(None, description="Always null: not about one source")
    frame_seq: None = Field(None, description="Always null: not about one frame")
    frame_age_ms: None = Field(None, description="Always null: not about one frame")


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    score: float = Field(description="Confidence that this is a person")
    keypoints: Dict[str, Tuple[float, float, float]] = Field(
        description="Found keypoints by name (trt_pose's 18: COCO's 17 plus neck): "
        "[x, y, score], x and y in pixels of the original frame; missing ones are absent"
    )


class PoseMessage(ResultMessage):
    """People and their keypoints in one frame (topic .../<pipeline_id>/pose)."""

    schema_id: Literal["edged.pose/1"] = Field("edged.pose/1", alias="schema")
    persons: List[Person] = Field(description="Every person found, best first")
    width: int = Field(gt=0, description="Frame width in pixels")
    height: int = Field(gt=0, description="Frame height in pixels")


class GaugeKeypoints(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    center: Point = Field(description="Needle pivot [x, y], pixels of the original frame")
    tip: Point = Field(description="Needle tip [x, y]")
    scale_start: Point = Field(description="Scale's minimum mark [x, y]")
    scale_end: Point = Field(description="Scale's maximum mark [x, y]")


class GaugeMessage(ResultMessage):
    """One reading of one gauge (topic .../<pipeline_id>/gauge/<gauge_id>, retained)."""

    schema_id: Literal["edged.gauge/1"] = Field("edged.gauge/1", alias="schema")
    gauge_id: str = Field(description="The gauge's id in the config")
    value: Optional[float] = Field(description="The reading in `unit`; null when unreadable")
    unit: str = Field(description="Unit of the value, e.g. 'bar'")
    confidence: float = Field(ge=0, le=1, description="How sure the reading is, 0 to 1")
    angle_deg: Optional[float] = Field(
        None,
        description="Needle angle in the picture: degrees clockwise from 12 o'clock; "
        "null when not found",
    )
    keypoints: Optional[GaugeKeypoints] = Field(
        None, description="Where the model found the needle and the scale; null when not found"
    )
    quality: Literal["ok", "low_confidence", "unreadable", "out_of_range"] = Field(
        "ok",
        description="ok; low_confidence (value given, trust it less); unreadable (value null; "
        "for a display also when its text is no number, or has not `decimals` digits after "
        "the point); out_of_range (needle outside the configured scale, or a display's value "
        "outside its min/max: value is what it shows)",
    )
    text: Optional[str] = Field(
        None,
        description="Digital gauges (seven-segment displays) only: what the display shows, "
        "e.g. '-12.5'; absent for dials, and when no character could be read for sure",
    )
    why: Optional[str] = Field(
        None,
        description="Dials: why the reading is not ok, for a person (e.g. no dial found, the "
        "needle's tip too faint, no scale seen, two models disputing the needle, a change "
        "faster than max_rate); absent when quality is ok or there is nothing to say",
    )

    omitted_when_null: ClassVar[Tuple[str, ...]] = ("text", "why")


class MotionMessage(ResultMessage):
    """How much of the picture changed (topic .../<pipeline_id>/motion)."""

    schema_id: Literal["edged.motion/1"] = Field("edged.motion/1", alias="schema")
    motion: bool = Field(description="True when motion_fraction is above the threshold")
    motion_fraction: float = Field(ge=0, le=1, description="Share of pixels that changed")
    brightness: float = Field(ge=0, le=255, description="Mean grey level of the frame")


class GenericMessage(ResultMessage):
    """Any other pipeline kind: its payload's keys inline (topic .../<pipeline_id>/<kind>)."""

    model_config = ConfigDict(extra="allow")

    schema_id: str = Field(
        alias="schema", pattern=r"^edged\.[a-z][a-z0-9_]*/1$", description="'edged.<kind>/1'"
    )


class StatusMessage(DeviceMessage):
    """Whether edged is up (topic .../status, retained; `offline` is also the last will)."""

    schema_id: Literal["edged.status/1"] = Field("edged.status/1", alias="schema")
    state: Literal["online", "offline"] = Field(
        description="online on every connect; offline on a clean stop, or from the broker "
        "(last will) when edged died or lost its link"
    )
    reason: Optional[str] = Field(
        None, description="Why offline: 'shutdown' or 'connection lost' (the last will)"
    )
    version: str = Field(description="edged version")
    uptime_s: Optional[float] = Field(None, description="Seconds since the daemon started")
    sources: List[Dict[str, Any]] = Field(
        default_factory=list, description="Each source's id and state (online only)"
    )


class StatsMessage(DeviceMessage):
    """Periodic metrics (topic .../stats): fps, latency, drops, reconnects."""

    schema_id: Literal["edged.stats/1"] = Field("edged.stats/1", alias="schema")
    interval_s: float = Field(gt=0, description="Seconds between stats messages")
    uptime_s: Optional[float] = Field(None, description="Seconds since the daemon started")
    sources: List[Dict[str, Any]] = Field(default_factory=list, description="Per source")
    pipelines: List[Dict[str, Any]] = Field(default_factory=list, description="Per pipeline")
    sinks: List[Dict[str, Any]] = Field(
        default_factory=list,
        description="Per sink; the MQTT sink's entry has its connection, spool, counters "
        "and publish-to-ack latency",
    )


MESSAGE_MODELS: Dict[str, Type[Message]] = {
    "edged.pose-1": PoseMessage,
    "edged.gauge-1": GaugeMessage,
    "edged.motion-1": MotionMessage,
    "edged.result-1": GenericMessage,
    "edged.status-1": StatusMessage,
    "edged.stats-1": StatsMessage,
}
"""Schema file stem (``schemas/<stem>.json``) → model."""


# ---------------------------------------------------------------- topics


class Topics:
    """Every topic edged uses, built in this one place."""

    def __init__(self, prefix: str, device_id: str, discovery_prefix: str = "homeassistant"):
        self.prefix = prefix
        self.device_id = device_id
        self.discovery_prefix = discovery_prefix
        self.base = f"{prefix}/{device_id}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def stats(self) -> str:
        return f"{self.base}/stats"

    def pose(self, pipeline_id: str) -> str:
        return f"{self.base}/{pipeline_id}/pose"

    def gauge(self, pipeline_id: str, gauge_id: str) -> str:
        return f"{self.base}/{pipeline_id}/gauge/{gauge_id}"

    def result(self, pipeline_id: str, kind: str) -> str:
        """Topic of any other kind of result, e.g. .../<pipeline_id>/motion."""
        return f"{self.base}/{pipeline_id}/{kind}"

    @property
    def ha_status(self) -> str:
        """Home Assistant says 'online' here when it (re)starts."""
        return f"{self.discovery_prefix}/status"

    def ha_sensor_config(self, object_id: str) -> str:
        return f"{self.discovery_prefix}/sensor/{object_id}/config"


# ---------------------------------------------------------------- results → messages


class OutgoingMessage(NamedTuple):
    """A serialised message with where and how to publish it."""

    topic: str
    payload: bytes
    kind: str  # pose, gauge, motion, status, stats, … (selects the QoS)
    retain: bool
    pipeline_id: Optional[str]


def encode(message: Message) -> bytes:
    """Compact JSON; ``replayed`` is left out (absent = false) and set by :func:`mark_replayed`,
    and so are the model's ``omitted_when_null`` fields while null."""
    exclude = {"replayed"}
    exclude.update(f for f in message.omitted_when_null if getattr(message, f) is None)
    return message.model_dump_json(by_alias=True, exclude=exclude).encode("utf-8")


def mark_replayed(payload: bytes) -> bytes:
    """The same message with ``"replayed": true`` (payloads come from :func:`encode`)."""
    if not payload.endswith(b"}"):
        return payload
    return payload[:-1] + b',"replayed":true}'


class SeqCounters(Protocol):
    """Per-topic message counters (the MQTT sink keeps them in its spool)."""

    def peek(self, topic: str) -> int:
        """The seq the next message on ``topic`` gets."""

    def advance(self, topic: str, count: int = 1) -> None:
        """Count ``count`` messages as taken on ``topic``."""


def messages_for_result(
    result: Any, topics: Topics, seqs: SeqCounters, now_mono: Optional[float] = None
) -> List[OutgoingMessage]:
    """The message(s) for one ``Result``: one per frame, or one per gauge for gauge results.

    All or nothing: raises (pydantic ``ValidationError``, ``KeyError``, ``TypeError``,
    ``ValueError``, a serialisation error) when the payload does not fit its model, and
    then no seq is taken, so a dropped result leaves no gap for subscribers to see.
    """
    now = time.monotonic() if now_mono is None else now_mono
    frame = result.frame
    common: Dict[str, Any] = {
        "device_id": topics.device_id,
        "pipeline_id": result.pipeline_id,
        "source_id": frame.source_id,
        "frame_seq": frame.seq,
        "ts": round(frame.ts, 6),
        "frame_age_ms": round(max(0.0, now - frame.mono) * 1000.0, 3),
        "seq": 1,  # placeholder until encoded below
    }
    payload = result.payload
    kind = result.kind
    built: List[Tuple[str, Message, bool]] = []
    if kind == "gauge":
        for reading in payload["gauges"]:
            message: Message = GaugeMessage.model_validate({**reading, **common})
            built.append((topics.gauge(result.pipeline_id, reading["gauge_id"]), message, True))
    elif kind == "pose":
        data = {"width": frame.width, "height": frame.height, **payload, **common}
        built.append((topics.pose(result.pipeline_id), PoseMessage.model_validate(data), False))
    elif kind == "motion":
        message = MotionMessage.model_validate({**payload, **common})
        built.append((topics.result(result.pipeline_id, kind), message, False))
    else:
        clash = sorted((set(common) | {"schema", "replayed"}) & set(payload))
        if clash:
            raise ValueError(f"payload keys {clash} clash with message fields")
        data = {**payload, **common, "schema": f"edged.{kind}/1"}
        message = GenericMessage.model_validate(data)
        built.append((topics.result(result.pipeline_id, kind), message, False))
    taken: Dict[str, int] = {}
    out = []
    for topic, message, retain in built:
        seq = seqs.peek(topic) + taken.get(topic, 0)
        body = encode(message.model_copy(update={"seq": seq}))
        taken[topic] = taken.get(topic, 0) + 1
        out.append(OutgoingMessage(topic, body, kind, retain, result.pipeline_id))
    for topic, count in taken.items():
        seqs.advance(topic, count)
    return out


# ---------------------------------------------------------------- schema files


class SchemaFileError(Exception):
    """Committed schema files differ from the models."""


def schema_documents() -> Dict[str, str]:
    """``{file name: JSON text}`` for every message model, as committed under ``schemas/``."""
    docs = {}
    for stem, model in MESSAGE_MODELS.items():
        schema = model.model_json_schema(by_alias=True, mode="serialization")
        # encode() leaves `replayed` out unless it is true, and `omitted_when_null` fields
        # while null: optional for consumers.
        optional = {"replayed", *model.omitted_when_null}
        schema["required"] = [name for name in schema["required"] if name not in optional]
        document = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{SCHEMA_ID_PREFIX}{stem}",
            **schema,
        }
        docs[f"{stem}.json"] = json.dumps(document, indent=2, sort_keys=False) + "\n"
    return docs


def write_schema_files(directory: Path) -> List[Path]:
    """Write every schema file; returns the files that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in schema_documents().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def check_schema_files(directory: Path) -> List[str]:
    """Problems with the committed files: missing, stale, or left over. Empty = up to date."""
    problems = []
    expected = schema_documents()
    for name, text in expected.items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: stale (differs from the model)")
    if directory.is_dir():
        for path in sorted(directory.glob("edged.*.json")):
            if path.name not in expected:
                problems.append(f"{path}: no model produces it any more")
    return problems
