"""The parse against trt_pose's own C++ output, stage by stage, on the shared reference vectors.

Each ``.npz`` under ``<shared testdata>/trt_pose_parse`` is one test case (see its README): the
network outputs, the parse parameters, and what ``trt_pose.parse_objects.ParseObjects``
returned. Every stage must match exactly; refined peaks and scores to float32 rounding (in
practice they match bit for bit, which the assignment's exact tie tests rely on).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np
import pytest

import edged.pipelines.pose.score_graph as score_graph_module
from edged.pipelines.pose.parse import (
    assignment,
    connect_parts,
    find_peaks,
    paf_score_graph,
    refine_peaks,
)
from edged.pipelines.pose.topology import Topology


def vectors_dir() -> Path:
    """``$EDGED_SHARED_TESTDATA/trt_pose_parse``, else ``../shared/testdata/...`` beside the
    repository root."""
    root = os.environ.get("EDGED_SHARED_TESTDATA")
    base = (
        Path(root) if root else Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
    )
    return base / "trt_pose_parse"


def vector_params() -> List[Any]:
    files = sorted(vectors_dir().glob("*.npz"))
    if not files:
        reason = "trt_pose reference vectors not found in %s (set EDGED_SHARED_TESTDATA)" % (
            vectors_dir()
        )
        return [pytest.param(None, id="no-vectors", marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(f, id=f.stem) for f in files]


@pytest.fixture(params=vector_params())
def case(request: pytest.FixtureRequest) -> Dict[str, Any]:
    with np.load(request.param) as data:
        d: Dict[str, Any] = {k: data[k] for k in data.files}
    for key in ("cmap_threshold", "link_threshold"):
        d[key] = float(d[key])
    for key in ("cmap_window", "line_integral_samples", "max_num_parts", "max_num_objects"):
        d[key] = int(d[key])
    return d


def padded_score_graph(case: Dict[str, Any]) -> np.ndarray:
    """The stored score graph (cut to the largest peak count) back in trt_pose's [N, K, M, M]."""
    cut = case["score_graph"]
    m = case["max_num_parts"]
    graph = np.zeros((*cut.shape[:2], m, m), dtype=np.float32)
    graph[..., : cut.shape[2], : cut.shape[3]] = cut
    return graph


def test_matches_trt_pose(case: Dict[str, Any]) -> None:
    """Every stage, from the stored inputs of that stage."""
    check_find_peaks(case)
    check_refine_peaks(case)
    check_paf_score_graph(case)
    check_assignment(case)
    check_connect_parts(case)


def test_parse_objects_matches_trt_pose(case: Dict[str, Any], parse_impl: Callable) -> None:
    """The whole parse, with each implementation (numpy and compiled)."""
    check_parse_objects(case, parse_impl)


def check_find_peaks(case: Dict[str, Any]) -> None:
    counts, peaks = find_peaks(
        case["cmap"], case["cmap_threshold"], case["cmap_window"], case["max_num_parts"]
    )
    assert counts.dtype == np.int32 and peaks.dtype == np.int32
    np.testing.assert_array_equal(counts, case["peak_counts"], err_msg="find_peaks: counts")
    np.testing.assert_array_equal(peaks, case["peaks"], err_msg="find_peaks: peaks")


def check_refine_peaks(case: Dict[str, Any]) -> None:
    refined = refine_peaks(case["peak_counts"], case["peaks"], case["cmap"], case["cmap_window"])
    assert refined.dtype == np.float32 and refined.shape == case["normalized_peaks"].shape
    expected = case["normalized_peaks"]
    np.testing.assert_allclose(refined, expected, rtol=0, atol=1e-6, err_msg="refine_peaks")
    np.testing.assert_array_equal(refined, expected, err_msg="refine_peaks (bit for bit)")


def check_paf_score_graph(case: Dict[str, Any]) -> None:
    graph = paf_score_graph(
        case["paf"],
        case["topology"],
        case["peak_counts"],
        case["normalized_peaks"],
        case["line_integral_samples"],
    )
    m = case["max_num_parts"]
    assert graph.dtype == np.float32 and graph.shape == (1, len(case["topology"]), m, m)
    expected = padded_score_graph(case)
    np.testing.assert_allclose(graph, expected, rtol=0, atol=1e-6, err_msg="paf_score_graph")
    np.testing.assert_array_equal(graph, expected, err_msg="paf_score_graph (bit for bit)")


def check_assignment(case: Dict[str, Any]) -> None:
    connections = assignment(
        padded_score_graph(case), case["topology"], case["peak_counts"], case["link_threshold"]
    )
    assert connections.dtype == np.int32
    np.testing.assert_array_equal(connections, case["connections"], err_msg="assignment")


def check_connect_parts(case: Dict[str, Any]) -> None:
    counts, objects = connect_parts(
        case["connections"], case["topology"], case["peak_counts"], case["max_num_objects"]
    )
    assert counts.dtype == np.int32 and objects.dtype == np.int32
    np.testing.assert_array_equal(counts, case["object_counts"], err_msg="connect_parts: counts")
    np.testing.assert_array_equal(objects, case["objects"], err_msg="connect_parts: objects")


def check_parse_objects(case: Dict[str, Any], parse: Callable) -> None:
    counts, objects, peaks = parse(
        case["cmap"],
        case["paf"],
        case["topology"],
        cmap_threshold=case["cmap_threshold"],
        link_threshold=case["link_threshold"],
        cmap_window=case["cmap_window"],
        line_integral_samples=case["line_integral_samples"],
        max_num_parts=case["max_num_parts"],
        max_num_objects=case["max_num_objects"],
    )
    assert (counts.dtype, objects.dtype, peaks.dtype) == (np.int32, np.int32, np.float32)
    np.testing.assert_array_equal(counts, case["object_counts"], err_msg="parse: counts")
    np.testing.assert_array_equal(objects, case["objects"], err_msg="parse: objects")
    np.testing.assert_array_equal(peaks, case["normalized_peaks"], err_msg="parse: peaks")


def test_paf_score_graph_clipped_samples_path(
    case: Dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slower path for samples that may leave the map gives the same scores everywhere."""
    init = score_graph_module._Segments.__init__

    def never_all_inside(self: Any, *args: Any) -> None:
        init(self, *args)
        self.all_inside = False

    monkeypatch.setattr(score_graph_module._Segments, "__init__", never_all_inside)
    graph = paf_score_graph(
        case["paf"],
        case["topology"],
        case["peak_counts"],
        case["normalized_peaks"],
        case["line_integral_samples"],
    )
    np.testing.assert_array_equal(graph, padded_score_graph(case))


def test_vectors_use_the_human_pose_topology(case: Dict[str, Any]) -> None:
    np.testing.assert_array_equal(Topology.human_pose().to_array(), case["topology"])


def test_parse_objects_batches_frames(case: Dict[str, Any], parse_impl: Callable) -> None:
    """Two frames in one call give each frame's own result (the batch axis is independent)."""
    kwargs = dict(
        cmap_threshold=case["cmap_threshold"],
        link_threshold=case["link_threshold"],
        cmap_window=case["cmap_window"],
        line_integral_samples=case["line_integral_samples"],
        max_num_parts=case["max_num_parts"],
        max_num_objects=case["max_num_objects"],
    )
    empty_cmap = np.zeros_like(case["cmap"])
    cmap = np.concatenate([empty_cmap, case["cmap"]])
    paf = np.concatenate([np.zeros_like(case["paf"]), case["paf"]])
    counts, objects, peaks = parse_impl(cmap, paf, Topology.human_pose(), **kwargs)
    assert counts[0] == 0 and (objects[0] == -1).all() and not peaks[0].any()
    np.testing.assert_array_equal(counts[1:], case["object_counts"])
    np.testing.assert_array_equal(objects[1:], case["objects"])
    np.testing.assert_array_equal(peaks[1:], case["normalized_peaks"])
