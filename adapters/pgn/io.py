"""Save and load a trained prompt classifier (PGN, fixed prompts or linear probe), peft style:
``pgn_config.json`` (method, settings, classes, the tower's config with absolute paths and its
weights fingerprint) and ``pgn.safetensors`` (the prompter and the head only).

Example:
    >>> save_pgn(model, "runs/pgn/pgn/model")          # doctest: +SKIP
    >>> model = load_pgn("runs/pgn/pgn/model")         # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..common.saved import absolute, check_base, copy_weights, load_trainable, save_trainable
from ..config import VisionConfig
from .config import PGNSettings

__all__ = ["load_pgn", "save_pgn"]

KIND = "pgn"


def save_pgn(model: Any, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s trainable weights and configs to the folder ``path``."""
    v = model.vision_cfg
    config = {
        "method": model.method,
        "settings": model.settings.model_dump(mode="json"),
        "classes": model.classes,
        "vision": v.model_copy(
            update={
                "model": absolute(v.model),
                "pretrained": absolute(v.pretrained),
                "model_config_path": absolute(v.model_config_path),
            }
        ).model_dump(mode="json"),
        "base_model": model.base_model,
        **(extra or {}),
    }
    return save_trainable(path, KIND, config, model.trainable_state_dict())


def load_pgn(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", *, check_base_model: bool = True
) -> Any:
    """Rebuild a :class:`~socratic.adapters.pgn.model.PromptClassifier` (eval mode, no grads)."""
    from .model import PromptClassifier

    config, weights = load_trainable(path, KIND)
    model = PromptClassifier.from_config(
        VisionConfig(**config["vision"]),
        config["method"],
        PGNSettings(**config["settings"]),
        config["classes"],
    )
    if check_base_model and config.get("base_model"):
        check_base("vision tower", config["base_model"], model.base_model, path)
    copy_weights(model, weights, path)
    model.requires_grad_(False)
    return model.to(device).train(False)
