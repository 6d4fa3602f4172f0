"""Stage-level properties of the parse, beyond the reference vectors.

The vectorised stages are checked against plain scalar loops written the way trt_pose's C++
reads (float32 throughout), on random inputs chosen to hit borders, plateaus, ties, tiny
problems and odd shapes.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import List, Tuple

import numpy as np
import pytest

from edged.pipelines.pose.exact import sequential_sum
from edged.pipelines.pose.munkres import munkres
from edged.pipelines.pose.parse import (
    assignment,
    connect_parts,
    find_peaks,
    paf_score_graph,
    parse_objects,
    refine_peaks,
)
from edged.pipelines.pose.topology import Topology

F32 = np.float32


# --- scalar references ---------------------------------------------------------------------


def ref_refine(cmap: np.ndarray, i: int, j: int, window: int) -> Tuple[float, float]:
    h, w = cmap.shape
    r = window // 2

    def reflect(k: int, size: int) -> int:
        return -k if k < 0 else (2 * size - k - 2 if k >= size else k)

    y = x = total = F32(0)
    for ii in range(i - r, i + r + 1):
        for jj in range(j - r, j + r + 1):
            weight = cmap[reflect(ii, h), reflect(jj, w)]
            y = F32(y + weight * F32(ii))
            x = F32(x + weight * F32(jj))
            total = F32(total + weight)
    return float((y / total + F32(0.5)) / F32(h)), float((x / total + F32(0.5)) / F32(w))


def ref_score(paf_y: np.ndarray, paf_x: np.ndarray, a: np.ndarray, b: np.ndarray, n: int) -> float:
    h, w = paf_y.shape
    ay, ax = F32(a[0]) * F32(h), F32(a[1]) * F32(w)
    dy, dx = F32(b[0]) * F32(h) - ay, F32(b[1]) * F32(w) - ax
    norm = F32(float(np.sqrt(F32(dy * dy + dx * dx))) + 1e-5)
    uy, ux = F32(dy / norm), F32(dx / norm)
    total = F32(0)
    for t in range(n):
        progress = F32(F32(t) / F32(n - 1))
        py, px = F32(ay + F32(progress * dy)), F32(ax + F32(progress * dx))
        iy, ix = int(py), int(px)
        if 0 <= iy < h and 0 <= ix < w:
            total = F32(total + F32(paf_y[iy, ix] * uy + paf_x[iy, ix] * ux))
    return float(total / F32(n))


def ref_munkres(score: np.ndarray) -> List[int]:
    """trt_pose's munkres.cpp as scalar loops, on cost = -score."""
    c = (-score).astype(F32)
    nr, nc = c.shape
    if nc >= nr:
        c -= c.min(axis=1, keepdims=True)
    step = 1 if nc > nr else 0
    if step == 0:
        c -= c.min(axis=0, keepdims=True)
    star_r, star_c, prime_r = [-1] * nr, [-1] * nc, [-1] * nr
    cov_r, cov_c = [False] * nr, [False] * nc
    for i in range(nr):
        for j in range(nc):
            if star_r[i] < 0 and star_c[j] < 0 and c[i, j] == 0:
                star_r[i], star_c[j] = j, i
    while True:
        cov_c = [s >= 0 for s in star_c]
        if sum(cov_c) >= min(nr, nc):
            return star_r
        while True:
            p = None
            for i in range(nr):
                for j in range(nc):
                    if c[i, j] == 0 and not cov_r[i] and not cov_c[j]:
                        prime_r[i] = j
                        if star_r[i] >= 0:
                            cov_r[i], cov_c[star_r[i]] = True, False
                        else:
                            p = (i, j)
                            break
                if p:
                    break
            if p:
                break
            m = min(c[i, j] for i in range(nr) for j in range(nc) if not cov_r[i] and not cov_c[j])
            for i in range(nr):
                if cov_r[i]:
                    c[i] += m
            for j in range(nc):
                if not cov_c[j]:
                    c[:, j] -= m
        i, j = p
        while star_c[j] >= 0:
            s = star_c[j]
            star_r[s] = -1
            star_r[i], star_c[j] = j, i
            i, j = s, prime_r[s]
        star_r[i], star_c[j] = j, i
        cov_r, prime_r = [False] * nr, [-1] * nr


def ref_connect(connections: np.ndarray, topology: np.ndarray, counts: np.ndarray, p: int):
    num_parts = counts.size
    objects = np.full((p, num_parts), -1, dtype=np.int32)
    visited = set()
    n = 0
    for c in range(num_parts):
        for i in range(counts[c]):
            if n >= p:
                return n, objects
            queue, new = deque([(c, i)]), False
            while queue:
                cn, ie = queue.popleft()
                if (cn, ie) in visited:
                    continue
                visited.add((cn, ie))
                new = True
                objects[n, cn] = ie
                for k, (_, _, ca, cb) in enumerate(topology):
                    if ca == cn and connections[k, 0, ie] >= 0:
                        queue.append((cb, connections[k, 0, ie]))
                    if cb == cn and connections[k, 1, ie] >= 0:
                        queue.append((ca, connections[k, 1, ie]))
            n += new
    return n, objects


# --- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 2, 3, 9])
def test_sequential_sum_is_left_to_right(width: int) -> None:
    rng = np.random.default_rng(width)
    for _ in range(200):
        terms = (rng.standard_normal((25, width)) * 10.0 ** rng.integers(-4, 5, (25, 1))).astype(
            F32
        )
        expected = np.zeros(width, dtype=F32)
        for row in terms:
            expected = expected + row
        np.testing.assert_array_equal(sequential_sum(terms), expected)


def test_plateau_yields_every_pixel_and_threshold_is_inclusive() -> None:
    cmap = np.zeros((1, 2, 9, 9), dtype=F32)
    cmap[0, 0, 3:5, 3:5] = 0.5  # a 2 x 2 plateau: four peaks
    cmap[0, 1, 0, 0] = F32(0.1)  # exactly at the threshold
    counts, peaks = find_peaks(cmap, 0.1, 5, 100)
    assert counts.tolist() == [[4, 1]]
    assert peaks[0, 0, :4].tolist() == [[3, 3], [3, 4], [4, 3], [4, 4]]
    assert peaks[0, 1, 0].tolist() == [0, 0]


def test_find_peaks_keeps_the_first_in_raster_order() -> None:
    cmap = np.zeros((1, 1, 8, 8), dtype=F32)
    cmap[0, 0, ::3, ::3] = np.arange(9, dtype=F32).reshape(3, 3) + 1
    counts, peaks = find_peaks(cmap, 0.1, 3, 4)
    assert counts.tolist() == [[4]]
    assert peaks[0, 0].tolist() == [[0, 0], [0, 3], [0, 6], [3, 0]]


@pytest.mark.parametrize("window", [1, 2, 3, 4, 5, 11])
def test_find_peaks_matches_a_brute_force_scan(window: int) -> None:
    rng = np.random.default_rng(window)
    cmap = rng.random((2, 3, 13, 10)).astype(F32).round(1)  # rounding makes plateaus
    counts, peaks = find_peaks(cmap, 0.3, window, 100)
    r = window // 2
    for n, c in itertools.product(range(2), range(3)):
        m = cmap[n, c]
        found = [
            [i, j]
            for i in range(13)
            for j in range(10)
            if m[i, j] >= F32(0.3)
            and not (m[max(i - r, 0) : i + r + 1, max(j - r, 0) : j + r + 1] > m[i, j]).any()
        ]
        found = found[:100]
        assert counts[n, c] == len(found)
        assert peaks[n, c, : len(found)].tolist() == found


@pytest.mark.parametrize(
    "shape,window", [((20, 20), 5), ((9, 14), 5), ((12, 12), 11), ((7, 30), 3)]
)
def test_refine_peaks_matches_scalar_loops(shape: Tuple[int, int], window: int) -> None:
    rng = np.random.default_rng(sum(shape) + window)
    cmap = rng.random((1, 4, *shape)).astype(F32)
    cmap[0, :, 0, 0] = 2.0  # border peaks exercise the reflection
    cmap[0, :, -1, -1] = 2.0
    counts, peaks = find_peaks(cmap, 0.5, window, 100)
    refined = refine_peaks(counts, peaks, cmap, window)
    for c in range(4):
        for k in range(counts[0, c]):
            i, j = peaks[0, c, k]
            assert tuple(refined[0, c, k].tolist()) == ref_refine(cmap[0, c], i, j, window)
    assert not refined[0, 0, counts[0, 0] :].any()


@pytest.mark.parametrize("samples", [2, 5, 7, 9])
def test_paf_score_graph_matches_scalar_loops(samples: int) -> None:
    rng = np.random.default_rng(samples)
    topology = np.array([[0, 1, 0, 1], [2, 3, 1, 2], [4, 5, 2, 0]], dtype=np.int32)
    paf = rng.uniform(-1, 1, (1, 6, 11, 16)).astype(F32)
    counts = np.array([[3, 1, 4]], dtype=np.int32)
    peaks = np.zeros((1, 3, 6, 2), dtype=F32)
    for c in range(3):
        # some peaks slightly outside the map: samples there are skipped
        peaks[0, c, : counts[0, c]] = rng.uniform(-0.05, 1.05, (counts[0, c], 2))
    graph = paf_score_graph(paf, topology, counts, peaks, samples)
    for k, (py, px, ca, cb) in enumerate(topology):
        for a in range(counts[0, ca]):
            for b in range(counts[0, cb]):
                expected = ref_score(
                    paf[0, py], paf[0, px], peaks[0, ca, a], peaks[0, cb, b], samples
                )
                assert graph[0, k, a, b] == F32(expected)
    assert not graph[0, :, 4:].any() and not graph[0, 0, :, 1:].any()


def brute_force_best(score: np.ndarray) -> float:
    nr, nc = score.shape
    if nr <= nc:
        return max(
            sum(score[i, p[i]] for i in range(nr)) for p in itertools.permutations(range(nc), nr)
        )
    return max(
        sum(score[p[j], j] for j in range(nc)) for p in itertools.permutations(range(nr), nc)
    )


@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (4, 1), (2, 2), (3, 3), (3, 5), (5, 3), (6, 6)])
def test_munkres_is_optimal_and_breaks_ties_like_trt_pose(shape: Tuple[int, int]) -> None:
    rng = np.random.default_rng(shape[0] * 10 + shape[1])
    for trial in range(150):
        if trial % 3 == 0:  # many exact ties
            score = rng.integers(-2, 3, shape).astype(F32) / F32(4)
        elif trial % 3 == 1:
            score = np.zeros(shape, dtype=F32)
            score[rng.random(shape) < 0.3] = 0.5
        else:
            score = rng.uniform(-1, 1, shape).astype(F32)
        stars = munkres(-score)
        assert stars.tolist() == ref_munkres(score)
        assigned = [(i, j) for i, j in enumerate(stars.tolist()) if j >= 0]
        assert len(assigned) == min(shape)
        assert len({j for _, j in assigned}) == len(assigned)
        total = sum(float(score[i, j]) for i, j in assigned)
        assert total == pytest.approx(brute_force_best(score.astype(np.float64)), abs=1e-5)


def test_munkres_larger_problems_match_the_scalar_loops() -> None:
    rng = np.random.default_rng(3)
    for shape in [(12, 15), (15, 12), (20, 20), (9, 30)]:
        score = (rng.integers(0, 6, shape) / 5 + rng.normal(0, 1e-3, shape)).astype(F32)
        score[:, ::3] = score[:, :1]  # repeated columns: ties between whole assignments
        assert munkres(-score).tolist() == ref_munkres(score)


def test_assignment_threshold_is_strict_and_non_finite_scores_never_connect() -> None:
    topology = np.array([[0, 1, 0, 1]], dtype=np.int32)
    counts = np.array([[3, 3]], dtype=np.int32)
    graph = np.zeros((1, 1, 4, 4), dtype=F32)
    graph[0, 0, :3, :3] = [[F32(0.1), 0, 0], [0, np.nan, 0], [0, 0, np.inf]]
    connections = assignment(graph, topology, counts, 0.1)
    assert connections[0, 0].tolist() == [[-1, -1, -1, -1], [-1, -1, -1, -1]]
    graph[0, 0, 0, 0] = np.nextafter(F32(0.1), F32(1))
    connections = assignment(graph, topology, counts, 0.1)
    assert connections[0, 0].tolist() == [[0, -1, -1, -1], [0, -1, -1, -1]]


def test_connect_parts_matches_trt_pose_walk_on_random_graphs() -> None:
    """Random connections on the human skeleton (which has cycles), so that components often
    hold two peaks of one part and the walk order decides which one the object keeps."""
    rng = np.random.default_rng(11)
    topology = Topology.human_pose().to_array()
    for trial in range(60):
        counts = rng.integers(0, 5, (1, 18)).astype(np.int32)
        connections = np.full((1, 21, 2, 8), -1, dtype=np.int32)
        for k, (_, _, ca, cb) in enumerate(topology):
            n = min(counts[0, ca], counts[0, cb])
            if n:
                a = rng.permutation(counts[0, ca])[:n]
                b = rng.permutation(counts[0, cb])[:n]
                keep = rng.random(n) < 0.7
                connections[0, k, 0, a[keep]] = b[keep]
                connections[0, k, 1, b[keep]] = a[keep]
        max_objects = 100 if trial % 2 else 5
        n_objects, objects = connect_parts(connections, topology, counts, max_objects)
        expected_n, expected = ref_connect(connections[0], topology, counts[0], max_objects)
        assert n_objects.tolist() == [expected_n]
        np.testing.assert_array_equal(objects[0], expected)


def test_parse_objects_rejects_mismatched_inputs() -> None:
    topology = Topology.human_pose()
    cmap = np.zeros((1, 18, 8, 8), dtype=F32)
    with pytest.raises(ValueError, match="batch or map size"):
        parse_objects(cmap, np.zeros((1, 42, 8, 9), dtype=F32), topology)
    with pytest.raises(ValueError, match="PAF channels"):
        parse_objects(cmap, np.zeros((1, 40, 8, 8), dtype=F32), topology)
    with pytest.raises(ValueError, match="cmap channels"):
        parse_objects(cmap[:, :17], np.zeros((1, 42, 8, 8), dtype=F32), topology)
    with pytest.raises(ValueError, match=r"\[K, 4\]"):
        parse_objects(cmap, np.zeros((1, 42, 8, 8), dtype=F32), np.zeros((21, 3)))


@pytest.mark.timeout(20)
def test_assignment_stops_when_costs_overflow() -> None:
    """Scores near ±FLT_MAX overflow the reduced costs to +inf; the solver then stops with the
    stars it has (trt_pose's C++ loops forever, and so did this replay once)."""
    topology = np.array([[0, 1, 0, 1]], dtype=np.int32)
    counts = np.array([[2, 2]], dtype=np.int32)
    graph = np.zeros((1, 1, 2, 2), dtype=F32)
    graph[0, 0] = [[3e38, -3e38], [3e38, -3e38]]
    with np.errstate(over="ignore", invalid="ignore"):
        connections = assignment(graph, topology, counts, 0.1)
    assert connections[0, 0, 0, :2].tolist() == [0, -1]
