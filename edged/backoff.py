"""Capped exponential backoff with jitter, shared by every reconnecting part."""

from __future__ import annotations

import random
import time
from typing import Callable, Optional

__all__ = ["Backoff"]


class Backoff:
    """Delays of initial_s, 2·initial_s, … up to max_s, each with ±jitter.

    Jitter keeps a fleet of cameras that lost the same switch from reconnecting
    in lock-step. ``succeeded()`` marks the start of a healthy period; only once
    it has lasted ``stable_s`` does the next failure start again from initial_s,
    so a stream that connects and dies at once still backs off. The clock and
    the random source are injectable for tests.
    """

    def __init__(
        self,
        initial_s: float,
        max_s: float,
        *,
        stable_s: float = 30.0,
        jitter: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        rng: Optional[random.Random] = None,
    ):
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError("need 0 < initial_s <= max_s")
        self.initial_s = initial_s
        self.max_s = max_s
        self.stable_s = stable_s
        self.jitter = jitter
        self._clock = clock
        self._rng = rng or random.Random()
        self.attempts = 0
        self._healthy_since: Optional[float] = None

    def next_delay(self) -> float:
        """The wait before the next attempt; call once per failure."""
        if self._healthy_since is not None:
            if self._clock() - self._healthy_since >= self.stable_s:
                self.attempts = 0
            self._healthy_since = None
        base = min(self.max_s, self.initial_s * (2.0 ** min(self.attempts, 64)))
        self.attempts += 1
        spread = base * self.jitter
        return max(0.0, min(self.max_s, base + self._rng.uniform(-spread, spread)))

    def succeeded(self) -> None:
        """The part is working again; the count resets after ``stable_s`` of that."""
        if self._healthy_since is None:
            self._healthy_since = self._clock()

    def reset(self) -> None:
        self.attempts = 0
        self._healthy_since = None
