"""Optional dependencies: one helper that imports a module or says which extra brings it.

Every optional import of the project goes through :func:`require` (or :func:`check`, which only
looks, for checks made before any work starts), so a missing package always gives the same kind
of message::

    an open_clip model needs the 'vision' extra: pip install 'socratic-vl[vision]'
    (No module named 'open_clip')

Example:
    >>> require("json", "core", "reading JSON").dumps([1])
    '[1]'
    >>> try:
    ...     check("no_such_module_here", "vision", "a test")
    ... except MissingExtraError as exc:
    ...     print(exc.extra, exc.module)
    vision no_such_module_here
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import MissingExtraError

#: the extra of pyproject.toml that installs each optional top-level module
EXTRA_OF: dict[str, str] = {
    "torch": "vision",
    "torchvision": "vision",
    "open_clip": "vision",
    "timm": "vision",
    "transformers": "vision",
    "safetensors": "vision",
    "accelerate": "train",
    "peft": "train",
    "tensorboard": "train",
    "langchain_core": "langchain",
    "matplotlib": "plots",
    "ray": "ray",
    "pyarrow": "ray",
    "vllm": "vllm",
}


def _extra(module: str, extra: str | None) -> str:
    return extra or EXTRA_OF.get(module.split(".")[0], "all")


def check(module: str, extra: str | None = None, what: str = "this feature") -> None:
    """Raise :class:`MissingExtraError` now if ``module`` is not installed (imports nothing)."""
    top = module.split(".")[0]
    try:
        found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtraError(top, _extra(top, extra), what)


def require(module: str, extra: str | None = None, what: str = "this feature") -> ModuleType:
    """Import ``module``; if it (or a package it needs) is missing, raise
    :class:`MissingExtraError` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or module).split(".")[0]
        if missing == "socratic":  # our own module: a bug, not a missing extra
            raise
        raise MissingExtraError(missing, _extra(missing, extra or EXTRA_OF.get(missing)), what) from None
