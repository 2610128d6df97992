"""Config of masked-autoencoder pretraining (``task: mae``; He et al. 2022) with transformers'
``ViTMAEForPreTraining``, followed by a linear-probe and a fine-tuning evaluation; the encoder is
exported as an open_clip image tower that bridges and graphs load like any other.

Defaults are the paper's ViT-B/16 recipe (75% of patches masked, an 8-block 512-wide decoder,
normalised-pixel targets, AdamW betas (0.9, 0.95), weight decay 0.05, cosine schedule with
warmup), linear probing on the class token behind a BatchNorm without affine parameters, and
fine-tuning with layer-wise learning-rate decay 0.75.
Importing this module does not import torch.

Example:
    >>> cfg = MAEConfig.model_validate({"train": {"output_dir": "runs/mae"}})
    >>> cfg.model.mask_ratio, cfg.model.decoder_num_layers, cfg.model.norm_pix_loss
    (0.75, 8, True)
    >>> cfg.train.betas, cfg.train.schedule
    ((0.9, 0.95), 'cosine')
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..common.images import ImageSource
from ..config import TrainConfig

__all__ = ["FinetuneSettings", "MAEConfig", "MAEModelSettings", "MAETrainConfig", "ProbeSettings"]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", protected_namespaces=(), validate_assignment=True, defer_build=True
    )


class MAEModelSettings(_Model):
    """The ViT encoder and the lightweight decoder (``ViTMAEConfig``). ``pool`` is how the
    encoder's output becomes one vector (the linear probe's features, the exported tower's
    pooled output): the class token (``cls``, the paper's linear probe) or the mean of the patch
    tokens (``mean``, the reference code's ``global_pool``), both after the final LayerNorm."""

    image_size: int = Field(224, ge=8)
    patch_size: int = Field(16, ge=1)
    hidden_size: int = Field(768, ge=8)
    num_layers: int = Field(12, ge=1)
    num_heads: int = Field(12, ge=1)
    mlp_ratio: float = Field(4.0, gt=0)
    decoder_hidden_size: int = Field(512, ge=8)
    decoder_num_layers: int = Field(8, ge=1)
    decoder_num_heads: int = Field(16, ge=1)
    mask_ratio: float = Field(0.75, gt=0.0, lt=1.0)
    norm_pix_loss: bool = True
    layer_norm_eps: float = Field(1e-6, gt=0)
    pool: Literal["cls", "mean"] = "cls"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @model_validator(mode="after")
    def _check(self) -> MAEModelSettings:
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}"
            )
        if self.hidden_size % self.num_heads or self.decoder_hidden_size % self.decoder_num_heads:
            raise ValueError("hidden sizes must be divisible by their numbers of heads")
        if self.hidden_size % 4 or self.decoder_hidden_size % 4:
            raise ValueError("hidden sizes must be multiples of 4 (2-D sin-cos position embeddings)")
        return self


class ProbeSettings(_Model):
    """Linear probe on the frozen encoder's pooled output (``model.pool``; BatchNorm without
    affine + linear; the first ``labels`` labelled training images when set),
    trained with AdamW on features computed once; also run on a randomly initialised encoder of
    the same shape for comparison (``compare_random``)."""

    steps: int = Field(300, ge=1)
    lr: float = Field(1e-2, gt=0)
    batch_size: int = Field(256, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    labels: int | None = Field(None, ge=1)
    compare_random: bool = True


class FinetuneSettings(_Model):
    """End-to-end fine-tuning evaluation (the paper's main protocol): the encoder and a linear
    head on its pooled output, layer-wise learning-rate decay, AdamW, warmup + cosine; run on the
    pretrained encoder and, with ``compare_random``, on the same encoder from its random
    initialisation ("from scratch", the same schedule). ``labels``: use only the first N labelled
    training images (pretraining helps most with few labels). ``repeats``: the mean accuracy of that
many runs (seeds ``train.seed``, ``+1`` ...; few-label runs vary). ``steps: 0`` turns it off."""

    steps: int = Field(150, ge=0)
    lr: float = Field(1e-3, gt=0)
    layer_decay: float = Field(0.75, gt=0, le=1)
    weight_decay: float = Field(0.05, ge=0)
    batch_size: int = Field(64, ge=1)
    warmup_steps: int = Field(15, ge=0)
    labels: int | None = Field(None, ge=1)
    repeats: int = Field(1, ge=1)
    compare_random: bool = True


class MAETrainConfig(TrainConfig):
    """:class:`~socratic.adapters.config.TrainConfig` with MAE's optimiser defaults."""

    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = Field(0.05, ge=0)
    schedule: Literal["linear", "cosine", "constant"] = "cosine"
    lr: float = Field(1.5e-4, gt=0)


class MAEConfig(_Model):
    """A whole ``task: mae`` run: pretraining images and probe labels from ``data`` (the shapes
    world by default). Written to ``train.output_dir``: ``model/`` (the whole ViTMAE, transformers
    format), ``open_clip/`` (the encoder as an open_clip image tower: ``VisionConfig(model=
    "local-dir:OUTPUT_DIR/open_clip")``) and ``evaluation.json`` (probe and fine-tuning accuracies)."""

    task: Literal["mae"] = "mae"
    model: MAEModelSettings = Field(default_factory=MAEModelSettings)
    data: ImageSource = Field(default_factory=ImageSource)
    probe: ProbeSettings = Field(default_factory=ProbeSettings)
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings)
    train: MAETrainConfig
