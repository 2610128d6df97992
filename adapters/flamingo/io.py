"""Save and load a trained Flamingo-style model, peft style: ``flamingo_config.json`` (settings,
vision and LM configs with absolute local paths, the base models' weight fingerprints) and
``flamingo.safetensors`` (the resampler, the gated blocks and the ``<image>`` embedding only).

Example:
    >>> save_flamingo(model, "runs/flamingo/model")          # doctest: +SKIP
    >>> model = load_flamingo("runs/flamingo/model")         # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..common.vision_lm_io import load_vision_lm, save_vision_lm
from .config import FlamingoSettings

__all__ = ["load_flamingo", "save_flamingo"]

KIND = "flamingo"


def save_flamingo(model: Any, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s trainable weights and configs to the folder ``path``."""
    return save_vision_lm(model, path, KIND, extra)


def load_flamingo(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", *, check_base_models: bool = True
) -> Any:
    """Rebuild a :class:`~socratic.adapters.flamingo.model.FlamingoModel` (eval mode, no grads)."""
    from .model import FlamingoModel

    return load_vision_lm(path, KIND, FlamingoModel, FlamingoSettings, 16, device,
                          check_base_models=check_base_models)
