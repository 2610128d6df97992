"""Captioner backend for trained adapters bridges (``backend: bridge``).

A bridge directory written by ``socratic train`` (``OUTPUT_DIR/bridge``) rebuilds its vision
encoder and LM from the local paths it recorded, and captions images with the usual decoding
options (greedy, beam, sample).

Example:
    >>> cap = BridgeCaptioner(path="runs/clipcap/bridge")        # doctest: +SKIP
    >>> cap.caption([Image("cat.jpg")], strategy="beam", num_captions=2)  # doctest: +SKIP
    [['a cat on a sofa', 'a cat lying on a couch']]

In a graph::

    models:
      captioner: {backend: bridge, path: runs/clipcap/bridge}
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from .base import Captioner, CaptionOptions

__all__ = ["BridgeCaptioner"]


class BridgeCaptioner(Captioner):
    """Caption with a trained adapters bridge (ClipCap, Q-Former, Frozen ...).

    Example:
        >>> BridgeCaptioner(path="runs/x/bridge").loaded
        False
    """

    backend: ClassVar[str] = "bridge"

    class Config(CaptionOptions):
        path: str
        device: str = "cpu"
        batch_size: int = Field(16, ge=1)
        lm_path: str | None = None

    def _load(self) -> Any:
        from socratic.adapters.io import load_bridge

        return load_bridge(self.config.path, self.config.device, lm_path=self.config.lm_path)

    def caption(self, images: list[Any], **options: Any) -> list[list[str]]:
        from socratic.types import Image

        vlm = self.resource()
        opts = {
            k: getattr(self.config, k)
            for k in CaptionOptions.model_fields
            if k not in ("prompt",)
        }
        unknown = set(options) - set(CaptionOptions.model_fields)
        if unknown:
            raise TypeError(f"unknown caption options: {sorted(unknown)}")
        opts.update({k: v for k, v in options.items() if v is not None})
        merged = CaptionOptions(**opts)
        prompt = options.get("prompt", self.config.prompt)
        pils = [Image.from_value(im).pil() for im in images]
        out: list[list[str]] = []
        bs = self.config.batch_size
        for s in range(0, len(pils), bs):
            out += vlm.generate(
                pils[s : s + bs],
                prompt=prompt,
                strategy=merged.strategy,
                num_captions=merged.num_captions,
                num_beams=merged.num_beams,
                temperature=merged.temperature,
                top_p=merged.top_p,
                max_new_tokens=merged.max_new_tokens,
                seed=None if merged.seed is None else merged.seed + s,
            )
        return out
