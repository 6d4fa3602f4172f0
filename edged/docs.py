"""``edged docs``: the config and MQTT references, generated from the models.

The field descriptions in the pydantic models are the single source: the same
text feeds the JSON Schema, the error hints and these pages, so the docs cannot
drift from the code (a test regenerates them and fails on a difference).
"""

from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path
from typing import Any, Dict, List, Type

from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from typing_extensions import Literal, get_args, get_origin

__all__ = ["config_reference", "mqtt_reference", "register", "render_docs"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("docs", help="write or check the generated reference pages")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="(re)write the pages")
    mode.add_argument("--check", action="store_true", help="exit 1 if a page is stale")
    parser.add_argument("directory", nargs="?", default="docs", help="default: ./docs")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    stale = []
    for name, text in render_docs().items():
        path = directory / name
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        if args.write:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
        else:
            stale.append(str(path))
    if stale:
        print(f"stale: {', '.join(stale)}; run `edged docs --write` and commit", file=sys.stderr)
        return 1
    return 0


def render_docs() -> Dict[str, str]:
    return {"config.md": config_reference(), "mqtt.md": mqtt_reference()}


# ---------------------------------------------------------------- config


def config_reference() -> str:
    from edged.config import Config

    lines = [
        "# Configuration reference",
        "",
        "Generated from the config models by `edged docs --write`; do not edit by hand.",
        "One YAML file; unknown keys are errors. `edged check -c FILE` validates a file,",
        "`edged config-schema` prints the JSON Schema.",
        "",
    ]
    for path, model in _models(Config, "(top level)"):
        lines += _model_section(path, model)
    return "\n".join(lines).rstrip() + "\n"


def _models(root: Type[BaseModel], path: str) -> List[tuple]:
    """Every model reachable from ``root``, with the YAML path where it appears, once each."""
    found: List[tuple] = []
    seen = set()

    def visit(model: Type[BaseModel], where: str) -> None:
        if model in seen:
            return
        seen.add(model)
        found.append((where, model))
        for name, field in model.model_fields.items():
            for sub, suffix in _submodels(field.annotation):
                prefix = "" if where == "(top level)" else f"{where}."
                visit(sub, f"{prefix}{name}{suffix}")

    visit(root, path)
    return found


def _submodels(annotation: Any) -> List[tuple]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        suffix = ""
        for tag in ("kind", "type"):  # the discriminator of a union of models
            field = annotation.model_fields.get(tag)
            if field is not None and get_origin(field.annotation) in (typing.Literal, Literal):
                suffix = f" ({tag}: {', '.join(get_args(field.annotation))})"
                break
        return [(annotation, suffix)]
    origin = get_origin(annotation)
    out: List[tuple] = []
    for arg in get_args(annotation):
        for sub, suffix in _submodels(arg):
            if origin in (list, tuple):
                suffix = f"[]{suffix}"
            elif origin is dict:
                suffix = f".<name>{suffix}"
            out.append((sub, suffix))
    return out


def _model_section(path: str, model: Type[BaseModel]) -> List[str]:
    doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
    lines = [
        f"## `{path}`",
        "",
        doc,
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for name, field in model.model_fields.items():
        default = "required" if field.is_required() else _default(field)
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{name}` | {_type_name(field.annotation)} | {default} | {meaning} |")
    return [*lines, ""]


def _default(field: Any) -> str:
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except Exception:
            return "(computed)"
        if isinstance(value, BaseModel):
            return "(see below)"
    else:
        value = field.default
    if value is PydanticUndefined:
        return "required"
    if field.default_factory is not None and not isinstance(value, (list, dict)):
        return "(computed at load)"
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return f"`{text}`".replace("|", "\\|")


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is typing.Union:
        names = [_type_name(a) for a in args if a is not type(None)]
        optional = " or null" if type(None) in args else ""
        return " \\| ".join(names) + optional
    if origin in (typing.Literal, Literal):
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {_type_name(args[1])}" if args else "map"
    if hasattr(annotation, "__metadata__"):
        return _type_name(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"`{annotation.__name__}`"
    return getattr(annotation, "__name__", str(annotation))


# ---------------------------------------------------------------- MQTT


def mqtt_reference() -> str:
    from edged.messages import MESSAGE_MODELS

    lines = [
        "# MQTT topics and messages",
        "",
        "Generated from the message models by `edged docs --write`; do not edit by hand.",
        "The JSON Schemas under `schemas/` are generated from the same models.",
        "",
        "| topic | retained | message |",
        "| --- | --- | --- |",
        "| `{prefix}/{device_id}/status` | yes | `edged.status/1`; `offline` as last will |",
        "| `{prefix}/{device_id}/stats` | no | `edged.stats/1` |",
        "| `{prefix}/{device_id}/{pipeline_id}/pose` | no | `edged.pose/1` |",
        "| `{prefix}/{device_id}/{pipeline_id}/gauge/{gauge_id}` | yes | `edged.gauge/1` |",
        "| `{prefix}/{device_id}/{pipeline_id}/{kind}` | no | `edged.{kind}/1` (motion, …) |",
        "",
    ]
    for stem, model in MESSAGE_MODELS.items():
        lines += [f"## `{stem}`", "", (model.__doc__ or "").strip(), ""]
        lines += ["| field | type | meaning |", "| --- | --- | --- |"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            meaning = (field.description or "").replace("|", "\\|")
            lines.append(f"| `{key}` | {_type_name(field.annotation)} | {meaning} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
