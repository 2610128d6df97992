"""Config of a FROMAGe run (``task: fromage``): a frozen vision encoder and a frozen LM, a linear
image-to-LM input map (captioning) and a learned ``[RET]`` token whose hidden state is mapped into
a shared retrieval space, trained contrastively against the mapped image embeddings.

Defaults are the paper's (Koh, Salakhutdinov, Fried 2023; kohjingyu/fromage): one visual token,
a 256-d retrieval space read from the LM's last layer, captions of two examples concatenated with
probability 0.5, both losses weighted 1. Importing this module does not import torch.

Example:
    >>> cfg = FromageConfig.model_validate({
    ...     "vision": {"model": "ViT-B-32"}, "lm": {"path": "opt-6.7b"},
    ...     "data": {"train": "cc3m.jsonl"}, "train": {"output_dir": "runs/fromage"}})
    >>> cfg.fromage.num_visual_tokens, cfg.fromage.embed_dim, cfg.fromage.concat_captions_prob
    (1, 256, 0.5)
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import DataConfig, LMConfig, TrainConfig, VisionConfig

__all__ = ["FromageConfig", "FromageSettings"]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", protected_namespaces=(), validate_assignment=True, defer_build=True
    )


class FromageSettings(_Model):
    """The trainable parts and losses.

    ``num_visual_tokens``: LM input embeddings made from the pooled image embedding by one linear
    map (captioning). ``embed_dim``: the shared retrieval space; ``text_emb_layers``: LM hidden
    layers whose ``[RET]`` states are each mapped and summed. ``concat_captions_prob``: FROMAGe's
    "data length" augmentation (two image-caption pairs in one captioning sequence).
    ``retrieval_prefix``: text put before each caption in the retrieval sequence (the reference
    code's ``input_prefix``), e.g. ``"a picture of"`` so that such requests end in ``[RET]``.
    """

    num_visual_tokens: int = Field(1, ge=1)
    embed_dim: int = Field(256, ge=2)
    text_emb_layers: list[int] = Field(default_factory=lambda: [-1])
    concat_captions_prob: float = Field(0.5, ge=0.0, le=1.0)
    cap_loss_scale: float = Field(1.0, ge=0.0)
    ret_loss_scale: float = Field(1.0, ge=0.0)
    init_logit_scale: float = Field(math.log(1 / 0.07), description="log of the initial scale")
    retrieval_prefix: str | None = None
    ret_token: str = "[RET]"
    renormalize_ret: bool = Field(True, description="scale [RET] to the mean embedding norm after each step")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="on the image and [RET] embeddings")


class FromageEval(_Model):
    """Held-out evaluation: captioning exact match / BLEU, and text-to-image retrieval by
    ``[RET]`` over the held-out images (recall@1 and @5; a hit is an image whose caption is the
    query's)."""

    max_images: int = Field(256, ge=2)
    max_new_tokens: int = Field(24, ge=1)


class FromageConfig(_Model):
    """A whole ``task: fromage`` run (sections as ``task: bridge``: vision, lm, data, train).

    The LM must stay frozen (``lm.tune: frozen``): FROMAGe trains only the maps, the ``[RET]``
    embedding and the temperature. The trained model is written to ``train.output_dir/model``.
    """

    task: Literal["fromage"] = "fromage"
    vision: VisionConfig
    lm: LMConfig
    fromage: FromageSettings = Field(default_factory=FromageSettings)
    data: DataConfig
    eval: FromageEval = Field(default_factory=FromageEval)
    train: TrainConfig

    @model_validator(mode="after")
    def _frozen(self) -> FromageConfig:
        if self.lm.tune != "frozen":
            raise ValueError("FROMAGe keeps the LM frozen: lm.tune must be 'frozen'")
        if self.vision.trainable:
            raise ValueError("FROMAGe keeps the vision encoder frozen: vision.trainable must be false")
        return self
