"""``caption.generate``: captions from any captioner model (HF BLIP / BLIP-2 / GIT, or a bridge
trained with socratic.adapters), batched across rows.

Example (YAML):
    caption:
      type: caption.generate
      model: blip
      image: ${inputs.image}
      strategy: beam
      num_captions: 3
"""

from __future__ import annotations

from typing import Any, Literal

from ..node import Node
from ..types import Image
from ..vision.base import Captioner


class Caption(Node):
    """``caption.generate``: ``caption`` (the first) and ``captions`` (``num_captions``).

    Decoding options left unset use the model's defaults.

    Example:
        >>> Caption.outputs
        {'caption': <class 'str'>, 'captions': list[str]}
    """

    model_kind = "captioner"
    batchable = True
    blocking = True
    outputs = {"caption": str, "captions": list[str]}

    def __init__(
        self,
        model: Captioner,
        strategy: Literal["greedy", "beam", "sample"] | None = None,
        num_captions: int | None = None,
        num_beams: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_new_tokens: int | None = None,
        prompt: str | None = None,
        seed: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.model = model
        self.options = {
            k: v
            for k, v in dict(strategy=strategy, num_captions=num_captions, num_beams=num_beams,
                             temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                             prompt=prompt, seed=seed).items()
            if v is not None
        }
        self.batch_size = batch_size

    def run(self, image: Image) -> dict[str, Any]:
        return self.run_batch([{"image": image}])[0]

    def run_batch(self, calls: list[dict[str, Any]]) -> list[Any]:
        captions = self.model.caption([c["image"] for c in calls], **self.options)
        return [{"caption": caps[0], "captions": list(caps)} for caps in captions]
