"""Save and load a trained FROMAGe model, peft style: ``fromage_config.json`` (settings, vision
and LM configs with absolute local paths, the base models' weight fingerprints) and
``fromage.safetensors`` (the trainable weights only: the maps, ``[RET]``, the temperature).

Example:
    >>> save_fromage(model, "runs/fromage/model")          # doctest: +SKIP
    >>> model = load_fromage("runs/fromage/model")         # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..common.vision_lm_io import load_vision_lm, save_vision_lm
from .config import FromageSettings

__all__ = ["load_fromage", "save_fromage"]

KIND = "fromage"


def save_fromage(model: Any, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s trainable weights and configs to the folder ``path``."""
    return save_vision_lm(model, path, KIND, extra)


def load_fromage(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", *, check_base_models: bool = True
) -> Any:
    """Rebuild a :class:`~socratic.adapters.fromage.model.FromageModel` (eval mode, no grads)."""
    from .model import FromageModel

    return load_vision_lm(path, KIND, FromageModel, FromageSettings, 48, device,
                          check_base_models=check_base_models)
