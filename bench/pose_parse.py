"""Time per frame of edged's numpy trt_pose parse, stage by stage, on the reference vectors.

Every vector in ``<shared testdata>/trt_pose_parse`` is parsed many times on one thread (BLAS and
OpenMP pools pinned to 1 before numpy loads), after a warm-up; each frame runs the five stages
exactly as ``parse_objects`` chains them, timed one by one, and its result is checked against
trt_pose's stored output first, so the figures are for a parse known to be exact. A second
loop times the public ``parse_objects`` call end to end (it adds only input checks and the
padding of the outputs to trt_pose's shapes).

Each stage's figure is its mean wall-clock time per frame; the median frame time and the median
thread CPU time are printed beside the total, as they resist other tenants of a shared machine.

    python bench/pose_parse.py                                  # print the table
    python bench/pose_parse.py --write bench/results/pose_parse.md
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Dict, List, Tuple  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from edged.pipelines.pose.assignment import frame_assignment  # noqa: E402
from edged.pipelines.pose.connect import frame_objects  # noqa: E402
from edged.pipelines.pose.parse import parse_objects  # noqa: E402
from edged.pipelines.pose.peaks import frame_peaks, frame_refine  # noqa: E402
from edged.pipelines.pose.score_graph import frame_scores  # noqa: E402

STAGES = ("find_peaks", "refine_peaks", "paf_score_graph", "assignment", "connect_parts")
DENSE = "random_dense"  # saturates the 100-peak limit: 21 Munkres problems of 100 x 100


def default_vectors() -> Path:
    root = os.environ.get("EDGED_SHARED_TESTDATA")
    base = Path(root) if root else REPO.parent / "shared" / "testdata"
    return base / "trt_pose_parse"


def load(path: Path) -> Dict[str, Any]:
    with np.load(path) as data:
        d = {k: data[k] for k in data.files}
    return {
        "cmap": d["cmap"],
        "paf": d["paf"],
        "topology": d["topology"],
        "params": (
            float(d["cmap_threshold"]),
            float(d["link_threshold"]),
            int(d["cmap_window"]),
            int(d["line_integral_samples"]),
            int(d["max_num_parts"]),
            int(d["max_num_objects"]),
        ),
        "expected": (d["object_counts"], d["objects"], d["normalized_peaks"]),
        "objects": int(d["object_counts"][0]),
        "peaks": int(d["peak_counts"].sum()),
    }


def staged_frame(case: Dict[str, Any]) -> Tuple[List[float], float]:
    """One frame through the five stages; per-stage wall seconds and the frame's CPU seconds."""
    cmap, paf, topology = case["cmap"][0], case["paf"][0], case["topology"]
    cmap_thr, link_thr, window, samples, max_parts, max_objects = case["params"]
    cpu0 = time.thread_time()
    t0 = time.perf_counter()
    counts, part, row, col = frame_peaks(cmap, cmap_thr, window, max_parts)
    t1 = time.perf_counter()
    refined = frame_refine(cmap, part, row, col, window)
    t2 = time.perf_counter()
    scores = frame_scores(paf, topology, counts, refined, samples)
    t3 = time.perf_counter()
    link, a, b = frame_assignment(scores, link_thr)
    t4 = time.perf_counter()
    frame_objects(counts, topology, link, a, b, max_objects)
    t5 = time.perf_counter()
    return [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4], time.thread_time() - cpu0


def check(case: Dict[str, Any]) -> None:
    """The parse must reproduce trt_pose's output before it is worth timing."""
    got = parse_objects(case["cmap"], case["paf"], case["topology"], *case["params"])
    for mine, theirs in zip(got, case["expected"]):
        np.testing.assert_array_equal(mine, theirs)


def measure(case: Dict[str, Any], frames: int, warmup: int) -> Dict[str, Any]:
    check(case)
    for _ in range(warmup):
        staged_frame(case)
    stage_times, cpu_times = [], []
    for _ in range(frames):
        stages, cpu = staged_frame(case)
        stage_times.append(stages)
        cpu_times.append(cpu)
    args = (case["cmap"], case["paf"], case["topology"], *case["params"])
    calls = []
    for _ in range(frames):
        t0 = time.perf_counter()
        parse_objects(*args)
        calls.append(time.perf_counter() - t0)
    stage_ms = np.array(stage_times) * 1e3
    return {
        "stages_ms": stage_ms.mean(axis=0).tolist(),
        "total_ms": float(stage_ms.sum(axis=1).mean()),
        "median_ms": float(np.median(stage_ms.sum(axis=1))),
        "cpu_ms": statistics.median(cpu_times) * 1e3,
        "parse_objects_ms": statistics.fmean(calls) * 1e3,
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return "%s, %d CPUs (%s), Python %s, numpy %s, one thread" % (
        platform.machine(),
        os.cpu_count() or 0,
        cpu,
        platform.python_version(),
        np.__version__,
    )


def table(results: Dict[str, Dict[str, Any]], cases: Dict[str, Dict[str, Any]]) -> List[str]:
    head = "| vector | objects | peaks | " + " | ".join(STAGES)
    head += " | total | median | CPU | frames/s |"
    lines = [head, "| --- " + "| ---: " * (len(STAGES) + 6) + "|"]
    for name, r in results.items():
        cells = ["%.3f" % v for v in r["stages_ms"]]
        lines.append(
            "| %s | %d | %d | %s | **%.3f** | %.3f | %.3f | %.0f |"
            % (
                name,
                cases[name]["objects"],
                cases[name]["peaks"],
                " | ".join(cells),
                r["total_ms"],
                r["median_ms"],
                r["cpu_ms"],
                1e3 / r["total_ms"],
            )
        )
    for label, names in summary_sets(results):
        mean = np.mean([results[n]["stages_ms"] for n in names], axis=0)
        total = float(np.mean([results[n]["total_ms"] for n in names]))
        median = float(np.mean([results[n]["median_ms"] for n in names]))
        cpu = float(np.mean([results[n]["cpu_ms"] for n in names]))
        lines.append(
            "| **%s** | | | %s | **%.3f** | %.3f | %.3f | %.0f |"
            % (label, " | ".join("%.3f" % v for v in mean), total, median, cpu, 1e3 / total)
        )
    return lines


def summary_sets(results: Dict[str, Any]) -> List[Tuple[str, List[str]]]:
    names = list(results)
    typical = [n for n in names if n != DENSE]
    sets = [("mean, %d vectors without %s" % (len(typical), DENSE), typical)]
    if DENSE in results:
        sets.append(("mean, all %d vectors" % len(names), names))
    return sets


def report(results: Dict[str, Dict[str, Any]], cases: Dict[str, Any], argv: List[str]) -> str:
    calls = ", ".join(
        "%s %.3f" % (n, r["parse_objects_ms"]) for n, r in results.items() if n != DENSE
    )
    lines = [
        "## Pose parse: numpy trt_pose-compatible post-processing, per frame",
        "",
        "Command: `python bench/pose_parse.py %s`" % " ".join(argv),
        "",
        "- Machine: %s." % machine(),
        "- Per vector: the five stages as `parse_objects` chains them, mean wall-clock ms per "
        "frame; total = their sum; median = median of the per-frame totals and CPU = median "
        "thread CPU time per frame (both robust to other tenants on a shared machine); "
        "frames/s from the mean. Every vector is first checked to reproduce trt_pose's stored "
        "output exactly.",
        "",
        *table(results, cases),
        "",
        "`parse_objects` end to end (mean ms; adds input checks and output padding): "
        + calls
        + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", type=Path, default=default_vectors())
    parser.add_argument("--frames", type=int, default=300, help="timed frames per vector")
    parser.add_argument("--dense-frames", type=int, default=5, help="timed frames of %s" % DENSE)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--skip-dense", action="store_true", help="leave out %s" % DENSE)
    parser.add_argument("--write", type=Path, help="also write the report (markdown) here")
    args = parser.parse_args(argv)

    files = sorted(args.vectors.glob("*.npz"))
    if args.skip_dense:
        files = [f for f in files if f.stem != DENSE]
    if not files:
        print("no vectors in %s (set EDGED_SHARED_TESTDATA)" % args.vectors, file=sys.stderr)
        return 2
    cases = {f.stem: load(f) for f in files}
    results = {}
    for name, case in cases.items():
        dense = name == DENSE
        frames = args.dense_frames if dense else args.frames
        results[name] = measure(case, frames, 1 if dense else args.warmup)
        print(
            "%-20s %8.3f ms/frame" % (name, results[name]["total_ms"]), file=sys.stderr, flush=True
        )
    text = report(results, cases, argv)
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
