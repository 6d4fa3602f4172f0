"""Signals that arrive before the event loop can take them.

Building the command line imports numpy and friends (about half a second on a
Jetson), and the daemon then loads its config and starts its parts. Until
``loop.add_signal_handler`` runs, SIGTERM would kill the process with no log
line and SIGHUP (a reload, to systemd) would kill it outright. ``EarlySignals``
catches them from the first line of ``main`` and keeps them: ``edged run``
acts on them once its loop handles signals, and every other command gets them
back as if they had just arrived.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Dict, List

__all__ = ["HELD", "EarlySignals"]

#: The signals the daemon handles: stop (TERM, INT) and reload (HUP).
HELD = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class EarlySignals:
    """Catch HELD signals and remember them, in order, until someone takes them."""

    def __init__(self) -> None:
        self.pending: List[int] = []
        self._previous: Dict[int, Any] = {}

    def hold(self) -> EarlySignals:
        """Start catching; does nothing off the main thread, where handlers cannot be set."""
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in HELD:
            self._previous[sig] = signal.signal(sig, self._note)
        return self

    def _note(self, signum: int, frame: Any) -> None:
        self.pending.append(signum)

    def take(self) -> List[int]:
        """The signals caught so far; call after the loop's own handlers are installed."""
        taken, self.pending = self.pending, []
        self._previous.clear()
        return taken

    def release(self) -> None:
        """Restore the previous handlers and deliver what was caught (for other commands)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        for sig in self.take():
            os.kill(os.getpid(), sig)
