"""Hugging Face image-text matching: BLIP's retrieval model (``BlipForImageTextRetrieval``: an ITM
head over the image-grounded text encoder, and ITC projections) with its processor.

Example:
    >>> itm = load_hf_itm("./models/blip-itm-base-coco", device="cpu")  # doctest: +SKIP
    >>> load_hf_itm("./models/nope")
    Traceback (most recent call last):
    socratic.errors.ModelLoadError: cannot load hf_itm model: local directory not found: ./models/nope
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .device import resolve_device
from .hub import check_local, hf_errors
from .lock import heavy_import, load_lock


@dataclass
class HFImageTextMatcher:
    """A loaded BLIP retrieval model and its processor.

    Example:
        >>> HFImageTextMatcher(model=None, processor=None, device="cpu").device
        'cpu'
    """

    model: Any
    processor: Any
    device: str


def load_hf_itm(ref: str, *, device: str | None = None, what: str = "hf_itm model") -> HFImageTextMatcher:
    """Load a BLIP image-text retrieval model (local directory or hub id) under the load lock."""
    check_local(ref, what)
    with load_lock:
        transformers = heavy_import("transformers", what=f"{what} '{ref}'")
        device = resolve_device(device, what)
        with hf_errors(what, ref):
            model = transformers.BlipForImageTextRetrieval.from_pretrained(ref)
            processor = transformers.AutoProcessor.from_pretrained(ref)
        model.to(device).eval()
    return HFImageTextMatcher(model, processor, device)
