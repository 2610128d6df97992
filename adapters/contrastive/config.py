"""Config of a contrastive-tuning run (``task: contrastive``).

``mode`` names the setup of the two towers as in LiT (Zhai et al. 2022), image letter first:
``L`` locked and loaded from a checkpoint, ``U`` unlocked and initialised from a checkpoint,
``u`` unlocked and randomly initialised. ``Lu`` is "Locked-image Tuning"; ``Uu``, ``uu`` and
``LU`` are the other setups of the paper's table (any pair of the three letters is accepted, except
``LL``, which leaves nothing to train but the temperature). Importing this module does not import
torch.

Example:
    >>> cfg = ContrastiveConfig.model_validate({
    ...     "mode": "Lu", "arch": "ViT-B-32", "image_checkpoint": "runs/uu/model",
    ...     "train": {"output_dir": "runs/lu"}})
    >>> cfg.image_locked, cfg.text_locked, cfg.train.schedule
    (True, False, 'cosine')
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import TrainConfig

__all__ = [
    "ContrastiveConfig",
    "ContrastiveData",
    "ContrastiveEval",
    "ContrastiveLossConfig",
    "ContrastiveTrainConfig",
    "ShapesSource",
]

class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", protected_namespaces=(), validate_assignment=True, defer_build=True
    )


class ShapesSource(_Model):
    """The seeded synthetic shapes (``socratic.adapters.synthetic``): exact captions, held-out
    images from an independent seed."""

    n_train: int = Field(2000, ge=1)
    n_val: int = Field(200, ge=1)
    n_objects: Literal[1, 2] = 1
    image_size: int = Field(32, ge=16)
    seed: int = 0


class ContrastiveData(_Model):
    """Image-caption pairs: ``source: shapes`` (synthetic) or ``jsonl`` / ``csv`` / ``coco``
    files (read by ``socratic.adapters.data.read_captions``; image paths relative to
    ``image_root``, default the file's folder).

    ``caption_templates`` rewrite every training caption with one template chosen per example
    (``"{}"`` keeps it), e.g. ``["{}", "a photo of {}."]`` so that zero-shot prompts look like
    training text.

    Example:
        >>> ContrastiveData(source="jsonl", train="data/train.jsonl").val is None
        True
    """

    source: Literal["shapes", "jsonl", "csv", "coco"] = "shapes"
    train: str | None = None
    val: str | None = None
    image_root: str | None = None
    shapes: ShapesSource = Field(default_factory=ShapesSource)
    caption_templates: list[str] = Field(default_factory=lambda: ["{}"])
    max_samples: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> ContrastiveData:
        if self.source != "shapes" and not self.train:
            raise ValueError(f"data.train is required with data.source: {self.source}")
        for t in self.caption_templates:
            if "{}" not in t:
                raise ValueError(f"data.caption_templates: {t!r} has no '{{}}'")
        return self


class ContrastiveLossConfig(_Model):
    """CLIP's loss: learnable temperature, clamped at ``max_logit_scale`` (100 as in CLIP).

    ``local_loss``: each rank scores its own rows against the gathered columns (same loss and
    gradients as the full matrix, less memory). ``kind: coca`` (for a CoCa architecture, e.g.
    ``coca_ViT-B-32``) trains contrastive + captioning with open_clip's ``CoCaLoss``:
    ``clip_weight * CLIP loss + caption_weight * captioning cross-entropy`` (open_clip's
    defaults 1 and 2)."""

    kind: Literal["clip", "coca"] = "clip"
    init_logit_scale: float = Field(math.log(1 / 0.07), description="log of the initial scale")
    max_logit_scale: float = Field(100.0, gt=1.0)
    learn_logit_scale: bool = True
    local_loss: bool = True
    clip_weight: float = Field(1.0, ge=0, description="coca: weight of the contrastive loss")
    caption_weight: float = Field(2.0, ge=0, description="coca: weight of the captioning loss")


class ContrastiveEval(_Model):
    """Zero-shot evaluation on the held-out pairs: every class name is turned into prompts with
    ``templates`` (CLIP's prompt ensembling) and the label of an image is the class whose name
    equals (or, with ``match: contains``, occurs in) its caption. ``classes: null`` uses the
    distinct held-out captions with a leading "a " removed (``"a red circle"`` -> ``"red circle"``).
    """

    classes: list[str] | None = None
    templates: list[str] = Field(default_factory=lambda: ["a photo of a {}."])
    match: Literal["exact", "contains"] = "exact"
    max_images: int = Field(512, ge=1)


class ContrastiveTrainConfig(TrainConfig):
    """:class:`socratic.adapters.config.TrainConfig` with a cosine schedule and a warmup by
    default (CLIP's recipe: AdamW, linear warmup, cosine decay)."""

    schedule: Literal["linear", "cosine", "constant"] = "cosine"
    warmup_steps: int = Field(10, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    betas: tuple[float, float] = (0.9, 0.98)
    tensorboard: bool = False


class ContrastiveConfig(_Model):
    """A whole contrastive-tuning run.

    ``arch``: an open_clip architecture name, a JSON model config file or ``local-dir:PATH``;
    ``image_timm``: optionally a timm model name for the image tower (random init; give its
    weights with ``image_checkpoint``). ``image_checkpoint`` / ``text_checkpoint``: open_clip
    weights (file or exported folder) to take the image / text tower from; required by the
    ``L`` / ``U`` letters of ``mode`` and refused with ``u``. ``name``: the architecture name of
    the saved model (default derived from ``arch``). The trained model is written to
    ``train.output_dir/model`` (see ``socratic.adapters.contrastive.towers``).

    Example:
        >>> ContrastiveConfig.model_validate({"mode": "Lu", "arch": "ViT-B-32",
        ...     "train": {"output_dir": "x"}})
        Traceback (most recent call last):
        ...
        pydantic_core._pydantic_core.ValidationError: 1 validation error for ContrastiveConfig
          Value error, mode Lu: the image tower comes from a checkpoint: set image_checkpoint ...
    """

    task: Literal["contrastive"] = "contrastive"
    mode: Literal["Lu", "Uu", "uu", "LU", "UU", "uU", "uL", "UL"] = "Lu"
    arch: str
    image_timm: str | None = None
    name: str | None = None
    image_checkpoint: str | None = None
    text_checkpoint: str | None = None
    weights_format: Literal["pt", "safetensors"] = "pt"
    loss: ContrastiveLossConfig = Field(default_factory=ContrastiveLossConfig)
    data: ContrastiveData = Field(default_factory=ContrastiveData)
    eval: ContrastiveEval = Field(default_factory=ContrastiveEval)
    train: ContrastiveTrainConfig

    @property
    def image_locked(self) -> bool:
        return self.mode[0] == "L"

    @property
    def text_locked(self) -> bool:
        return self.mode[1] == "L"

    @model_validator(mode="after")
    def _check_mode(self) -> ContrastiveConfig:
        for letter, tower, ckpt in ((self.mode[0], "image", self.image_checkpoint),
                                    (self.mode[1], "text", self.text_checkpoint)):
            if letter in "LU" and not ckpt:
                raise ValueError(
                    f"mode {self.mode}: the {tower} tower comes from a checkpoint: set "
                    f"{tower}_checkpoint (or use 'u' for a randomly initialised {tower} tower)"
                )
            if letter == "u" and ckpt:
                raise ValueError(
                    f"mode {self.mode}: the {tower} tower is randomly initialised ('u'), but "
                    f"{tower}_checkpoint is set; use 'U' (or 'L') to start from it"
                )
        return self
