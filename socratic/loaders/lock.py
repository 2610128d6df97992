"""The one process-wide load lock: heavy imports and model creation happen one at a time.

Loading is not thread-safe in the libraries we load with: transformers' lazy module fails when
two threads import it at once (``cannot import name 'AutoConfig' from 'transformers'``), and
``from_pretrained`` changes process-wide state while it builds a model (default dtype, patched
``torch.nn.init`` and ``tie_weights``), which breaks a model built at the same time in another
thread. Every loader holds :data:`load_lock` around its imports, ``from_pretrained`` /
``create_model`` calls and device moves; it is re-entrant, so a loader may call another.

Example:
    >>> with load_lock:
    ...     heavy_import("json", "core", "reading JSON").dumps([1])
    '[1]'
"""

from __future__ import annotations

import threading
from types import ModuleType

from ..extras import require

#: held while a model family's library is imported and while a model is created or loaded
load_lock = threading.RLock()


def heavy_import(module: str, extra: str | None = None, what: str = "this model") -> ModuleType:
    """Import ``module`` under :data:`load_lock` (a missing one raises MissingExtraError)."""
    with load_lock:
        return require(module, extra, what)
