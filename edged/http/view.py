"""What the HTTP app reads from the daemon, as a protocol (tests pass a small fake)."""

from __future__ import annotations

from typing import Any, Dict, Protocol

__all__ = ["DaemonView"]


class DaemonView(Protocol):
    """The part of ``edged.daemon.Daemon`` the HTTP app uses.

    ``sources()`` values have ``.slot.latest`` (the newest Frame) and
    ``.status()``; ``pipelines()`` values have ``.pipeline`` (``draw``,
    ``last_result``, ``executor``, ``process``, ``summary``), ``.slots`` and
    ``.status()``. Everything is looked up again on each use, so a reload that
    replaces a part is picked up without restarting the HTTP server.
    """

    def status(self) -> Dict[str, Any]: ...

    def sources(self) -> Dict[str, Any]: ...

    def pipelines(self) -> Dict[str, Any]: ...
