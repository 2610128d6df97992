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
        from ..loaders import load_lock

        with load_lock:  # imports torch and builds the vision encoder, bridge and LM
            from socratic.adapters.io import load_bridge

            return load_bridge(self.config.path, self.config.device, lm_path=self.config.lm_path)

    def caption(self, images: list[Any], **options: Any) -> list[list[str]]:
        from ..types import Image
        from .captioner import caption_options

        opts = caption_options(self.config, options)
        vlm = self.resource()
        pils = [Image.from_value(im).pil() for im in images]
        kw, seed, bs = opts.model_dump(exclude={"seed", "resources"}), opts.seed, self.config.batch_size
        out: list[list[str]] = []
        for s in range(0, len(pils), bs):
            out += vlm.generate(pils[s : s + bs], **kw, seed=None if seed is None else seed + s)
        return out
