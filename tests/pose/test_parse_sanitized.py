"""The compiled parse under AddressSanitizer and UndefinedBehaviorSanitizer.

The extension is rebuilt from ``_parse.c`` with ``-fsanitize=address,undefined`` (and
``float-cast-overflow``, which GCC leaves out of ``undefined``: a NaN cast to int) into a
temporary directory and loaded in a child Python with the ASan runtime preloaded (the
interpreter itself is not instrumented). The child runs every public vector and random
fields against the numpy parse, makes every hostile call (outputs aliasing the topology
among them), each of which must be refused, and parses while another thread rewrites the
topology; any out-of-bounds access, use after free, signed overflow, bad shift or
out-of-range float cast (a NaN cast to int) aborts it with a report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.pose.test_parse_compiled import HOSTILE_CALLS

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "edged" / "pipelines" / "pose" / "_parse.c"

CHILD = r"""
import importlib.machinery, importlib.util, re, sys
import numpy as np

path = sys.argv[1]
loader = importlib.machinery.ExtensionFileLoader("edged.pipelines.pose._parse", path)
spec = importlib.util.spec_from_file_location("edged.pipelines.pose._parse", path, loader=loader)
module = importlib.util.module_from_spec(spec)
loader.exec_module(module)
sys.modules["edged.pipelines.pose._parse"] = module

from edged.pipelines.pose.compiled import parse_objects_compiled
from edged.pipelines.pose.parse import parse_objects_numpy
from tests.pose import test_parse_compiled as t
from tests.pose.test_parse_vectors import vectors_dir

vectors = sorted(vectors_dir().glob("*.npz"))
for f in vectors:
    with np.load(f) as d:
        args = (d["cmap"], d["paf"], d["topology"], float(d["cmap_threshold"]),
                float(d["link_threshold"]), int(d["cmap_window"]),
                int(d["line_integral_samples"]), int(d["max_num_parts"]),
                int(d["max_num_objects"]))
        want = (d["object_counts"], d["objects"], d["normalized_peaks"])
    t.assert_bit_identical(parse_objects_compiled(*args), want)
rng = np.random.default_rng(5)
for _ in range(300):
    cmap, paf, topology, params = t.random_case(rng)
    with np.errstate(over="ignore", invalid="ignore"):
        want = parse_objects_numpy(cmap, paf, topology, **params)
    t.assert_bit_identical(parse_objects_compiled(cmap, paf, topology, **params), want)
refused = 0
for change, message in t.HOSTILE_CALLS:
    try:
        module.parse(*t.extension_args(**change).values())
    except ValueError as exc:
        assert re.search(message, str(exc)), (message, str(exc))
        refused += 1
    else:
        print("hostile call accepted: %s" % sorted(change))
assert refused == len(t.HOSTILE_CALLS), "%d of %d hostile calls refused" % (
    refused, len(t.HOSTILE_CALLS))
parsed, _ = t.parse_while_topology_changes(module.parse, 0.5)
print("sanitized: %d vectors, 300 random fields, %d hostile calls refused, %d parses while "
      "the topology changed" % (len(vectors), refused, parsed))
"""


def sanitizer_runtime() -> str:
    """Path of the compiler's libasan, or a skip: without it nothing can be preloaded."""
    compiler = shutil.which(os.environ.get("CC", "gcc"))
    if compiler is None:
        pytest.skip("no C compiler (gcc) to build the sanitized extension")
    found = subprocess.run(
        [compiler, "-print-file-name=libasan.so"], capture_output=True, text=True
    ).stdout.strip()
    if not os.path.isabs(found) or not os.path.exists(found):
        pytest.skip("the compiler has no AddressSanitizer runtime (libasan)")
    return found


@pytest.mark.slow
def test_vectors_and_random_fields_run_clean_under_sanitizers(tmp_path: Path) -> None:
    libasan = sanitizer_runtime()
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        pytest.skip("Python's headers (Python.h) are not installed")
    built = tmp_path / ("_parse" + sysconfig.get_config_var("EXT_SUFFIX"))
    compile_cmd = [
        os.environ.get("CC", "gcc"),
        "-shared",
        "-fPIC",
        "-O1",
        "-g",
        "-fno-omit-frame-pointer",
        "-ffp-contract=off",
        "-fsanitize=address,undefined,float-cast-overflow",
        "-fno-sanitize-recover=all",
        "-I" + include,
        str(SOURCE),
        "-o",
        str(built),
    ]
    result = subprocess.run(compile_cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    env = dict(
        os.environ,
        LD_PRELOAD=libasan,
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
        PYTHONPATH=str(REPO),
        EDGED_POSE_PARSE="compiled",
    )
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(built)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(REPO),
        timeout=600,
    )
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-6000:]
    assert "sanitized:" in child.stdout
    assert "%d hostile calls refused" % len(HOSTILE_CALLS) in child.stdout
    assert "ERROR: AddressSanitizer" not in child.stderr
    assert "runtime error" not in child.stderr
