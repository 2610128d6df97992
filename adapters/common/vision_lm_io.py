"""Save and load a model built on a frozen vision encoder and a frozen LM (FROMAGe, the
Flamingo-style bridge): ``<kind>_config.json`` holds its settings, the vision and LM configs
with absolute local paths and the base models' weight fingerprints; ``<kind>.safetensors`` the
trainable weights only (:mod:`.saved`).

Example:
    >>> save_vision_lm(model, "runs/fromage/model", "fromage")       # doctest: +SKIP
    >>> load_vision_lm("runs/fromage/model", "fromage", FromageModel, FromageSettings, 48)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..config import LMConfig, VisionConfig
from .saved import absolute, check_base, copy_weights, load_trainable, save_trainable

__all__ = ["load_vision_lm", "save_vision_lm"]


def save_vision_lm(model: Any, path: str | os.PathLike[str], kind: str,
                   extra: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s trainable weights and configs to the folder ``path``."""
    v, lm = model.vision_cfg, model.lm_cfg
    config = {
        "settings": model.settings.model_dump(mode="json"),
        "vision": v.model_copy(update={
            "model": absolute(v.model), "pretrained": absolute(v.pretrained),
            "model_config_path": absolute(v.model_config_path)}).model_dump(mode="json"),
        "lm": lm.model_copy(update={"path": absolute(lm.path), "tokenizer": absolute(lm.tokenizer)}
                            ).model_dump(mode="json"),
        "max_text_tokens": model.max_text_tokens,
        "base_models": model.base_models,
        **(extra or {}),
    }
    return save_trainable(path, kind, config, model.trainable_state_dict())


def load_vision_lm(path: str | os.PathLike[str], kind: str, model_class: Any, settings_class: Any,
                   default_text_tokens: int, device: str | torch.device = "cpu", *,
                   check_base_models: bool = True) -> Any:
    """Rebuild ``model_class`` from its saved folder (eval mode, no grads); a changed base model
    is refused (:class:`~.saved.SavedModelError`) unless ``check_base_models`` is off."""
    config, weights = load_trainable(path, kind)
    model = model_class.from_configs(
        VisionConfig(**config["vision"]), LMConfig(**config["lm"]), settings_class(**config["settings"]),
        max_text_tokens=int(config.get("max_text_tokens", default_text_tokens)),
    )
    if check_base_models:
        recorded = config.get("base_models", {})
        for base, what in (("vision", "vision encoder"), ("lm", "lm")):
            if base in recorded:
                check_base(what, recorded[base], model.base_models[base], path)
    copy_weights(model, weights, path)
    model.requires_grad_(False)
    return model.to(device).train(False)
