"""Local vision-language models: ``AutoModelForImageTextToText`` + ``AutoProcessor``.

LLaVA, Qwen2-VL / Qwen2.5-VL, Idefics3 / SmolVLM, PaliGemma, BLIP-2 ... load through the same
two auto classes; prompts with images are written by the processor's chat template (each image
part becomes the model's own image tokens), or, for models without a template (BLIP-2), the
image comes first and the text is the prompt. Whether a checkpoint sees images is read from its
``config.json`` without loading it (:func:`is_vision_model`), so ``socratic validate`` can
refuse images sent to a text-only model.

Example:
    >>> vlm = load_hf_vlm("./models/llava-tiny", device="cpu")   # doctest: +SKIP
    >>> type(vlm.model).__name__                                 # doctest: +SKIP
    'LlavaForConditionalGeneration'
    >>> is_vision_model("./no/such/dir") is None
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .device import resolve_device, torch_dtype
from .hub import check_local, hf_errors, looks_like_path
from .lock import heavy_import, load_lock

__all__ = ["HFVisionLanguageModel", "is_vision_model", "load_hf_vlm"]


@dataclass
class HFVisionLanguageModel:
    """A loaded VLM: the model, its processor (tokenizer + image processor), where it runs.

    Example:
        >>> HFVisionLanguageModel(model=None, processor="p", device="cpu").tokenizer
        'p'
    """

    model: Any
    processor: Any
    device: str
    seq2seq: bool = False

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)

    @property
    def chat_template(self) -> bool:
        return bool(getattr(self.processor, "chat_template", None))

    @property
    def family(self) -> str:
        return str(getattr(self.model.config, "model_type", ""))


def _config_file(ref: str, revision: str | None) -> Path | None:
    path = Path(ref).expanduser()
    if path.is_dir():
        return path / "config.json" if (path / "config.json").is_file() else None
    if path.exists() or looks_like_path(ref):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(ref, "config.json", revision=revision)
    except Exception:  # not installed, or not a valid hub id
        return None
    return Path(found) if isinstance(found, str) else None


@lru_cache(maxsize=256)
def is_vision_model(ref: str, revision: str | None = None) -> bool | None:
    """True for a checkpoint whose config has a vision tower, False for a text-only one, None
    when its config cannot be read without downloading (reads one JSON file, no torch)."""
    file = _config_file(ref, revision)
    if file is None:
        return None
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return isinstance(config, dict) and any(
        k in config for k in ("vision_config", "image_token_index", "image_token_id", "vision_tower")
    )


def load_hf_vlm(ref: str, *, revision: str | None = None, dtype: str = "auto",
                device: str | None = None, what: str = "hf model") -> HFVisionLanguageModel:
    """Load a VLM (local directory or hub id) and its processor under the load lock; the
    tokenizer pads on the left (batched generation) and has a pad token."""
    check_local(ref, what)
    with load_lock:
        transformers = heavy_import("transformers", what=f"{what} '{ref}'")
        target = resolve_device(device, what) if device else "cpu"
        with hf_errors(what, ref):
            model = transformers.AutoModelForImageTextToText.from_pretrained(
                ref, revision=revision, dtype=torch_dtype(dtype, target))
            processor = transformers.AutoProcessor.from_pretrained(ref, revision=revision)
        tok = getattr(processor, "tokenizer", processor)
        tok.padding_side = "left"
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        model.to(target).eval()
    seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
    return HFVisionLanguageModel(model, processor, target, seq2seq)
