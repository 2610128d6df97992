"""The ``hf_itm`` backend: BLIP's image-text matching head (Li et al. 2022), the filter of
CapFilt. ``match_scores`` gives, per image, the probability that each text matches it
(``head: itm``, BLIP's filter) or the cosine of the ITC projections (``head: itc``).

Example:
    >>> itm = HFImageTextMatcher(model="Salesforce/blip-itm-base-coco")
    >>> itm.kind, itm.serves("image_text")
    ('itm', True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from ..models import BackendConfig, ModelBackend
from .clip_base import to_pil

if TYPE_CHECKING:
    from ..loaders.hf_itm import HFImageTextMatcher as Loaded


class HFITMConfig(BackendConfig):
    """Options of the ``hf_itm`` backend."""

    model: str = Field(description="hub id (Salesforce/blip-itm-base-coco) or local directory")
    head: Literal["itm", "itc"] = Field("itm", description="itm: match probability; itc: cosine")
    device: str | None = Field(None, description="'cpu', 'cuda' ...; default: cuda if any")
    batch_size: int = Field(32, ge=1, description="image-text pairs per forward pass")


class HFImageTextMatcher(ModelBackend):
    """BLIP image-text matching (see the module docstring); serves ``image_text`` nodes such as
    ``filter.captions``.

    Example (YAML): ``itm: {backend: hf_itm, model: ./models/blip-itm-base-coco}``
    """

    kind: ClassVar[str] = "itm"
    backend: ClassVar[str] = "hf_itm"
    Config: ClassVar[type[BackendConfig]] = HFITMConfig

    def serves(self, kind: str) -> bool:
        return kind in ("itm", "image_text")

    def _load(self) -> Loaded:
        from ..loaders.hf_itm import load_hf_itm

        return load_hf_itm(self.config.model, device=self.config.device)

    def match_scores(self, images: Sequence[Any], texts: Sequence[Sequence[str]]) -> list[list[float]]:
        """Per image, the score of each of its texts."""
        loaded: Loaded = self.resource()
        import torch

        pairs = [(i, t) for i, ts in enumerate(texts) for t in ts]
        pils = [to_pil(im) for im in images]
        scores: list[float] = []
        for start in range(0, len(pairs), self.config.batch_size):
            chunk = pairs[start : start + self.config.batch_size]
            enc = loaded.processor(images=[pils[i] for i, _ in chunk], text=[t for _, t in chunk],
                                   return_tensors="pt", padding=True).to(loaded.device)
            with torch.inference_mode():
                out = loaded.model(**enc, use_itm_head=self.config.head == "itm")
            first = out.itm_score if hasattr(out, "itm_score") else out[0]
            if self.config.head == "itm":
                scores += torch.softmax(first.float(), -1)[:, 1].tolist()
            else:
                scores += first.float().diagonal().tolist() if first.dim() == 2 else first.float().tolist()
        it = iter(scores)
        return [[next(it) for _ in ts] for ts in texts]
