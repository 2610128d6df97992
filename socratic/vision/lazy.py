"""Light stand-ins so that node modules can be imported (for ``socratic validate``) without
importing numpy or the model backends; the real thing is imported on first use.

Example:
    >>> from socratic.vision.lazy import np
    >>> float(np.sqrt(4.0))
    2.0
"""

from __future__ import annotations

import importlib
from typing import Any

DEFAULT_TEMPLATES: tuple[str, ...] = ("a photo of a {}.",)


class _LazyModule:
    """A module proxy that imports the module on first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


np: Any = _LazyModule("numpy")


def l2_normalize(x: Any) -> Any:
    """Rows scaled to unit L2 norm (see :func:`socratic.vision.clip_base.l2_normalize`)."""
    from .clip_base import l2_normalize as real

    return real(x)
