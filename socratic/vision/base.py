"""Interfaces of vision model backends: what a captioner offers to graph nodes.

Every captioner backend (Hugging Face BLIP / BLIP-2 / GIT, a trained adapters bridge) implements
:meth:`Captioner.caption` with the same decoding options, so the ``caption`` node works with any.

Example:
    >>> class Fixed(Captioner):
    ...     backend = "fixed"
    ...     def caption(self, images, **options):
    ...         return [["a photo"] * options.get("num_captions", 1) for _ in images]
    >>> Fixed().caption([None], num_captions=2)
    [['a photo', 'a photo']]
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ..models import BackendConfig, ModelBackend

DecodeStrategy = Literal["greedy", "beam", "sample"]


class CaptionOptions(BackendConfig):
    """Decoding options shared by every captioner (node options override backend defaults)."""

    strategy: DecodeStrategy = Field("greedy", description="greedy, beam search or sampling")
    num_captions: int = Field(1, ge=1, le=64, description="captions per image (beams or samples)")
    num_beams: int = Field(4, ge=1, description="beam width (strategy: beam)")
    temperature: float = Field(1.0, gt=0.0, le=2.0, description="sampling temperature (strategy: sample)")
    top_p: float = Field(0.9, gt=0.0, le=1.0, description="nucleus mass (strategy: sample)")
    max_new_tokens: int = Field(30, ge=1, description="longest caption, in tokens")
    prompt: str | None = Field(None, description="text the caption continues (conditional captioning)")
    seed: int | None = Field(None, description="sampling seed (repeatable samples)")


class Captioner(ModelBackend):
    """Base class of captioner backends.

    ``caption(images, **options)`` takes a list of :class:`socratic.types.Image` (or PIL images)
    and returns, per image, ``num_captions`` strings. Implementations batch internally
    (``batch_size``) and run under ``torch.inference_mode``.
    """

    kind: ClassVar[str] = "captioner"

    def caption(self, images: list[Any], **options: Any) -> list[list[str]]:  # pragma: no cover
        raise NotImplementedError
