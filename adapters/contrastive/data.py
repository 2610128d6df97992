"""Image-caption pairs for contrastive training: the synthetic shapes or caption files, turned
into ``{"pixels", "tokens"}`` items for the trainer.

Example:
    >>> train, val = load_pairs(ContrastiveData(shapes={"n_train": 8, "n_val": 4}))
    >>> len(train.captions), train.captions[0]
    (8, 'a green triangle')
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .config import ContrastiveData

__all__ = ["PairDataset", "Pairs", "collate_pairs", "load_pairs"]


@dataclass
class Pairs:
    """Parallel lists of images (PIL images or file paths) and captions."""

    images: list[Any]
    captions: list[str]


def _templated(captions: list[str], templates: list[str], seed: int) -> list[str]:
    if templates == ["{}"]:
        return captions
    rng = random.Random(f"caption-templates-{seed}")
    return [rng.choice(templates).format(c) for c in captions]


def load_pairs(cfg: ContrastiveData, seed: int = 0) -> tuple[Pairs, Pairs | None]:
    """Training pairs (captions rewritten with ``caption_templates``) and held-out pairs."""
    if cfg.source == "shapes":
        from ..synthetic import make_shapes_splits

        s = cfg.shapes
        train, val = make_shapes_splits(
            s.n_train, s.n_val, seed=s.seed, image_size=s.image_size, n_objects=s.n_objects
        )
        caps = _templated([x.caption for x in train], cfg.caption_templates, seed)
        return (Pairs([x.image for x in train], caps),
                Pairs([x.image for x in val], [x.caption for x in val]))
    from ..data import check_images, read_captions

    def read(path: str) -> Pairs:
        records = read_captions(path, cfg.source, image_root=cfg.image_root, max_samples=cfg.max_samples)
        records, _ = check_images(records)
        return Pairs([r.image for r in records], [r.caption for r in records])

    assert cfg.train is not None  # checked by the config
    train = read(cfg.train)
    train.captions = _templated(train.captions, cfg.caption_templates, seed)
    return train, (read(cfg.val) if cfg.val else None)


class PairDataset:
    """Preprocessed (image, caption) pairs: ``ds[i] -> {"pixels": [3, H, W], "tokens": [L]}``.

    Captions are tokenised once; images are preprocessed once and kept in memory when
    ``cache_pixels`` (``None``: when they fit in ``cache_limit_bytes``, 512 MiB), else read and
    preprocessed on each access.

    Example:
        >>> ds = PairDataset(pairs, preprocess, tokenizer)   # doctest: +SKIP
        >>> batch = collate_pairs([ds[0], ds[1]])            # doctest: +SKIP
    """

    def __init__(
        self,
        pairs: Pairs,
        preprocess: Callable[[Any], torch.Tensor],
        tokenizer: Callable[[list[str]], torch.Tensor],
        *,
        cache_pixels: bool | None = None,
        cache_limit_bytes: int = 512 * 2**20,
    ) -> None:
        self.pairs = pairs
        self.preprocess = preprocess
        self.tokens = tokenizer(list(pairs.captions))
        self.pixels: torch.Tensor | None = None
        if cache_pixels is None and len(pairs.images):
            first = self._pixels(pairs.images[0])
            cache_pixels = first.numel() * first.element_size() * len(pairs.images) <= cache_limit_bytes
        if cache_pixels:
            self.pixels = torch.stack([self._pixels(im) for im in pairs.images])

    def _pixels(self, image: Any) -> torch.Tensor:
        if isinstance(image, str):
            from PIL import Image

            with Image.open(image) as im:
                image = im.convert("RGB")
        return self.preprocess(image)

    def __len__(self) -> int:
        return len(self.pairs.captions)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        pixels = self.pixels[i] if self.pixels is not None else self._pixels(self.pairs.images[i])
        return {"pixels": pixels, "tokens": self.tokens[i]}


def collate_pairs(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items into a batch ``{"pixels": [B, 3, H, W], "tokens": [B, L]}``."""
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}
