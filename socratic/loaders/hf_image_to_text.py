"""Hugging Face captioners (BLIP, BLIP-2, GIT): ``AutoModelForImageTextToText`` + ``AutoProcessor``.

Example:
    >>> cap = load_hf_image_to_text("./models/blip-base", device="cpu")  # doctest: +SKIP
    >>> type(cap.model).__name__                                        # doctest: +SKIP
    'BlipForConditionalGeneration'
    >>> load_hf_image_to_text("./models/nope")
    Traceback (most recent call last):
    socratic.errors.ModelLoadError: cannot load hf_captioner model: local directory not found: ./models/nope
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .device import resolve_device, torch_dtype
from .hub import check_local, hf_errors
from .lock import heavy_import, load_lock


@dataclass
class HFImageToText:
    """A loaded captioner (``generate`` from pixels and optional prompt ids) and its processor.

    Example:
        >>> HFImageToText(model=None, processor="tok", device="cpu", dtype=None).tokenizer
        'tok'
    """

    model: Any
    processor: Any
    device: str
    dtype: Any

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)


def load_hf_image_to_text(ref: str, *, device: str | None = None, dtype: str = "fp32",
                          what: str = "hf_captioner model") -> HFImageToText:
    """Load a captioner (local directory or hub id) under the load lock."""
    check_local(ref, what)
    with load_lock:
        transformers = heavy_import("transformers", what=f"{what} '{ref}'")
        torch_type, device = torch_dtype(dtype), resolve_device(device, what)
        with hf_errors(what, ref):
            model = transformers.AutoModelForImageTextToText.from_pretrained(ref, dtype=torch_type)
            processor = transformers.AutoProcessor.from_pretrained(ref)
        model.to(device).eval()
    return HFImageToText(model, processor, device, torch_type)
