"""Contrastive image-text training (CLIP, LiT) and SimCLR's loss, on open_clip towers.

Light to import: names are loaded on first use (torch is imported only then).

Example:
    >>> from socratic.adapters.contrastive import ContrastiveConfig
    >>> ContrastiveConfig.model_validate({"mode": "uu", "arch": "ViT-B-32",
    ...                                   "train": {"output_dir": "runs/uu"}}).mode
    'uu'

Main entry points: :func:`train_contrastive` (``socratic train`` for ``task: contrastive``), the
losses :class:`ClipLoss` / :class:`NTXentLoss` and
:func:`gather_with_grad`, and :func:`save_open_clip` / :func:`register_saved_arch`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ContrastiveConfig": "config",
    "ClipLoss": "losses",
    "NTXentLoss": "losses",
    "clip_loss": "losses",
    "nt_xent_loss": "losses",
    "gather_with_grad": "losses",
    "clamp_logit_scale": "losses",
    "ContrastiveModel": "model",
    "build_towers": "towers",
    "load_tower": "towers",
    "lock_tower": "towers",
    "save_open_clip": "towers",
    "register_saved_arch": "towers",
    "read_checkpoint": "towers",
    "weights_file": "towers",
    "train_contrastive": "train",
    "zero_shot_accuracy": "train",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
