"""One loader per model family, shared by the LLM backends, the vision backends and adapters:
:func:`load_hf_lm` (LM + tokenizer + peft adapter), :func:`load_open_clip` /
:func:`build_open_clip`, :func:`load_hf_clip` (CLIP, SigLIP), :func:`load_hf_image_to_text`
(BLIP, BLIP-2, GIT), :func:`load_hf_vlm` (LLaVA, Qwen2-VL, Idefics3 ... with their processors).
Each imports its library and creates the model under the one
:data:`load_lock`, and reports a missing local directory or an offline hub id with the same
messages (:mod:`socratic.loaders.hub`). Importing this package imports no torch.

Example:
    >>> lm = load_hf_lm("./models/tiny-gpt2", device="cpu")  # doctest: +SKIP
    >>> load_hf_lm("./models/tiny-gpt2")
    Traceback (most recent call last):
    socratic.errors.ModelLoadError: cannot load hf model: local directory not found: ./models/tiny-gpt2
"""

from .hf_clip import HFClip, load_hf_clip
from .hf_image_to_text import HFImageToText, load_hf_image_to_text
from .hf_lm import HFLanguageModel, load_hf_lm
from .hf_vlm import HFVisionLanguageModel, is_vision_model, load_hf_vlm
from .lock import heavy_import, load_lock
from .open_clip import OpenClip, build_open_clip, load_open_clip, resolve_open_clip

__all__ = [
    "HFClip", "HFImageToText", "HFLanguageModel", "HFVisionLanguageModel", "OpenClip",
    "build_open_clip", "heavy_import", "is_vision_model", "load_hf_clip", "load_hf_image_to_text",
    "load_hf_lm", "load_hf_vlm", "load_lock", "load_open_clip", "resolve_open_clip",
]
