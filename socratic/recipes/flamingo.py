"""``flamingo.generate``: a trained Flamingo-style model (``socratic train`` with
``task: flamingo``) continues an interleaved prompt: shots (image, text) and a query image;
it answers with the text that follows the query image.

Example (YAML):
    answer:
      type: flamingo.generate
      path: runs/flamingo/model
      image: ${inputs.query}
      shot_images: ${inputs.shot_images}
      shot_texts: ["red", "blue"]
"""

from __future__ import annotations

from typing import Any

from ..errors import NodeError
from ..node import Node
from ..types import Image
from .trained import load_once


def _load(path: str, device: str) -> Any:
    from socratic.adapters.flamingo.io import load_flamingo

    return load_flamingo(path, device)


class FlamingoGenerate(Node):
    """``flamingo.generate``: ``text``, the continuation after ``<image>`` of the query, the
    prompt being ``<image> shot_texts[0]</s> ... <image>`` (shots in the order given).

    Example:
        >>> FlamingoGenerate.outputs
        {'text': <class 'str'>}
    """

    blocking = True
    outputs = {"text": str}

    def __init__(self, path: str, max_new_tokens: int = 8, device: str = "cpu") -> None:
        self.path, self.max_new_tokens, self.device = path, max_new_tokens, device

    def loaded(self) -> Any:
        return load_once("flamingo", self.path, self.device, _load)

    def run(
        self, image: Image, shot_images: list[Image] | None = None, shot_texts: list[str] | None = None
    ) -> dict[str, Any]:
        shot_images, shot_texts = list(shot_images or []), list(shot_texts or [])
        if len(shot_images) != len(shot_texts):
            raise NodeError(
                f"flamingo.generate: {len(shot_images)} shot images but {len(shot_texts)} shot texts"
            )
        prompt: list[Any] = []
        for im, text in zip(shot_images, shot_texts, strict=True):
            prompt += [Image.from_value(im).pil(), text]
        prompt.append(Image.from_value(image).pil())
        return {"text": self.loaded().generate([prompt], max_new_tokens=self.max_new_tokens)[0]}
