"""The compiled parse against the numpy parse: bit for bit on random fields, same refusals.

The public vectors run against both implementations in test_parse_vectors.py. Here thousands of
random cmap/paf fields probe what the vectors cannot: map sizes from 1 pixel up, random
topologies (self links, repeated links), plateaus and quantised PAFs that make Munkres ties,
thresholds at and below zero (every pixel of a flat map is a peak, refinement divides by zero),
windows wider than the map, one integral sample, and peak and object limits that clip.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, Tuple

import numpy as np
import pytest

import edged.pipelines.pose.parse as parse_module
from edged.pipelines.pose.parse import parse_objects_numpy, select_implementation
from edged.pipelines.pose.topology import Topology
from tests.pose.conftest import compiled_parse_or_skip

F32 = np.float32
Case = Tuple[np.ndarray, np.ndarray, np.ndarray, Dict[str, Any]]


def random_field(rng: np.random.Generator, shape: Tuple[int, ...]) -> np.ndarray:
    """One of several kinds of map, chosen at random, each reaching different code paths."""
    kind = rng.integers(0, 7)
    if kind == 0:  # smooth noise
        return rng.random(shape, dtype=F32)
    if kind == 1:  # few levels: plateaus (several peaks) and exactly tied scores
        return (rng.integers(0, 4, shape) / F32(4)).astype(F32)
    if kind == 2:  # sparse spikes on zero
        field = np.zeros(shape, dtype=F32)
        mask = rng.random(shape) < 0.05
        field[mask] = rng.random(int(mask.sum()), dtype=F32)
        return field
    if kind == 3:  # signed, as PAFs are
        return rng.normal(0, 1, shape).astype(F32)
    if kind == 4:  # all zero
        return np.zeros(shape, dtype=F32)
    if kind == 5:  # huge but finite
        return (rng.normal(0, 1, shape) * 1e30).astype(F32)
    # near FLT_MAX: sums overflow to inf (non-finite scores never connect)
    return rng.choice(np.array([-3e38, -1e38, 0, 1e38, 3e38], dtype=F32), shape)


def random_case(rng: np.random.Generator) -> Case:
    n = int(rng.integers(1, 3))
    c = int(rng.integers(1, 7))
    h, w = (int(v) for v in rng.integers(1, 33, 2))
    k = int(rng.integers(0, 9))
    f = 2 * k + int(rng.integers(0, 3))
    topology = np.zeros((k, 4), dtype=np.int32)
    if k:
        topology[:, :2] = rng.integers(0, f, (k, 2))
        topology[:, 2:] = rng.integers(0, c, (k, 2))
    params = {
        "cmap_threshold": float(rng.choice([-1.0, 0.0, 0.05, 0.1, 0.3, rng.random()])),
        "link_threshold": float(rng.choice([-1.0, 0.0, 0.1, 0.2, rng.random()])),
        "cmap_window": int(rng.choice([1, 2, 3, 5, 7, 11, 2 * max(h, w) + 3])),
        "line_integral_samples": int(rng.choice([1, 2, 3, 7, 10])),
        "max_num_parts": int(rng.choice([1, 2, 5, 100])),
        "max_num_objects": int(rng.choice([1, 3, 100])),
    }
    return random_field(rng, (n, c, h, w)), random_field(rng, (n, f, h, w)), topology, params


def assert_bit_identical(got: Tuple[np.ndarray, ...], want: Tuple[np.ndarray, ...]) -> None:
    for name, a, b in zip(("object_counts", "objects", "normalized_peaks"), got, want):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name


@pytest.mark.slow
def test_compiled_equals_numpy_on_random_fields() -> None:
    compiled = compiled_parse_or_skip()
    rng = np.random.default_rng(20261206)
    full = linked = 0
    for _ in range(3000):
        cmap, paf, topology, params = random_case(rng)
        with np.errstate(over="ignore", invalid="ignore"):
            want = parse_objects_numpy(cmap, paf, topology, **params)
        got = compiled(cmap, paf, topology, **params)
        assert_bit_identical(got, want)
        full += bool(want[2][:, :, -1].any())  # a part's last peak slot used: at the limit
        linked += bool(((want[1] >= 0).sum(axis=2) > 1).any())  # an object of several parts
    assert full > 100 and linked > 100  # the cases reach the limits and the grouping


def test_compiled_equals_numpy_on_crowded_human_pose_maps() -> None:
    """Full-size maps with the human-pose topology, many peaks per part (up to the limit)."""
    compiled = compiled_parse_or_skip()
    rng = np.random.default_rng(7)
    topology = Topology.human_pose().to_array()
    saw_limit = False
    for trial in range(40):
        cmap = rng.random((1, 18, 56, 56), dtype=F32) ** 4
        paf = (rng.integers(-2, 3, (1, 42, 56, 56)) / F32(2)).astype(F32)
        params = dict(cmap_threshold=0.05 * (trial % 4), cmap_window=3, max_num_parts=30)
        want = parse_objects_numpy(cmap, paf, topology, **params)
        assert_bit_identical(compiled(cmap, paf, topology, **params), want)
        saw_limit |= bool((want[2][0, :, -1] != 0).any())
    assert saw_limit


def test_compiled_equals_numpy_on_a_tall_map() -> None:
    """A peak just under the bottom edge of a 12000-row map, linked to a distant one: the last
    sample between them rounds up to row 12000, outside the map (counts 0 in both parses; the
    numpy parse once read it from the next PAF channel's first row, here -50)."""
    compiled = compiled_parse_or_skip()
    h = 12000
    cmap = np.zeros((1, 2, h, 1), dtype=F32)
    cmap[0, 0, 100:102, 0] = [1, F32(0.11246123)]  # refines to row 100.601074
    cmap[0, 1, h - 3 :, 0] = [F32(-0.6999997), 1, 0.5]  # to 11999.999 (the float below h)
    paf = np.zeros((1, 3, h, 1), dtype=F32)
    paf[0, 0] = 0.3
    paf[0, 1, 0] = -50
    topology = np.array([[0, 1, 0, 1]], dtype=np.int32)
    params = dict(cmap_threshold=0.1, link_threshold=0.1, cmap_window=3)
    want = parse_objects_numpy(cmap, paf, topology, **params)
    rows = want[2][0, :, 0, 0] * F32(h)
    assert rows[0] == F32(100.601074) and h - 1 < rows[1] < h  # the case still reaches the edge
    assert want[0][0] == 1 and (want[1][0, 0] == 0).all()  # linked: the score is 6 x 0.3 / 7
    assert_bit_identical(compiled(cmap, paf, topology, **params), want)


@pytest.mark.parametrize("where", ["cmap", "paf"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_refused(parse_impl: Callable, where: str, bad: float) -> None:
    cmap = np.zeros((1, 18, 8, 8), dtype=F32)
    paf = np.zeros((1, 42, 8, 8), dtype=F32)
    (cmap if where == "cmap" else paf)[0, 3, 5, 6] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        parse_impl(cmap, paf, Topology.human_pose())


@pytest.mark.parametrize("index", [0, 7, 8, 15, 16, 95, 96, 104])
def test_non_finite_values_are_found_anywhere(parse_impl: Callable, index: int) -> None:
    """Every position, in the vectorised blocks and in the tail (3 x 5 x 7 = 105 values)."""
    topology = np.array([[0, 1, 0, 1], [2, 1, 1, 0]], dtype=np.int32)
    for where in ("cmap", "paf"):
        cmap = np.zeros((1, 3, 5, 7), dtype=F32)
        paf = np.zeros((1, 3, 5, 7), dtype=F32)
        (cmap if where == "cmap" else paf).reshape(-1)[index] = np.nan
        with pytest.raises(ValueError, match="NaN or infinite"):
            parse_impl(cmap, paf, topology)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(cmap=np.zeros((18, 8, 8))), r"\[N, C, H, W\]"),
        (dict(paf=np.zeros((1, 42, 8, 9))), "batch or map size"),
        (dict(paf=np.zeros((2, 42, 8, 8))), "batch or map size"),
        (dict(paf=np.zeros((1, 40, 8, 8))), "PAF channels"),
        (dict(cmap=np.zeros((1, 17, 8, 8))), "cmap channels"),
        (dict(cmap=np.zeros((1, 18, 0, 8)), paf=np.zeros((1, 42, 0, 8))), "empty map"),
        (dict(topology=np.zeros((21, 3))), r"\[K, 4\]"),
        (dict(cmap_window=0), "cmap_window"),
        (dict(cmap_window=2.5), "cmap_window must be an integer"),
        (dict(line_integral_samples=0), "line_integral_samples"),
        (dict(max_num_parts=0), "max_num_parts"),
        (dict(max_num_objects=-1), "max_num_objects"),
        (dict(max_num_parts=10001), "max_num_parts must be between 1 and 10000"),
    ],
)
def test_bad_shapes_and_parameters_are_refused(
    parse_impl: Callable, change: Dict[str, Any], message: str
) -> None:
    args: Dict[str, Any] = dict(
        cmap=np.zeros((1, 18, 8, 8), dtype=F32),
        paf=np.zeros((1, 42, 8, 8), dtype=F32),
        topology=Topology.human_pose().to_array(),
    )
    args.update(change)
    with pytest.raises(ValueError, match=message):
        parse_impl(**args)


def extension_args(**change: Any) -> Dict[str, Any]:
    args: Dict[str, Any] = dict(
        cmap=np.zeros((1, 2, 4, 4), dtype=F32),
        paf=np.zeros((1, 2, 4, 4), dtype=F32),
        topology=np.array([[0, 1, 0, 1]], dtype=np.int32),
        cmap_threshold=0.1,
        link_threshold=0.1,
        cmap_window=3,
        samples=7,
        object_counts=np.zeros(1, dtype=np.int32),
        objects=np.zeros((1, 5, 2), dtype=np.int32),
        normalized_peaks=np.zeros((1, 2, 5, 2), dtype=F32),
    )
    args.update(change)
    return args


def shared(size: int, dtype: Any, *shapes: Tuple[int, ...]) -> Tuple[np.ndarray, ...]:
    """Views, in the given shapes, of the start of one array of ``size`` elements."""
    base = np.zeros(size, dtype=dtype)
    return tuple(base[: int(np.prod(shape))].reshape(shape) for shape in shapes)


_TOPOLOGY_AS_OBJECTS = shared(4, np.int32, (1, 4), (1, 2, 2))
_TOPOLOGY_AS_OBJECTS[0][:] = [[0, 1, 0, 1]]  # a valid topology: only the aliasing is wrong
_CMAP_AS_PEAKS = shared(32, F32, (1, 2, 4, 4), (1, 2, 5, 2))
_COUNTS_IN_OBJECTS = shared(10, np.int32, (1, 5, 2), (1,))
_PAF_AS_TIMINGS = np.zeros((1, 2, 4, 4), dtype=F32)

HOSTILE_CALLS = [
    (dict(cmap=np.zeros((1, 2, 4, 4))), "cmap: expected dtype float32"),
    (dict(cmap=np.zeros((1, 2, 4, 8), dtype=F32)[..., ::2]), "cmap: expected a C-contig"),
    (dict(cmap=np.zeros((2, 4, 4), dtype=F32)), "cmap: expected 4 dimensions"),
    (dict(cmap=b"\0" * 128), "cmap: expected dtype float32"),
    (dict(topology=np.array([[0, 2, 0, 1]], dtype=np.int32)), "PAF channels"),
    (dict(topology=np.array([[0, 1, -1, 1]], dtype=np.int32)), "cmap channels"),
    (dict(topology=np.array([[0, 1, 0, 1]], dtype=np.int64)), "topology: expected dtype"),
    (dict(objects=np.zeros((1, 5, 3), dtype=np.int32)), "outputs must be"),
    (dict(normalized_peaks=np.zeros((1, 2, 5, 3), dtype=F32)), "outputs must be"),
    (dict(object_counts=np.zeros(2, dtype=np.int32)), "outputs must be"),
    (dict(objects=np.zeros((1, 5, 2), dtype=np.int32)[:, :, ::-1]), "objects: expected"),
    (dict(cmap_window=0), "cmap_window"),
    (dict(samples=0), "line_integral_samples"),
    (dict(normalized_peaks=np.zeros((1, 2, 10001, 2), dtype=F32)), "max_num_parts and"),
    (dict(objects=np.zeros((1, 0, 2), dtype=np.int32)), "max_num_parts and"),
    (dict(timings=np.zeros(4)), "timings: expected 5"),
    (dict(timings=np.zeros(5, dtype=F32)), "timings: expected dtype float64"),
    # outputs sharing memory with the inputs: the parse would overwrite the topology with -1
    # after checking it, then index with it
    (
        dict(topology=_TOPOLOGY_AS_OBJECTS[0], objects=_TOPOLOGY_AS_OBJECTS[1]),
        "objects overlaps topology in memory",
    ),
    (
        dict(cmap=_CMAP_AS_PEAKS[0], normalized_peaks=_CMAP_AS_PEAKS[1]),
        "normalized_peaks overlaps cmap",
    ),
    (
        dict(objects=_COUNTS_IN_OBJECTS[0], object_counts=_COUNTS_IN_OBJECTS[1]),
        "object_counts overlaps objects",
    ),
    (
        dict(paf=_PAF_AS_TIMINGS, timings=_PAF_AS_TIMINGS.reshape(-1).view(np.float64)[:5]),
        "timings overlaps paf",
    ),
]
"""Calls of ``_parse.parse`` it must refuse, and how (also run under the sanitizers)."""


@pytest.mark.parametrize("change, message", HOSTILE_CALLS)
def test_extension_checks_its_arguments_before_touching_memory(
    change: Dict[str, Any], message: str
) -> None:
    """The extension itself refuses hostile calls (not only through the Python wrapper)."""
    compiled_parse_or_skip()
    from edged.pipelines.pose import _parse

    with pytest.raises(ValueError, match=message):
        _parse.parse(*extension_args(**change).values())


def test_extension_adds_each_stage_time_to_timings() -> None:
    """The bench's stage split: seconds per stage, added to what the array held."""
    compiled_parse_or_skip()
    from edged.pipelines.pose import _parse

    rng = np.random.default_rng(3)
    args = extension_args(
        cmap=rng.random((1, 2, 16, 16), dtype=F32), paf=rng.random((1, 2, 16, 16), dtype=F32)
    )
    timings = np.full(5, 10.0)
    _parse.parse(*args.values(), timings)
    assert (timings >= 10.0).all() and timings.sum() > 50.0
    assert (timings - 10.0 < 1.0).all()


def test_extension_refuses_read_only_outputs() -> None:
    compiled_parse_or_skip()
    from edged.pipelines.pose import _parse

    objects = np.zeros((1, 5, 2), dtype=np.int32)
    objects.setflags(write=False)
    with pytest.raises(ValueError, match="objects: expected a C-contiguous writable"):
        _parse.parse(*extension_args(objects=objects).values())


def test_compiled_parse_releases_the_gil() -> None:
    """While a crowded batch parses on one thread, another thread keeps running.

    One call of at least 50 ms (the batch doubles until it takes that long), so that a held
    GIL would stop the other thread for many switch intervals (5 ms), not only one.
    """
    compiled = compiled_parse_or_skip()
    rng = np.random.default_rng(1)
    frame_cmap = np.zeros((1, 18, 64, 64), dtype=F32)
    frame_cmap[..., ::3, ::3] = rng.random((1, 18, 22, 22), dtype=F32) + 0.5  # 100 per part
    frame_paf = rng.random((1, 42, 64, 64), dtype=F32)
    topology = Topology.human_pose().to_array()
    frames, took = 1, 0.0
    while True:
        cmap, paf = np.repeat(frame_cmap, frames, 0), np.repeat(frame_paf, frames, 0)
        start = time.perf_counter()
        compiled(cmap, paf, topology)
        took = time.perf_counter() - start
        if took >= 0.05 or frames >= 256:
            break
        frames *= 2
    assert took >= 0.05, "%d frames parsed in %.1f ms" % (frames, 1e3 * took)
    span = {}

    def work() -> None:
        span["start"] = time.perf_counter()
        compiled(cmap, paf, topology)
        span["end"] = time.perf_counter()

    ticks = []
    thread = threading.Thread(target=work, name="parse")
    thread.start()
    while thread.is_alive():
        ticks.append(time.perf_counter())
    thread.join()
    # The longest stretch in which this thread did not run: were the GIL held, nearly the whole
    # parse (this thread waits from the call until the GIL comes back, a switch interval after
    # the parse returns); released, a few scheduling slices.
    during = [span["start"]] + [t for t in ticks if span["start"] < t < span["end"]]
    stalled = max(np.diff([*during, span["end"]]))
    parsing = span["end"] - span["start"]
    assert stalled < parsing / 2, (
        "this thread stood still for %.1f ms of a %.1f ms parse: the GIL was held"
        % (1e3 * stalled, 1e3 * parsing)
    )


def parse_while_topology_changes(parse: Callable, seconds: float) -> Tuple[int, int]:
    """Calls ``parse`` (``_parse.parse``) for ``seconds`` while another thread keeps writing
    a part index far out of range into the topology and putting the valid one back.

    Each call sees either value when it checks the topology, and refuses the bad one; a call
    that accepted it parses with that topology to the end, whatever the array holds by then,
    because the stages (which index memory with it) read only the copy that was checked.
    Returns (calls parsed, calls refused); every parse must equal the undisturbed one.
    """
    rng = np.random.default_rng(11)
    cmap = np.zeros((1, 2, 16, 16), dtype=F32)
    cmap[..., ::3, ::3] = rng.random((1, 2, 6, 6), dtype=F32) + 0.5
    paf = rng.random((1, 2, 16, 16), dtype=F32)
    topology = np.array([[0, 1, 0, 1]], dtype=np.int32)

    def call() -> Tuple[np.ndarray, ...]:
        outputs = (
            np.zeros(1, dtype=np.int32),
            np.zeros((1, 10, 2), dtype=np.int32),
            np.zeros((1, 2, 40, 2), dtype=F32),
        )
        parse(cmap, paf, topology, 0.1, 0.1, 3, 7, *outputs)
        return outputs

    want = call()
    assert want[0][0] > 0
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            topology[0, 2] = -100000
            topology[0, 2] = 0

    writer = threading.Thread(target=write, name="topology writer")
    writer.start()
    parsed = refused = 0
    deadline = time.perf_counter() + seconds
    try:
        while time.perf_counter() < deadline or not parsed:
            try:
                got = call()
            except ValueError as exc:
                assert "names parts outside" in str(exc)
                refused += 1
                continue
            assert all(a.tobytes() == b.tobytes() for a, b in zip(got, want))
            parsed += 1
    finally:
        stop.set()
        writer.join()
    return parsed, refused


def test_extension_reads_only_its_checked_copy_of_the_topology() -> None:
    compiled_parse_or_skip()
    from edged.pipelines.pose import _parse

    parsed, _refused = parse_while_topology_changes(_parse.parse, 0.3)
    assert parsed


def test_selection_prefers_compiled_and_obeys_the_environment(
    monkeypatch: pytest.MonkeyPatch, fresh_selection: None
) -> None:
    compiled_parse_or_skip()
    assert select_implementation("auto")[0] == "compiled"
    assert select_implementation("numpy") == ("numpy", parse_objects_numpy)
    monkeypatch.setenv("EDGED_POSE_PARSE", "numpy")
    assert parse_module.implementation() == "numpy"
    with pytest.raises(ValueError, match="expected auto, compiled or numpy"):
        select_implementation("fortran")


def test_selection_falls_back_to_numpy_when_not_built(compiled_parse_missing: None) -> None:
    assert select_implementation("auto") == ("numpy", parse_objects_numpy)
    with pytest.raises(ImportError, match="EDGED_POSE_PARSE=compiled but the compiled parse"):
        select_implementation("compiled")


def test_choice_is_logged_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, fresh_selection: None
) -> None:
    monkeypatch.setenv("EDGED_POSE_PARSE", "numpy")
    cmap, paf = np.zeros((1, 18, 8, 8), dtype=F32), np.zeros((1, 42, 8, 8), dtype=F32)
    with caplog.at_level(logging.INFO, logger="edged.pipelines.pose.parse"):
        for _ in range(3):
            parse_module.parse_objects(cmap, paf, Topology.human_pose())
    lines = [r.getMessage() for r in caplog.records if "pose parse" in r.getMessage()]
    assert lines == ["pose parse: numpy implementation"]
