"""A Flamingo-style bridge (Alayrac et al. 2022; open_flamingo): a Perceiver resampler and gated
cross-attention dense blocks (zero-initialised ``tanh`` gates) in a frozen LM, trained on
interleaved image-text sequences and prompted with interleaved shots (``task: flamingo``; node
``flamingo.generate``).

Light to import: names are loaded on first use (torch is imported only then).

Example:
    >>> from socratic.adapters.flamingo import FlamingoSettings
    >>> FlamingoSettings().only_attend_immediate_media
    True
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FlamingoConfig": "config",
    "FlamingoSettings": "config",
    "FlamingoData": "config",
    "ShapesEpisodes": "config",
    "PerceiverResampler": "resampler",
    "GatedCrossAttentionBlock": "xattn",
    "MaskedCrossAttention": "xattn",
    "FlamingoModel": "model",
    "decoder_layers": "model",
    "save_flamingo": "io",
    "load_flamingo": "io",
    "train_flamingo": "train",
    "build_flamingo_run": "train",
    "fewshot_accuracy": "train",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
