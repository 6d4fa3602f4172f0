"""The root config model and the rules that span the whole file."""

from __future__ import annotations

import socket
from typing import Any, Dict, List, Mapping, NamedTuple, Sequence

from pydantic import Field, model_validator

from edged.config.base import EdgedModel
from edged.config.log import LoggingConfig
from edged.config.pipelines import PipelineConfig
from edged.config.sinks import SinksConfig
from edged.config.sources import ID_PATTERN, SourceConfig

__all__ = [
    "Config",
    "ConfigIssue",
    "CrossReferenceError",
    "WatchdogConfig",
    "verify_references",
]


def _default_device_id() -> str:
    """The host name, made safe for MQTT topics."""
    name = socket.gethostname().split(".")[0] or "edged"
    return "".join(c if c.isalnum() or c in "_-" else "-" for c in name)[:64]


class ConfigIssue(NamedTuple):
    """One problem in a config file, located by its field path (e.g. ``sources[1].uri``)."""

    path: str
    message: str
    value: Any = None
    hint: str = ""


class CrossReferenceError(Exception):
    """Raised by the root validator; carries every cross-reference issue at once.

    It is not a ValueError on purpose: pydantic would fold a ValueError into one
    root-level message and lose the field paths.
    """

    def __init__(self, issues: Sequence[ConfigIssue]):
        super().__init__("; ".join(f"{i.path}: {i.message}" for i in issues))
        self.issues = list(issues)


class WatchdogConfig(EdgedModel):
    """When systemd's watchdog pings are withheld (so that systemd restarts edged)."""

    stuck_after_s: float = Field(
        60.0, gt=0, description="A pipeline busy on one frame this long counts as stuck"
    )
    status_every_s: float = Field(5.0, gt=0, description="Seconds between STATUS= updates")


class Config(EdgedModel):
    """A whole edged config file."""

    device_id: str = Field(
        default_factory=_default_device_id,
        pattern=ID_PATTERN,
        description="Name of this device in MQTT topics and messages (default: the host name)",
    )
    sources: List[SourceConfig] = Field(min_length=1, description="Where frames come from")
    pipelines: List[PipelineConfig] = Field(
        default_factory=list, description="What runs on the frames"
    )
    sinks: SinksConfig = Field(default_factory=SinksConfig, description="Where results go")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Log levels")
    watchdog: WatchdogConfig = Field(
        default_factory=WatchdogConfig, description="systemd watchdog (WatchdogSec=) behaviour"
    )

    @model_validator(mode="after")
    def _references(self) -> Config:
        issues = verify_references(self.model_dump(mode="python"))
        if issues:
            raise CrossReferenceError(issues)
        return self


def verify_references(data: Mapping[str, Any]) -> List[ConfigIssue]:
    """Ids are unique and every pipeline names sources that exist.

    Works on raw YAML data too, so these issues can be reported together with
    field errors instead of only after those are fixed.
    """
    issues: List[ConfigIssue] = []
    sources = _list_of_dicts(data.get("sources"))
    pipelines = _list_of_dicts(data.get("pipelines"))
    issues += _duplicate_ids("sources", sources)
    issues += _duplicate_ids("pipelines", pipelines)
    known = list(dict.fromkeys(s["id"] for s in sources if isinstance(s.get("id"), str)))
    for index, pipeline in enumerate(pipelines):
        refs = pipeline.get("source")
        names = [refs] if isinstance(refs, str) else refs if isinstance(refs, list) else []
        for name in names:
            if isinstance(name, str) and name not in known:
                issues.append(
                    ConfigIssue(
                        f"pipelines[{index}].source",
                        f"unknown source {name!r}",
                        name,
                        f"use one of the source ids: {', '.join(known) or '(none defined)'}",
                    )
                )
    return issues


def _list_of_dicts(value: Any) -> List[Dict[str, Any]]:
    return [v if isinstance(v, dict) else {} for v in value] if isinstance(value, list) else []


def _duplicate_ids(section: str, items: List[Dict[str, Any]]) -> List[ConfigIssue]:
    seen: Dict[str, int] = {}
    issues = []
    for index, item in enumerate(items):
        ident = item.get("id")
        if not isinstance(ident, str):
            continue
        if ident in seen:
            issues.append(
                ConfigIssue(
                    f"{section}[{index}].id",
                    f"duplicate id {ident!r} (also {section}[{seen[ident]}])",
                    ident,
                    "give every entry its own id",
                )
            )
        else:
            seen[ident] = index
    return issues
