"""Reproducing a C loop's float32 sums in numpy.

trt_pose accumulates ``float`` values one after another (``sum += x``). numpy's ``sum`` along a
contiguous axis uses pairwise summation instead, which rounds differently in the last bit, and
the parse must match the C++ bit for bit. Reducing over the *leading* axis of a C-contiguous
``[S, T]`` array is sequential (numpy adds whole rows in order), except that numpy drops a
length-1 trailing axis and then sums the remaining one pairwise, so that case is padded.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sequential_sum"]


def sequential_sum(terms: np.ndarray) -> np.ndarray:
    """``terms[0] + terms[1] + ...`` over axis 0, left to right, in the array's dtype.

    ``terms`` is a C-contiguous ``[S, T]`` array; returns ``[T]``.
    """
    terms = np.ascontiguousarray(terms)
    if terms.shape[1] >= 2:
        return np.add.reduce(terms, axis=0)
    padded = np.zeros((terms.shape[0], 2), dtype=terms.dtype)
    padded[:, : terms.shape[1]] = terms
    return np.add.reduce(padded, axis=0)[: terms.shape[1]]
