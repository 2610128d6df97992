"""Masked-autoencoder pretraining (He et al. 2022) of a ViT with transformers' ``ViTMAE``, a
linear-probe and a fine-tuning evaluation, and the encoder exported as an open_clip image tower
for the bridges (``task: mae``).

Light to import: names are loaded on first use (torch is imported only then).

Example:
    >>> from socratic.adapters.mae import MAEModelSettings
    >>> MAEModelSettings().mask_ratio
    0.75
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MAEConfig": "config",
    "MAEModelSettings": "config",
    "ProbeSettings": "config",
    "FinetuneSettings": "config",
    "finetune_encoder": "finetune",
    "MaskedAutoencoder": "model",
    "export_open_clip": "export",
    "linear_probe": "probe",
    "train_mae": "train",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
