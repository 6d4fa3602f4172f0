"""The one-screen summary ``edged check`` prints of what a config would run."""

from __future__ import annotations

from edged.config import Config

__all__ = ["summarise"]


def summarise(config: Config) -> str:
    """The summary of a config loaded with its secrets checked; no hardware is touched."""
    from edged.sources import capture_spec

    lines = [f"config OK - device_id: {config.device_id}", "", "sources:"]
    for source in config.sources:
        spec = capture_spec(source)
        label = spec.label + (" [own process]" if spec.isolated else "")
        cap = f", fps cap {source.fps:g}" if source.fps else ""
        lines.append(f"  {source.id:<16} {source.kind:<10} {label}{cap}")
    lines += ["", "pipelines:"]
    if not config.pipelines:
        lines.append("  (none: frames are captured but nothing runs on them)")
    for pipeline in config.pipelines:
        model = getattr(pipeline, "model", None)
        extra = f" model {model}" if model else ""
        gauges = getattr(pipeline, "gauges", None) or []
        displays = sum(1 for g in gauges if getattr(g, "type", None) == "digital")
        if displays:  # seven-segment displays: the display model reads them
            extra += f", {displays} display(s) with {pipeline.display_model}"
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
    return "\n".join(lines)
