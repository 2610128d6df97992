"""Hugging Face dual encoders (CLIP, SigLIP ...): ``AutoModel`` + ``AutoProcessor``.

Example:
    >>> clip = load_hf_clip("./models/clip-vit-base-patch32", device="cpu")  # doctest: +SKIP
    >>> clip.sigmoid, clip.max_length                                        # doctest: +SKIP
    (False, 77)
    >>> load_hf_clip("./models/nope")
    Traceback (most recent call last):
    socratic.errors.ModelLoadError: cannot load hf_clip model: local directory not found: ./models/nope
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ModelLoadError
from .device import resolve_device, torch_dtype
from .hub import check_local, hf_errors
from .lock import heavy_import, load_lock


@dataclass
class HFClip:
    """A loaded dual encoder and its processor; ``sigmoid`` for SigLIP (sigmoid scores, texts
    padded to ``max_length`` as in training).

    Example:
        >>> HFClip(model=None, processor="tok", device="cpu", dtype=None).tokenizer
        'tok'
    """

    model: Any
    processor: Any
    device: str
    dtype: Any
    sigmoid: bool = False
    max_length: int | None = None

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)

    @property
    def image_processor(self) -> Any:
        return getattr(self.processor, "image_processor", self.processor)


def load_hf_clip(ref: str, *, device: str | None = None, precision: str = "fp32",
                 what: str = "hf_clip model") -> HFClip:
    """Load a dual image/text encoder (local directory or hub id) under the load lock."""
    check_local(ref, what)
    with load_lock:
        transformers = heavy_import("transformers", what=f"{what} '{ref}'")
        dtype, device = torch_dtype(precision), resolve_device(device, what)
        with hf_errors(what, ref):
            model = transformers.AutoModel.from_pretrained(ref, dtype=dtype)
            processor = transformers.AutoProcessor.from_pretrained(ref)
        if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
            raise ModelLoadError(f"cannot load {what}: '{ref}' is a {type(model).__name__}, not a dual "
                                 "image/text encoder (CLIP, SigLIP)")
        model.to(device).eval()
    sigmoid = "siglip" in str(getattr(model.config, "model_type", ""))
    max_length = getattr(getattr(model.config, "text_config", None), "max_position_embeddings", None)
    return HFClip(model, processor, device, dtype, sigmoid, max_length)
