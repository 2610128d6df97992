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

from ..common.saved import absolute, check_base, copy_weights, load_trainable, save_trainable
from ..config import LMConfig, VisionConfig
from .config import FlamingoSettings

__all__ = ["load_flamingo", "save_flamingo"]

KIND = "flamingo"


def save_flamingo(model: Any, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s trainable weights and configs to the folder ``path``."""
    v, lm = model.vision_cfg, model.lm_cfg
    config = {
        "settings": model.settings.model_dump(mode="json"),
        "vision": v.model_copy(
            update={
                "model": absolute(v.model),
                "pretrained": absolute(v.pretrained),
                "model_config_path": absolute(v.model_config_path),
            }
        ).model_dump(mode="json"),
        "lm": lm.model_copy(
            update={"path": absolute(lm.path), "tokenizer": absolute(lm.tokenizer)}
        ).model_dump(mode="json"),
        "max_text_tokens": model.max_text_tokens,
        "base_models": model.base_models,
        **(extra or {}),
    }
    return save_trainable(path, KIND, config, model.trainable_state_dict())


def load_flamingo(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", *, check_base_models: bool = True
) -> Any:
    """Rebuild a :class:`~socratic.adapters.flamingo.model.FlamingoModel` (eval mode, no grads)."""
    from .model import FlamingoModel

    config, weights = load_trainable(path, KIND)
    model = FlamingoModel.from_configs(
        VisionConfig(**config["vision"]),
        LMConfig(**config["lm"]),
        FlamingoSettings(**config["settings"]),
        max_text_tokens=int(config.get("max_text_tokens", 16)),
    )
    if check_base_models:
        recorded = config.get("base_models", {})
        for kind, what in (("vision", "vision encoder"), ("lm", "lm")):
            if kind in recorded:
                check_base(what, recorded[kind], model.base_models[kind], path)
    copy_weights(model, weights, path)
    model.requires_grad_(False)
    return model.to(device).train(False)
