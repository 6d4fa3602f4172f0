"""Where edged's own model files are: given paths, the source checkout, or a wheel's data.

The config names bundled models as ``weights/<file>``; ``resolve_model`` finds them
wherever the install put them, and every default model path goes through it.
"""

from __future__ import annotations

import os
import sys
from typing import List

__all__ = ["resolve_model"]

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _data_roots() -> List[str]:
    """Where pip may have put a wheel's data files: the environment's prefix, the install
    scheme's data path (``/usr/local`` for Debian's system pip), the user base (``--user``)."""
    import site
    import sysconfig

    roots = [sys.prefix, sysconfig.get_path("data")]
    user_base = getattr(site, "USER_BASE", None) or site.getuserbase()
    roots.append(user_base)
    roots.append("/usr/local")
    out: List[str] = []
    for r in roots:
        if r and r not in out:
            out.append(r)
    return out


def resolve_model(path: str) -> str:
    """``path`` as given if it exists, else the bundled weights: in the source checkout
    (``pip install -e``), then where a wheel puts them (``<data root>/share/edged/weights``)."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    roots = [_REPO] + [os.path.join(r, "share", "edged") for r in _data_roots()]
    for root in roots:
        bundled = os.path.join(root, path)
        if os.path.exists(bundled):
            return bundled
    return path
