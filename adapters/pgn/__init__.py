"""Prompt Generation Networks (Loedeman, Stol, Han, Asano; BMVC 2024): adapt a frozen ViT (the
CLIP image tower) with input-dependent prompts mixed from a learned token library, compared with
a linear probe and fixed visual prompts on the same tower (``task: pgn``; node ``pgn.classify``);
prompt inversion to pixel space in :mod:`.inversion`.

Light to import: names are loaded on first use (torch is imported only then).

Example:
    >>> from socratic.adapters.pgn import PGNSettings
    >>> PGNSettings().activation
    'softmax'
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PGNConfig": "config",
    "PGNSettings": "config",
    "PromptedViT": "tower",
    "PromptGenerator": "generator",
    "FixedPrompts": "generator",
    "SmallResNet": "generator",
    "PromptClassifier": "model",
    "invert_tokens": "inversion",
    "pixel_prompts": "inversion",
    "attach_strip": "inversion",
    "forward_input_only": "inversion",
    "save_pgn": "io",
    "load_pgn": "io",
    "train_pgn": "train",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
