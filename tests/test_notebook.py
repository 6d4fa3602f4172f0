"""The live-demo notebook runs top to bottom unattended (synthetic gauge scene, no camera/GPU)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "live_demo.ipynb"


# a kernel in its own process, starting and importing edged, took over 120 s (the suite's
# default) once on a 2-core machine loaded by a training run; it takes about 10 s idle.
# nbclient's own limits below stop a kernel that hangs first, naming what it waited for.
@pytest.mark.timeout(420)
def test_live_demo_notebook_executes_and_reads_a_gauge(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("ipywidgets")
    pytest.importorskip("cv2")
    notebook = nbformat.read(str(NOTEBOOK), as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        startup_timeout=100,
        kernel_name="python3",
        resources={"metadata": {"path": str(REPO)}},
    )
    client.execute()
    text = "\n".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "30 frames at" in text
    assert '"schema": "edged.gauge/1"' in text
    reading_lines = [line for line in text.splitlines() if ": read " in line and "truth" in line]
    assert reading_lines, text[-2000:]
    artifacts = os.environ.get("EDGED_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, str(Path(artifacts) / "live_demo.executed.ipynb"))
