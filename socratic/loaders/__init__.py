"""One loader per model family, shared by the LLM backends, the vision backends and adapters:
:func:`load_hf_lm` (LM + tokenizer + peft adapter), :func:`load_open_clip` /
:func:`build_open_clip`, :func:`load_hf_clip` (CLIP, SigLIP), :func:`load_hf_image_to_text`
(BLIP, BLIP-2, GIT). Each imports its library and creates the model under the one
:data:`load_lock`, and reports a missing local directory or an offline hub id with the same
messages (:mod:`socratic.loaders.hub`). Importing this package imports no torch.

Example:
    >>> lm = load_hf_lm("./models/tiny-gpt2", device="cpu")  # doctest: +SKIP
    >>> load_hf_lm("./models/tiny-gpt2")
    Traceback (most recent call last):
    socratic.errors.ModelLoadError: cannot load hf model: local directory not found: ./models/tiny-gpt2
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "HFClip": "hf_clip", "load_hf_clip": "hf_clip",
    "HFImageToText": "hf_image_to_text", "load_hf_image_to_text": "hf_image_to_text",
    "HFLanguageModel": "hf_lm", "load_hf_lm": "hf_lm",
    "heavy_import": "lock", "load_lock": "lock",
    "OpenClip": "open_clip", "build_open_clip": "open_clip", "load_open_clip": "open_clip",
    "resolve_open_clip": "open_clip",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Submodules load on first use: backends import the one they need (``socratic validate``
    imports none of them)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'socratic.loaders' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
