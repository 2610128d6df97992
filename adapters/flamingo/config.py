"""Config of a Flamingo-style run (``task: flamingo``): a frozen vision encoder's patch tokens go
through a Perceiver resampler (a fixed number of visual tokens per image); gated cross-attention
dense blocks with zero-initialised ``tanh`` gates, placed before the frozen LM's layers, read
them; training data are interleaved image-text sequences.

Defaults are the paper's / open_flamingo's (Alayrac et al. 2022; mlfoundations/open_flamingo):
64 latents, a 6-layer resampler, 8 heads of 64, feed-forward x4, a cross-attention block before
every LM layer (Flamingo-3B; 9B: every 4th, 80B: every 7th), text attending only to the image
immediately before it. Importing this module does not import torch.

Example:
    >>> cfg = FlamingoConfig.model_validate({
    ...     "vision": {"model": "ViT-L-14"}, "lm": {"path": "mpt-1b"},
    ...     "train": {"output_dir": "runs/flamingo"}})
    >>> cfg.flamingo.num_latents, cfg.flamingo.resampler_depth, cfg.flamingo.cross_attn_every
    (64, 6, 1)
    >>> cfg.data.shapes.tasks
    ['color', 'shape']
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import LMConfig, TrainConfig, VisionConfig

__all__ = ["FlamingoConfig", "FlamingoData", "FlamingoEval", "FlamingoSettings", "ShapesEpisodes"]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", protected_namespaces=(), validate_assignment=True, defer_build=True
    )


class FlamingoSettings(_Model):
    """The resampler and the gated cross-attention blocks."""

    num_latents: int = Field(64, ge=1, description="visual tokens per image")
    resampler_depth: int = Field(6, ge=1)
    resampler_heads: int = Field(8, ge=1)
    resampler_dim_head: int = Field(64, ge=1)
    resampler_ff_mult: int = Field(4, ge=1)
    cross_attn_every: int = Field(1, ge=1, description="a gated block before every N-th LM layer")
    xattn_heads: int = Field(8, ge=1)
    xattn_dim_head: int = Field(64, ge=1)
    xattn_ff_mult: int = Field(4, ge=1)
    only_attend_immediate_media: bool = True
    media_token: str = "<image>"


class ShapesEpisodes(_Model):
    """Interleaved sequences from the shapes world: ``images_per_sequence`` single-object images,
    each followed by one word naming its attribute for the sequence's task (``color`` or
    ``shape``, drawn per sequence), so a sequence shows by example which attribute to name.
    Held-out episodes use images from an independent seed."""

    n_train: int = Field(2000, ge=1, description="training sequences")
    n_images: int = Field(600, ge=4, description="distinct training images the sequences draw from")
    n_val: int = Field(128, ge=1, description="held-out episodes")
    images_per_sequence: int = Field(3, ge=1)
    tasks: list[Literal["color", "shape"]] = Field(default_factory=lambda: ["color", "shape"])
    image_size: int = Field(32, ge=16)
    seed: int = 0


class FlamingoData(_Model):
    """Interleaved image-text sequences: ``source: shapes`` (see :class:`ShapesEpisodes`) or
    ``jsonl`` rows ``{"images": [paths], "texts": [text after each image]}`` (``train`` /
    ``val``; image paths relative to ``image_root``, default the file's folder)."""

    source: Literal["shapes", "jsonl"] = "shapes"
    train: str | None = None
    val: str | None = None
    image_root: str | None = None
    shapes: ShapesEpisodes = Field(default_factory=ShapesEpisodes)
    max_text_tokens: int = Field(16, ge=2, description="per text chunk")

    @model_validator(mode="after")
    def _check(self) -> FlamingoData:
        if self.source == "jsonl" and not self.train:
            raise ValueError("data.train is required with source: jsonl")
        return self


class FlamingoEval(_Model):
    """Few-shot evaluation with interleaved shots: accuracy of the word generated after the query
    image, for each number of shots in ``shots`` (0: the query alone)."""

    shots: list[int] = Field(default_factory=lambda: [0, 2])
    max_new_tokens: int = Field(8, ge=1)


class FlamingoConfig(_Model):
    """A whole ``task: flamingo`` run. The LM and the vision encoder stay frozen; the resampler,
    the gated blocks and the ``<image>`` embedding train. The trained model is written to
    ``train.output_dir/model``."""

    task: Literal["flamingo"] = "flamingo"
    vision: VisionConfig
    lm: LMConfig
    flamingo: FlamingoSettings = Field(default_factory=FlamingoSettings)
    data: FlamingoData = Field(default_factory=FlamingoData)
    eval: FlamingoEval = Field(default_factory=FlamingoEval)
    train: TrainConfig

    @model_validator(mode="after")
    def _frozen(self) -> FlamingoConfig:
        if self.lm.tune != "frozen":
            raise ValueError("Flamingo keeps the LM frozen: lm.tune must be 'frozen'")
        if self.vision.trainable:
            raise ValueError("Flamingo keeps the vision encoder frozen: vision.trainable must be false")
        return self
