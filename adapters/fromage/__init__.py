"""FROMAGe (Koh et al. 2023): a frozen LM grounded to images for captioning and image retrieval
through a learned ``[RET]`` token (``task: fromage``; node ``fromage.respond``).

Light to import: names are loaded on first use (torch is imported only then).

Example:
    >>> from socratic.adapters.fromage import FromageSettings
    >>> FromageSettings().ret_token
    '[RET]'
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FromageConfig": "config",
    "FromageSettings": "config",
    "FromageModel": "model",
    "Response": "model",
    "save_fromage": "io",
    "load_fromage": "io",
    "train_fromage": "train",
    "build_fromage_run": "train",
    "retrieval_recall": "train",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
