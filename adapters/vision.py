"""Vision encoders for bridges: an open_clip or timm visual tower behind one small interface.

``VisionEncoder(cfg)`` loads the tower from local files (nothing downloads when the paths are
local), ``preprocess(images)`` turns PIL images into a normalised batch and ``forward(pixels)``
returns the pooled embedding and the patch tokens.

Example:
    >>> enc = VisionEncoder(VisionConfig(model="local-dir:/models/tiny-clip"))  # doctest: +SKIP
    >>> feats = enc(enc.preprocess([pil_image]))                                # doctest: +SKIP
    >>> feats["pooled"].shape, feats["tokens"].shape                            # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from socratic.errors import ModelLoadError
from socratic.loaders import load_lock, load_open_clip
from socratic.loaders.hub import detail, not_found

from .config import VisionConfig

__all__ = ["BaseModelError", "VisionEncoder", "module_fingerprint"]

_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class BaseModelError(ModelLoadError):
    """A base model (vision encoder or LM) cannot be loaded, or does not match a saved bridge."""


def module_fingerprint(module: nn.Module, per_tensor: int = 64) -> str:
    """A short, cheap identity of a module's weights: names, shapes and a sample of values
    (peft adapter weights are left out, so a LoRA-wrapped model keeps its base's identity).

    Example:
        >>> a = nn.Linear(3, 2); b = nn.Linear(3, 2)
        >>> module_fingerprint(a) == module_fingerprint(a), module_fingerprint(a) == module_fingerprint(b)
        (True, False)
    """
    h = hashlib.sha256()
    state = {}
    for name, t in module.state_dict().items():
        if "lora_" in name or "prompt_encoder" in name or not torch.is_tensor(t):
            continue  # peft adapter weights are not part of the base model
        state[name.replace(".base_layer", "").replace("base_model.model.", "")] = t
    for name, t in sorted(state.items()):
        h.update(f"{name}:{tuple(t.shape)};".encode())
        flat = t.detach().reshape(-1)
        if flat.numel() == 0 or not flat.dtype.is_floating_point:
            continue
        step = max(flat.numel() // per_tensor, 1)
        sample = flat[::step][:per_tensor].float().cpu().numpy().astype(np.float32)
        h.update(np.round(sample, 5).tobytes())
    return h.hexdigest()[:16]


class VisionEncoder(nn.Module):
    """A visual tower returning ``{"pooled": [B, D], "tokens": [B, N, W]}``.

    ``pooled_dim`` and ``token_dim`` give D and W. Frozen encoders run in eval mode; set
    ``cfg.trainable`` (or the Frozen bridge does) to train them.

    Example:
        >>> enc = VisionEncoder(VisionConfig(backend="timm", model="resnet18"))  # doctest: +SKIP
        >>> enc.pooled_dim                                                        # doctest: +SKIP
        512
    """

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        with load_lock:  # model creation is not thread-safe (see socratic.loaders.lock)
            if cfg.backend == "open_clip":
                self._init_open_clip(cfg)
            else:
                self._init_timm(cfg)
        if cfg.mean is not None:
            self.mean = tuple(cfg.mean)
        if cfg.std is not None:
            self.std = tuple(cfg.std)

    # -- construction

    def _init_open_clip(self, cfg: VisionConfig) -> None:
        loaded = load_open_clip(cfg.model, cfg.pretrained, model_config=cfg.model_config_path,
                                image_size=cfg.image_size)
        visual, pre = loaded.model.visual, loaded.preprocess_cfg
        self.visual = visual
        self.kind = "open_clip"
        size = pre.get("size", getattr(visual, "image_size", 224))
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.mean = tuple(pre.get("mean", _CLIP_MEAN))
        self.std = tuple(pre.get("std", _CLIP_STD))
        self.pooled_dim = int(visual.output_dim)
        self.has_tokens = hasattr(visual, "output_tokens") and hasattr(visual, "transformer")
        self.token_dim = int(visual.transformer.width) if self.has_tokens else 0
        if self.has_tokens:
            visual.output_tokens = True

    def _init_timm(self, cfg: VisionConfig) -> None:
        import timm

        kwargs: dict[str, Any] = {"pretrained": False, "num_classes": 0}
        if cfg.image_size:
            kwargs["img_size"] = cfg.image_size
        try:
            model = timm.create_model(cfg.model, **kwargs)
        except TypeError:
            kwargs.pop("img_size", None)
            model = timm.create_model(cfg.model, **kwargs)
        except Exception as e:
            raise ModelLoadError(f"cannot load timm model '{cfg.model}': {detail(e)}") from e
        if cfg.pretrained:
            if not Path(cfg.pretrained).is_file():
                raise not_found(cfg.pretrained, f"timm model '{cfg.model}'", kind="weights file")
            try:
                if cfg.pretrained.endswith(".safetensors"):
                    from safetensors.torch import load_file

                    state = load_file(cfg.pretrained)
                else:
                    state = torch.load(cfg.pretrained, map_location="cpu", weights_only=True)
            except Exception as e:
                raise ModelLoadError(f"cannot load timm weights {cfg.pretrained}: {detail(e)}") from e
            model.load_state_dict(state, strict=False)
        self.visual = model
        self.kind = "timm"
        pcfg = getattr(model, "pretrained_cfg", {}) or {}
        size = cfg.image_size or (pcfg.get("input_size") or (3, 224, 224))[-1]
        self.image_size = int(size)
        self.mean = tuple(pcfg.get("mean", (0.485, 0.456, 0.406)))
        self.std = tuple(pcfg.get("std", (0.229, 0.224, 0.225)))
        self.pooled_dim = int(model.num_features)
        self.token_dim = int(model.num_features)
        self.has_tokens = True

    # -- use

    def preprocess(self, images: list[Any]) -> torch.Tensor:
        """Resize (bicubic, to a square) and normalise PIL images into ``[B, 3, S, S]``."""
        from PIL import Image

        s = self.image_size
        arrs = []
        for img in images:
            img = img.convert("RGB") if img.mode != "RGB" else img
            if img.size != (s, s):
                img = img.resize((s, s), Image.BICUBIC)
            arrs.append(np.asarray(img, dtype=np.float32) / 255.0)
        x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (x - mean) / std

    def forward(self, pixels: torch.Tensor, need_tokens: bool = True) -> dict[str, torch.Tensor]:
        if self.kind == "open_clip":
            out = self.visual(pixels)
            if isinstance(out, tuple):
                return {"pooled": out[0], "tokens": out[1]}
            return {"pooled": out}
        feats = self.visual.forward_features(pixels)
        pooled = self.visual.forward_head(feats, pre_logits=True)
        if feats.ndim == 4:  # CNN: [B, C, H, W] -> [B, HW, C]
            feats = feats.flatten(2).transpose(1, 2)
        return {"pooled": pooled, "tokens": feats}

    def dim(self, kind: str) -> int:
        if kind == "tokens":
            if not self.has_tokens:
                raise BaseModelError(
                    f"vision model '{self.cfg.model}' gives no patch tokens (needed by qformer)"
                )
            return self.token_dim
        return self.pooled_dim

    def fingerprint(self) -> str:
        return module_fingerprint(self.visual)

    def describe(self) -> dict[str, Any]:
        """What a saved bridge records about this base model."""
        return {
            "backend": self.cfg.backend,
            "model": self.cfg.model,
            "pretrained": self.cfg.pretrained,
            "fingerprint": self.fingerprint(),
        }
