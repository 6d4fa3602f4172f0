"""trt_pose's Munkres (Hungarian) solver, replayed step for step for identical tie-breaking.

A score matrix usually has one best assignment, but not always (equal scores, plateaus of zero
PAF, float32 rounding), and which optimum a solver returns depends on its scan order and its
arithmetic. trt_pose's ``munkres.cpp`` is the classic star/prime/cover formulation with a few
quirks that decide its answer, so this module follows it exactly:

- the cost is ``-score`` in float32, every update is a float32 operation, and zeros are tested
  with ``== 0`` after them;
- rows are reduced by their minimum only when ``ncols >= nrows``, columns only when
  ``ncols <= nrows`` (:func:`reduce_costs`);
- zeros are then starred greedily in row-major order, which already finishes most problems
  (:func:`star_greedily`);
- each priming pass scans row-major from the top and, after covering a row, *continues* from
  where it was instead of restarting, so zeros uncovered above the cursor wait for the next
  pass (:func:`_prime_pass`);
- the cost update adds the minimum to covered rows first, then subtracts it from uncovered
  columns (:meth:`_Group._shift`).

The assignment stage hands over all links of a frame at once, as a padded ``[L, A, B]`` batch,
so the array steps run once per batch instead of once per link: the reductions and the greedy
starring for all problems, then the cost updates of the unfinished ones in lockstep, while
the scalar steps (priming passes over the zeros, augmenting paths) run per problem in plain
Python lists, where a numpy call would cost more than the work.
"""

from __future__ import annotations

import math
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["munkres", "reduce_costs", "solve", "star_greedily"]

_F32 = np.float32


def munkres(cost: np.ndarray) -> np.ndarray:
    """Starred column of each row (-1 where a row stays unassigned) for a float32 ``cost``.

    Assigns ``min(nrows, ncols)`` pairs of minimal total cost, choosing among equal optima as
    trt_pose does. ``cost`` must be finite (trt_pose's loop may not end otherwise) and is not
    modified.
    """
    batch = np.array(cost, dtype=_F32)[None]  # a copy: the solver rewrites it
    nrows, ncols = batch.shape[1:]
    if not np.isfinite(batch).all():
        raise ValueError("munkres: the cost matrix must be finite")
    if nrows == 0 or ncols == 0:
        return np.full(nrows, -1, dtype=np.intp)
    sizes = (np.array([nrows]), np.array([ncols]))
    reduce_costs(batch, *sizes)
    return solve(batch, *sizes)[0]


def reduce_costs(cost: np.ndarray, nrows: np.ndarray, ncols: np.ndarray) -> None:
    """trt_pose's initial row/column reductions, in place, for a batch of padded problems.

    ``cost`` is float32 ``[L, A, B]`` holding problem ``l`` in ``[l, :nrows[l], :ncols[l]]``
    and ``+inf`` elsewhere, so padding never wins a minimum and stays ``inf``. Problems that
    skip a reduction subtract 0, which leaves every value as it was.
    """
    if (ncols >= nrows).any():
        low = cost.min(axis=2, keepdims=True)
        low[(ncols < nrows)[:, None, None] | np.isinf(low)] = 0
        cost -= low
    if (ncols <= nrows).any():
        low = cost.min(axis=1, keepdims=True)
        low[(ncols > nrows)[:, None, None] | np.isinf(low)] = 0
        cost -= low


def solve(cost: np.ndarray, nrows: np.ndarray, ncols: np.ndarray) -> np.ndarray:
    """Solve a batch of reduced problems (see :func:`reduce_costs`); ``cost`` is not changed.

    Returns the starred column per row, intp ``[L, A]`` (-1: none, and for padding rows).
    """
    stars = star_greedily(cost == 0)
    short = np.flatnonzero(np.count_nonzero(stars >= 0, axis=1) < np.minimum(nrows, ncols))
    # groups of at most ~32k cells: large fresh arrays page-fault on every call
    per_group = max(1, 32768 // cost[0].size)
    for lo in range(0, short.size, per_group):
        index = short[lo : lo + per_group]
        problems = [_Problem(stars[p, : nrows[p]].tolist(), int(ncols[p])) for p in index]
        _Group(cost[index], problems).run()
        for p, problem in zip(index.tolist(), problems):
            stars[p, : len(problem.row_star)] = problem.row_star
    return stars


def star_greedily(zeros: np.ndarray) -> np.ndarray:
    """Step 1 for a batch ``[L, A, B]`` of zero masks: star, row-major, each zero whose row
    and column hold no star yet. Returns the starred column per row, intp ``[L, A]`` (-1).

    When the first zeros of a problem's rows fall in distinct columns (the usual case), they
    are the stars; only problems where two rows compete go through the scalar scan.
    """
    n_problems, _, width = zeros.shape
    has = zeros.any(axis=2)
    stars = np.where(has, zeros.argmax(axis=2), -1)
    claims = np.bincount((stars + np.arange(n_problems)[:, None] * width)[has])
    if claims.size and claims.max() > 1:
        contested = np.flatnonzero((claims > 1).reshape(-1)) // width
        for p in np.unique(contested).tolist():
            stars[p] = _star_scan(zeros[p])
    return stars


def _star_scan(zeros: np.ndarray) -> List[int]:
    """Step 1 on one problem, as trt_pose loops."""
    stars = [-1] * zeros.shape[0]
    taken = bytearray(zeros.shape[1])
    rows, cols = np.nonzero(zeros)
    for i, j in zip(rows.tolist(), cols.tolist()):
        if stars[i] < 0 and not taken[j]:
            stars[i] = j
            taken[j] = 1
    return stars


class _Problem:
    """One unfinished problem's Munkres state. Scalar steps run on plain lists; the covers are
    views into its :class:`_Group`'s shared buffers, so the batched step 5 reads them as arrays
    without copying."""

    __slots__ = ("col_cover", "col_star", "new_phase", "prime", "row_cover", "row_star", "zeros")

    def __init__(self, row_star: List[int], ncols: int) -> None:
        self.row_star = row_star
        self.col_star = [-1] * ncols
        for i, j in enumerate(row_star):
            if j >= 0:
                self.col_star[j] = i
        self.row_cover = memoryview(bytearray(len(row_star)))
        self.col_cover = memoryview(bytearray(ncols))
        self.prime = [-1] * len(row_star)
        self.zeros: List[Tuple[int, int]] = []
        self.new_phase = True

    def advance(self) -> bool:
        """Run steps 2-4 until the problem is solved (False) or needs step 5 (True)."""
        while True:
            if self.new_phase:  # step 2: cover the starred columns; done when enough
                self.col_cover[:] = bytes(j >= 0 for j in self.col_star)
                if sum(self.col_cover) >= min(len(self.row_star), len(self.col_star)):
                    return False
                self.row_cover[:] = bytes(len(self.row_star))
                self.prime = [-1] * len(self.row_star)
                self.new_phase = False
            found = _prime_pass(
                self.zeros, self.row_star, self.row_cover, self.col_cover, self.prime
            )
            if found is None:
                return True
            _augment(found, self.row_star, self.col_star, self.prime)  # step 4
            self.new_phase = True


class _Group:
    """Problems solved in lockstep: each runs its scalar steps (2-4) until it needs a cost
    update (step 5), then the pending updates of all run as one batched array operation, which
    saves most of numpy's per-call overhead on these small matrices."""

    def __init__(self, cost: np.ndarray, problems: List[_Problem]) -> None:
        n, height, width = cost.shape
        self.cost = cost  # [n, A, B], owned
        self.problems = problems
        rows = bytearray(n * height)
        cols = bytearray(b"\x01" * (n * width))  # padding columns count as covered
        for k, p in enumerate(problems):
            p.row_cover = memoryview(rows)[k * height : k * height + len(p.row_cover)]
            p.col_cover = memoryview(cols)[k * width : k * width + len(p.col_cover)]
        self.row_covered = np.frombuffer(rows, dtype=bool).reshape(n, height, 1)
        self.col_covered = np.frombuffer(cols, dtype=bool).reshape(n, 1, width)

    def run(self) -> None:
        """Solve all problems of the group."""
        self._set_zeros(range(len(self.problems)))
        pending = list(range(len(self.problems)))
        while pending:
            pending = [k for k in pending if self.problems[k].advance()]
            if pending:
                pending = self._shift(pending)

    def _shift(self, pending: List[int]) -> List[int]:
        """Step 5 for each pending problem: add the smallest uncovered cost to the covered
        rows, then subtract it from the uncovered columns (float32, in that order, as the C++
        does). Other problems get a minimum of 0, which changes nothing (``x + 0 == x``).

        A pass can end with uncovered zeros left behind its cursor; the minimum is then 0 too,
        and the next pass finds them. A problem whose minimum is not finite (scores near
        ±FLT_MAX make costs overflow to +inf) stops with the stars it has: the update would
        write NaN and the C++ loops forever. Returns the problems that go on.
        """
        cost = self.cost
        n = cost.shape[0]
        m = np.where(self.row_covered | self.col_covered, np.inf, cost)
        m = m.reshape(n, -1).min(axis=1).astype(_F32).tolist()
        pending = [k for k in pending if math.isfinite(m[k]) and m[k] >= 0]
        mins = [0.0] * n
        for k in pending:
            mins[k] = m[k]
        moved = [k for k in pending if mins[k] > 0]
        if moved:
            m3 = np.array(mins, dtype=_F32).reshape(n, 1, 1)
            cost += np.where(self.row_covered, m3, _F32(0))  # adding 0 changes nothing
            cost -= np.where(self.col_covered, _F32(0), m3)
            self._set_zeros(moved)
        return pending

    def _set_zeros(self, which: Iterable[int]) -> None:
        """Refresh the row-major lists of exact zeros of the problems ``which``."""
        n, height, width = self.cost.shape
        flat = (self.cost == 0).ravel().nonzero()[0]
        problem, cell = np.divmod(flat, height * width)
        rows, cols = np.divmod(cell, width)
        ends = np.searchsorted(problem, np.arange(n + 1)).tolist()
        rows_list, cols_list = rows.tolist(), cols.tolist()
        for k in which:
            lo, hi = ends[k], ends[k + 1]
            self.problems[k].zeros = list(zip(rows_list[lo:hi], cols_list[lo:hi]))


def _prime_pass(
    zeros: Sequence[Tuple[int, int]],
    row_star: List[int],
    row_cover: memoryview,
    col_cover: memoryview,
    prime: List[int],
) -> Optional[Tuple[int, int]]:
    """Step 3: one row-major pass priming uncovered zeros. The first one in a star-free row
    ends it (returned); a starred row is covered and its star's column uncovered instead, and
    the pass goes on from there (zeros before the cursor are not revisited, as in the C++)."""
    for i, j in zeros:
        if row_cover[i] or col_cover[j]:
            continue
        prime[i] = j
        star = row_star[i]
        if star < 0:
            return i, j
        row_cover[i] = 1
        col_cover[star] = 0
    return None


def _augment(
    start: Tuple[int, int], row_star: List[int], col_star: List[int], prime: List[int]
) -> None:
    """Step 4: flip the alternating prime/star path that begins at the prime ``start``."""
    i, j = start
    while col_star[j] >= 0:
        s = col_star[j]
        row_star[s] = -1
        row_star[i] = j
        col_star[j] = i
        i, j = s, prime[s]
    row_star[i] = j
    col_star[j] = i
