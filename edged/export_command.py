"""The ``edged export KIND`` command group, which several modules add kinds to.

Each command module's ``register(subparsers)`` calls :func:`export_kinds` and
adds its kind to what it returns (``edged export pose``, ``edged export
triton-repo``); the first call creates ``export``, later ones get the same
group, so the order of ``COMMAND_MODULES`` does not matter.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export_kinds"]

_KINDS = "_edged_export_kinds"  # where the group's subparsers action is kept on its parser


def export_kinds(subparsers: Any) -> Any:
    """The ``export`` command's KIND subparsers under ``subparsers``, created on first use."""
    export = subparsers.choices.get("export")
    if export is None:
        export = subparsers.add_parser(
            "export",
            help="convert trained models to ONNX, or ONNX models to a Triton model repository",
            description="Convert trained models to ONNX files the engines can run, or write "
            "an ONNX model as a Triton Inference Server model repository.",
        )
        kinds = export.add_subparsers(dest="export_kind", metavar="KIND")
        kinds.required = True
        setattr(export, _KINDS, kinds)
    kinds = getattr(export, _KINDS, None)
    if kinds is None:
        raise RuntimeError("an 'export' command exists that export_kinds() did not create")
    return kinds
