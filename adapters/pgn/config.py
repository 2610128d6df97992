"""Config of a Prompt Generation Network run (``task: pgn``): adapt a frozen ViT (the CLIP image
tower) to a classification task, comparing on the same tower and the same budget

- ``linear``: a linear probe on the frozen tower's output;
- ``fixed``: input-independent visual prompts (learned tokens appended to the tower's input
  sequence) + the linear head (the reference code's ``IIP``);
- ``pgn``: input-dependent prompts: a light CNN looks at the image and mixes, for each of
  ``num_prompts`` slots, tokens of a learned library (softmax weights), appended to the input
  sequence (Loedeman, Stol, Han, Asano, BMVC 2024; jochemloedeman/PGN);
- ``generator``: a control, the PGN's CNN trained alone as the classifier (no tower): PGN is
  worth its tower only where it beats this.

Defaults are the paper's: 16 prompts from a library of 256 tokens, a ResNet-10-like generator
(4 groups of one block, 16 channels at first, softmax mixing). Importing this module does not
import torch.

Example:
    >>> cfg = PGNConfig.model_validate({"vision": {"model": "ViT-B-32"},
    ...                                 "train": {"output_dir": "runs/pgn"}})
    >>> cfg.methods, cfg.pgn.num_prompts, cfg.pgn.library_size
    (['linear', 'fixed', 'pgn', 'generator'], 16, 256)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..common.images import ImageSource
from ..config import TrainConfig, VisionConfig

__all__ = ["PGNConfig", "PGNSettings"]

Method = Literal["linear", "fixed", "pgn", "generator"]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", protected_namespaces=(), validate_assignment=True, defer_build=True
    )


class PGNSettings(_Model):
    """The prompts and the generator (``fixed`` uses ``num_prompts`` only).

    ``resolution``: the generator's input size (``null``: the tower's). ``channels`` /
    ``groups`` / ``blocks_per_group``: its ResNet (channels double at each group).
    """

    num_prompts: int = Field(16, ge=1)
    library_size: int = Field(256, ge=1)
    activation: Literal["softmax", "sigmoid"] = "softmax"
    channels: int = Field(16, ge=1)
    groups: int = Field(4, ge=1)
    blocks_per_group: int = Field(1, ge=1)
    init_max_pool: bool = True
    resolution: int | None = Field(None, ge=8)


class PGNConfig(_Model):
    """A whole ``task: pgn`` run: each method in ``methods`` is trained with the same ``train``
    budget on the same frozen tower (``vision``: an open_clip ViT) and saved to
    ``train.output_dir/<method>/model``; ``comparison.json`` / ``comparison.md`` hold the table
    (held-out accuracy and trainable parameters)."""

    task: Literal["pgn"] = "pgn"
    vision: VisionConfig
    methods: list[Method] = Field(
        default_factory=lambda: ["linear", "fixed", "pgn", "generator"], min_length=1
    )
    pgn: PGNSettings = Field(default_factory=PGNSettings)
    data: ImageSource = Field(default_factory=ImageSource)
    train: TrainConfig

    @model_validator(mode="after")
    def _check(self) -> PGNConfig:
        if self.vision.backend != "open_clip":
            raise ValueError(
                "PGN prompts a ViT: vision.backend must be open_clip (a VisionTransformer tower)"
            )
        if self.vision.trainable:
            raise ValueError("PGN keeps the tower frozen: vision.trainable must be false")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError("methods: each method once")
        return self
