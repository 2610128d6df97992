"""Hugging Face CLIP / SigLIP backend (transformers ``AutoModel`` + ``AutoProcessor``).

Probabilities: CLIP models use a softmax over classes of ``logit_scale * cosine``; SigLIP models
(which have a learned ``logit_bias``) use an independent sigmoid per class,
``sigmoid(logit_scale * cosine + logit_bias)`` -- the way SigLIP was trained -- so a SigLIP row
does not sum to one. SigLIP texts are padded to the full context length, as in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from ..errors import ModelLoadError
from ..models import BackendConfig
from .clip_base import ClipConfig, ClipModel, resolve_device, torch_dtype
from .hf_loading import hf_stat_identity, load_hf
from .lazy import np


class HFClipConfig(ClipConfig):
    """Config of the ``hf_clip`` backend."""

    model: str = Field(description="hub id (openai/clip-vit-base-patch32) or local directory")


@dataclass
class _Loaded:
    model: Any
    processor: Any
    device: str
    dtype: Any
    pad_to_max: bool
    max_length: int | None


def _features(out: Any) -> Any:
    """transformers 5 returns a model output from get_*_features; 4.x returned the tensor."""
    if hasattr(out, "pooler_output"):
        return out.pooler_output
    if isinstance(out, tuple):
        return out[1]
    return out


class HFClipModel(ClipModel):
    """CLIP scorer on transformers (CLIP, SigLIP and other dual encoders with
    ``get_image_features`` / ``get_text_features``).

    Example:
        >>> clip = HFClipModel(model="openai/clip-vit-base-patch32")
        >>> clip.kind, clip.backend
        ('clip', 'hf_clip')

        Offline, give a directory saved with ``save_pretrained`` (or ``hf download``):
        ``HFClipModel(model="/models/clip-vit-base-patch32", device="cpu")``.
    """

    backend: ClassVar[str] = "hf_clip"
    Config: ClassVar[type[BackendConfig]] = HFClipConfig

    def cache_identity(self) -> str | None:
        return f"hf_clip|{hf_stat_identity(self.config.model)}|{self.config.precision}"

    def _load(self) -> _Loaded:
        from transformers import AutoModel, AutoProcessor

        ref = self.config.model
        dtype = torch_dtype(self.config.precision)
        what = f"hf_clip model '{ref}'"
        model = load_hf(ref, what, lambda: AutoModel.from_pretrained(ref, dtype=dtype))
        processor = load_hf(ref, what + " processor", lambda: AutoProcessor.from_pretrained(ref))
        if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
            raise ModelLoadError(
                f"{what} is a {type(model).__name__}, not a dual image/text encoder (CLIP, SigLIP)"
            )
        device = resolve_device(self.config.device)
        model.to(device)
        model.eval()
        model_type = str(getattr(model.config, "model_type", ""))
        text_cfg = getattr(model.config, "text_config", None)
        max_length = getattr(text_cfg, "max_position_embeddings", None)
        return _Loaded(model, processor, device, dtype, "siglip" in model_type, max_length)

    def _tokenizer(self, r: _Loaded) -> Any:
        return getattr(r.processor, "tokenizer", r.processor)

    def _encode_images(self, images: list[Any]) -> np.ndarray:
        import torch

        r: _Loaded = self.resource()
        proc = getattr(r.processor, "image_processor", r.processor)
        pixels = proc(images=images, return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = r.model.get_image_features(pixel_values=pixels.to(r.device, dtype=r.dtype))
        return _features(out).float().cpu().numpy()

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        r: _Loaded = self.resource()
        tok = self._tokenizer(r)
        enc = tok(
            texts,
            padding="max_length" if r.pad_to_max else True,
            truncation=True,
            max_length=r.max_length,
            return_tensors="pt",
        )
        # pass what the tokenizer gives: SigLIP's own tokenizer returns no attention mask
        inputs = {k: enc[k].to(r.device) for k in ("input_ids", "attention_mask") if k in enc}
        with torch.inference_mode():
            out = r.model.get_text_features(**inputs)
        return _features(out).float().cpu().numpy()

    def _scale(self) -> float:
        r: _Loaded = self.resource()
        return float(r.model.logit_scale.detach().float().exp().item())

    def _bias(self) -> float | None:
        r: _Loaded = self.resource()
        bias = getattr(r.model, "logit_bias", None)
        return None if bias is None else float(bias.detach().float().item())
