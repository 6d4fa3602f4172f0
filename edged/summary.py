"""The one-screen summary ``edged check`` prints of what a config would run."""

from __future__ import annotations

from typing import List, Tuple

from edged.config import Config
from edged.config.secrets import SecretError

__all__ = ["summarise"]


def summarise(config: Config) -> Tuple[str, List[str]]:
    """(summary text, problems found by resolving secrets); no hardware is touched."""
    from edged.sources import capture_spec

    lines = [f"config OK - device_id: {config.device_id}", "", "sources:"]
    problems: List[str] = []
    for index, source in enumerate(config.sources):
        try:
            spec = capture_spec(source)
            label = spec.label + (" [own process]" if spec.isolated else "")
        except SecretError as exc:
            problems.append(f"sources[{index}].{exc}")
            label = "(secret unreadable)"
        cap = f", fps cap {source.fps:g}" if source.fps else ""
        lines.append(f"  {source.id:<16} {source.kind:<10} {label}{cap}")
    lines += ["", "pipelines:"]
    if not config.pipelines:
        lines.append("  (none: frames are captured but nothing runs on them)")
    for pipeline in config.pipelines:
        model = getattr(pipeline, "model", None)
        extra = f" model {model}" if model else ""
        lines.append(
            f"  {pipeline.id:<16} {pipeline.kind:<10} <- {', '.join(pipeline.source_ids)}{extra}"
        )
    lines += ["", "sinks:"]
    sinks = [(n, getattr(config.sinks, n)) for n in type(config.sinks).model_fields]
    active = [(n, s) for n, s in sinks if s is not None]
    if not active:
        lines.append("  (none: results are computed but not published)")
    for name, section in active:
        target = getattr(section, "path", None) or getattr(section, "host", "")
        if getattr(section, "port", None):
            target = f"{target}:{section.port}"
        lines.append(f"  {name:<16} {target}")
        problems += _unreadable_secrets(f"sinks.{name}", section)
    return "\n".join(lines), problems


def _unreadable_secrets(path: str, section: object) -> List[str]:
    """Read every secret a section names (files, environment), as the daemon will."""
    problems = []
    for attr in dir(section):
        if attr.startswith("resolved_"):
            try:
                getattr(section, attr)()
            except SecretError as exc:
                problems.append(f"{path}.{exc}")
    return problems
