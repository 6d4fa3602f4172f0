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

    ``/api/sources`` and ``/api/pipelines`` (edged.http.manage) also use, where
    the view has them, ``config``, ``config_text``, ``reloads``,
    ``edit_config(edit, what)`` and ``reload()``; a view without
    ``edit_config`` answers those endpoints with 404.
    """

    def status(self) -> Dict[str, Any]: ...

    def sources(self) -> Dict[str, Any]: ...

    def pipelines(self) -> Dict[str, Any]: ...
