"""Per-engine inference metrics: counts, latency and throughput.

``record`` is on the hot path, right after a multi-millisecond model call
has flushed the CPU caches, so it touches as little memory as it can: one
object with ``__slots__`` and one slot in each of two preallocated rings of
C doubles (``array('d')``; no float objects kept alive). It takes no lock of
its own: the engine calls it under its run lock, which already serialises
calls (measured: a second lock round-trip costs about 10 us on a cold cache,
a third of edged's whole per-call cost). ``snapshot`` may therefore see a
call half-recorded (its count but not yet its latency); every single read is
atomic under the GIL, so the worst case is a summary one call out of date.
The sorting for percentiles happens in ``snapshot``, which the
status API calls a few times a minute. min/mean/max cover every call since
the engine loaded; p50/p99 and throughput cover the recent window (the last
``window`` calls), which is what an operator looking at a live device wants.
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from typing import Any, Dict, Optional

__all__ = ["EngineMetrics"]


class EngineMetrics:
    """Latency bookkeeping for one engine; ``snapshot`` may run on any thread."""

    __slots__ = (
        "_clock",
        "_latencies",
        "_lock",
        "_max_s",
        "_min_s",
        "_next",
        "_starts",
        "_total_s",
        "_window",
        "count",
        "errors",
    )

    def __init__(self, window: int = 1024, clock=time.perf_counter) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self._clock = clock
        self._lock = threading.Lock()
        self._window = window
        self._starts = array("d", bytes(8 * window))
        self._latencies = array("d", bytes(8 * window))
        self._reset()

    def _reset(self) -> None:
        self._next = 0  # calls recorded into the rings so far (ring index = _next % window)
        self.count = 0
        self.errors = 0
        self._total_s = 0.0
        self._min_s = math.inf
        self._max_s = 0.0

    def record(self, start: float, end: float) -> None:
        """Record one successful call from ``start`` to ``end`` (clock seconds).

        Not re-entrant: callers serialise it (``Engine.infer`` holds its run lock).
        """
        latency = end - start
        slot = self._next % self._window
        self._starts[slot] = start
        self._latencies[slot] = latency
        self._next += 1
        self.count += 1
        self._total_s += latency
        if latency < self._min_s:
            self._min_s = latency
        if latency > self._max_s:
            self._max_s = latency

    def record_error(self) -> None:
        """Count a call that raised (bad input or backend failure)."""
        with self._lock:
            self.errors += 1

    def reset(self) -> None:
        """Forget everything (used after warmup, whose first calls are not representative)."""
        with self._lock:
            self._reset()

    def snapshot(self, now: Optional[float] = None) -> Dict[str, Any]:
        """Return a JSON-able summary; latencies in milliseconds.

        Throughput is the number of calls in the window divided by the time
        from the oldest of them to ``now``, so it decays when calls stop
        instead of freezing at the last busy rate.
        """
        with self._lock:
            filled = min(self._next, self._window)
            latencies = sorted(self._latencies[:filled])
            oldest_slot = self._next % self._window if self._next > self._window else 0
            oldest = self._starts[oldest_slot] if filled else None
            count, errors, total = self.count, self.errors, self._total_s
            lo, hi = self._min_s, self._max_s
        if now is None:
            now = self._clock()
        summary: Dict[str, Any] = {"count": count, "errors": errors}
        if not count:
            summary["latency_ms"] = None
            summary["throughput_per_s"] = 0.0
            return summary
        summary["latency_ms"] = {
            "min": round(lo * 1e3, 4),
            "mean": round(total / count * 1e3, 4),
            "max": round(hi * 1e3, 4),
            "p50": round(_percentile(latencies, 50) * 1e3, 4),
            "p99": round(_percentile(latencies, 99) * 1e3, 4),
        }
        span = now - oldest if oldest is not None else 0.0
        summary["throughput_per_s"] = round(filled / span, 3) if span > 0 else 0.0
        return summary


def _percentile(sorted_values: list, pct: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty list."""
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]
