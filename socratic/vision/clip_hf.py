"""Hugging Face CLIP / SigLIP backend (transformers ``AutoModel`` + ``AutoProcessor``).

Probabilities: CLIP models use a softmax over classes of ``logit_scale * cosine``; SigLIP models
(which have a learned ``logit_bias``) use an independent sigmoid per class,
``sigmoid(logit_scale * cosine + logit_bias)`` -- the way SigLIP was trained -- so a SigLIP row
does not sum to one. SigLIP texts are padded to the full context length, as in training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from ..loaders.hub import hf_identity
from ..models import BackendConfig
from .clip_base import ClipConfig, ClipModel
from .lazy import np

if TYPE_CHECKING:
    from ..loaders import HFClip


class HFClipConfig(ClipConfig):
    """Config of the ``hf_clip`` backend."""

    model: str = Field(description="hub id (openai/clip-vit-base-patch32) or local directory")


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
        return f"hf_clip|{hf_identity(self.config.model)}|{self.config.precision}"

    def _load(self) -> HFClip:
        from ..loaders import load_hf_clip

        return load_hf_clip(self.config.model, device=self.config.device, precision=self.config.precision)

    def _encode_images(self, images: list[Any]) -> np.ndarray:
        r: HFClip = self.resource()  # loads (and imports torch) under the load lock
        import torch

        pixels = r.image_processor(images=images, return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = r.model.get_image_features(pixel_values=pixels.to(r.device, dtype=r.dtype))
        return _features(out).float().cpu().numpy()

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        r: HFClip = self.resource()
        import torch

        enc = r.tokenizer(
            texts,
            padding="max_length" if r.sigmoid else True,
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
        r: HFClip = self.resource()
        return float(r.model.logit_scale.detach().float().exp().item())

    def _bias(self) -> float | None:
        r: HFClip = self.resource()
        bias = getattr(r.model, "logit_bias", None)
        return None if bias is None else float(bias.detach().float().item())
