"""A frozen ViT classifier adapted by a linear probe, fixed visual prompts or a PGN.

``method``: ``linear`` (head only), ``fixed`` (:class:`~.generator.FixedPrompts` + head) or
``pgn`` (:class:`~.generator.PromptGenerator` + head). The head is linear on the tower's pooled,
projected output; the tower never trains. ``generator`` is the control: the PGN's small ResNet
trained alone as the classifier, without the tower (what the generator could do by itself).

Example:
    >>> model = PromptClassifier.from_config(vision_cfg, "pgn", PGNSettings(), classes)  # doctest: +SKIP
    >>> model(**model.collate(items))["loss"].backward()                                # doctest: +SKIP
    >>> model.predict([pil_image])                                                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import VisionConfig
from ..vision import VisionEncoder
from .config import PGNSettings
from .generator import FixedPrompts, PromptGenerator, SmallResNet, at_resolution
from .tower import PromptedViT

__all__ = ["PromptClassifier"]


class PromptClassifier(nn.Module):
    """Frozen prompted ViT + optional prompter + linear head over ``classes``.

    Example:
        >>> model = PromptClassifier.from_config(                        # doctest: +SKIP
        ...     VisionConfig(model="local-dir:/m/clip"), "fixed", PGNSettings(num_prompts=4), ["red", "blue"])
        >>> model.trainable_parameters()                                 # doctest: +SKIP
        322
    """

    def __init__(
        self,
        tower: PromptedViT,
        method: str,
        settings: PGNSettings,
        classes: Sequence[str],
        *,
        vision_cfg: VisionConfig,
        preprocess: Any = None,
        base_model: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.tower, self.method, self.settings, self.classes = tower, method, settings, list(classes)
        self.vision_cfg, self.base_model, self._preprocess = vision_cfg, base_model or {}, preprocess
        self.prompter: nn.Module | None
        if method == "pgn":
            self.prompter = PromptGenerator(settings, tower.width)
        elif method == "fixed":
            self.prompter = FixedPrompts(settings.num_prompts, tower.width)
        elif method in ("linear", "generator"):
            self.prompter = None
        else:
            raise ValueError(f"unknown method {method!r}: linear, fixed, pgn or generator")
        s = settings
        self.head: nn.Module = (
            SmallResNet(len(self.classes), s.channels, s.groups, s.blocks_per_group, s.init_max_pool)
            if method == "generator"
            else nn.Linear(tower.output_dim, len(self.classes))
        )
        self.train(False)

    @classmethod
    def from_config(
        cls,
        vision_cfg: VisionConfig,
        method: str,
        settings: PGNSettings,
        classes: Sequence[str],
        *,
        seed: int | None = None,
    ) -> PromptClassifier:
        """Load the frozen tower (an open_clip ViT) and build a fresh prompter and head."""
        encoder = VisionEncoder(vision_cfg)
        if seed is not None:
            torch.manual_seed(seed)
        return cls(
            PromptedViT(encoder.visual),
            method,
            settings,
            classes,
            vision_cfg=vision_cfg,
            preprocess=encoder.preprocess,
            base_model=encoder.describe(),
        )

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The prompter (with its batch-norm statistics) and the head."""
        return {
            n: t.detach()
            for n, t in self.state_dict(keep_vars=True).items()
            if n.startswith(("prompter.", "head."))
        }

    def trainable_parameters(self) -> int:
        return sum(p.numel() for n, p in self.named_parameters() if n.startswith(("prompter.", "head.")))

    def preprocess(self, images: Sequence[Any]) -> torch.Tensor:
        return self._preprocess(list(images))

    @property
    def device(self) -> torch.device:
        return next(self.head.parameters()).device

    def prompts(self, pixels: torch.Tensor) -> torch.Tensor | None:
        """The prompt tokens for a batch ``[B, num_prompts, width]`` (None for a linear probe)."""
        return None if self.prompter is None else self.prompter(pixels)

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        pixels = pixels.to(self.device)
        if self.method == "generator":  # the control: no tower
            return self.head(at_resolution(pixels, self.settings.resolution))
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.prompter is not None):
            feats = self.tower(pixels, prompts=self.prompts(pixels))
        return self.head(feats)

    def collate(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return {
            "pixel_values": torch.stack([i["pixel_values"] for i in items]),
            "labels": torch.tensor([int(i["label"]) for i in items]),
        }

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.logits(pixel_values)
        loss = F.cross_entropy(logits, labels.to(self.device))
        return {
            "loss": loss,
            "accuracy": (logits.argmax(-1) == labels.to(self.device)).float().mean().detach(),
        }

    @torch.inference_mode()
    def predict(self, images: Sequence[Any]) -> torch.Tensor:
        """Class probabilities ``[N, classes]`` of PIL images."""
        was = self.training
        self.eval()
        try:
            return self.logits(self.preprocess(images)).softmax(-1).cpu()
        finally:
            self.train(was)
