"""Trained ``socratic.adapters`` models used by graph nodes (FROMAGe, Flamingo, PGN): each saved
folder is loaded once per process and device, under the one load lock, on first use.

Example:
    >>> calls = []
    >>> a = load_once("demo", "/nowhere", "cpu", lambda p, d: calls.append(p) or "model")
    >>> b = load_once("demo", "/nowhere", "cpu", lambda p, d: calls.append(p) or "model")
    >>> a == b == "model", len(calls)
    (True, 1)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

_LOADED: dict[tuple[str, str, str], Any] = {}


def load_once(kind: str, path: str, device: str, loader: Callable[[str, str], Any]) -> Any:
    """``loader(path, device)``'s result, built once per ``(kind, path, device)``."""
    from ..loaders import load_lock

    key = (kind, os.path.abspath(path), device)
    with load_lock:  # heavy imports and model building are not thread-safe
        if key not in _LOADED:
            _LOADED[key] = loader(path, device)
        return _LOADED[key]
