"""Generated reference pages are up to date with the models."""

from __future__ import annotations

from pathlib import Path

from edged.docs import render_docs

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_generated_docs_are_current():
    for name, text in render_docs().items():
        path = DOCS / name
        assert path.is_file(), f"{path} missing: run `edged docs --write`"
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: `edged docs --write`"


def test_config_reference_covers_every_source_kind_and_field():
    text = render_docs()["config.md"]
    for kind in ("file", "v4l2", "rtsp", "gstreamer", "csi", "jetcam", "synthetic"):
        assert f"(kind: {kind})" in text
    assert "| `stall_timeout_s` | float | `10.0` |" in text
    assert "## `sinks.jsonl`" in text
