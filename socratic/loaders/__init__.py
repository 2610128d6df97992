"""One loader per model family, shared by the LLM backends, the vision backends and adapters.

- :func:`load_hf_lm` (``hf_lm``): a causal or seq2seq LM, its tokenizer, an optional peft adapter;
- :func:`load_open_clip`, :func:`build_open_clip` (``open_clip``): an open_clip model by name,
  tag, checkpoint, ``hf-hub:`` or ``local-dir:``, or built at random from an architecture;
- :func:`load_hf_clip` (``hf_clip``): a CLIP / SigLIP dual encoder and its processor;
- :func:`load_hf_image_to_text` (``hf_image_to_text``): a BLIP, BLIP-2 or GIT captioner.

Every loader imports its library and creates the model under the one process-wide
:data:`load_lock` (loads are not thread-safe in transformers), and reports a missing local
directory or an offline hub id with the same messages (:mod:`socratic.loaders.hub`). Importing
this package imports no torch.

Example:
    >>> from socratic.loaders import load_hf_lm
    >>> lm = load_hf_lm("./models/tiny-gpt2", device="cpu")               # doctest: +SKIP
    >>> lm.model.generate(**lm.tokenizer("a cat", return_tensors="pt"))  # doctest: +SKIP
    >>> load_hf_lm("./models/tiny-gpt2")
    Traceback (most recent call last):
    socratic.errors.ModelLoadError: cannot load hf model: local directory not found: ./models/tiny-gpt2
"""

from .hf_clip import HFClip, load_hf_clip
from .hf_image_to_text import HFImageToText, load_hf_image_to_text
from .hf_lm import HFLanguageModel, load_hf_lm
from .lock import heavy_import, load_lock
from .open_clip import OpenClip, build_open_clip, load_open_clip, resolve_open_clip

__all__ = [
    "HFClip", "HFImageToText", "HFLanguageModel", "OpenClip", "build_open_clip", "heavy_import",
    "load_hf_clip", "load_hf_image_to_text", "load_hf_lm", "load_lock", "load_open_clip",
    "resolve_open_clip",
]
