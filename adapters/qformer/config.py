"""``task: qformer_stage1``: BLIP-2's first stage, the Q-Former trained on image-text pairs
with ITC, ITM and ITG against a frozen image encoder, without any LLM. Importing this module
does not import torch.

Example:
    >>> cfg = QFormerStage1Config.model_validate({
    ...     "task": "qformer_stage1", "vision": {"model": "ViT-B-16"},
    ...     "qformer": {"bert_path": "/models/bert-base-uncased"},
    ...     "data": {"train": "coco.json"}, "train": {"output_dir": "runs/s1"}})
    >>> cfg.objectives.losses, cfg.objectives.label_smoothing, cfg.objectives.temp_clamp
    (['itc', 'itm', 'itg'], 0.1, (0.001, 0.5))
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..config import DataConfig, QFormerArch, TrainConfig, VisionConfig, _Model

__all__ = ["QFormerStage1Config", "Stage1Objectives"]


class Stage1Objectives(_Model):
    """Which stage-1 losses to train (summed, unweighted, as LAVIS) and their settings.

    ``label_smoothing`` applies to ITC and ITG (LAVIS: 0.1 for both). ``init_temp`` starts the
    learnable ITC temperature (0.07); ``temp_clamp`` keeps it in ``[lo, hi]`` (BLIP / ALBEF's
    0.001-0.5); ``null`` leaves it unclamped, as LAVIS's ``blip2_qformer.py`` does. ``embed_dim``
    is the ITC projection width (256); ``max_text_length`` the tokens per text (32, [CLS] and
    [SEP] included).

    Example:
        >>> Stage1Objectives(losses=["itc"]).losses
        ['itc']
    """

    losses: list[Literal["itc", "itm", "itg"]] = Field(
        default_factory=lambda: ["itc", "itm", "itg"], min_length=1)
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)
    init_temp: float = Field(0.07, gt=0.0)
    temp_clamp: tuple[float, float] | None = (0.001, 0.5)
    embed_dim: int = Field(256, ge=2)
    max_text_length: int = Field(32, ge=4)

    @field_validator("losses")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each loss at most once")
        return value

    @field_validator("temp_clamp")
    @classmethod
    def _range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 < value[0] < value[1]:
            raise ValueError("temp_clamp is [lo, hi] with 0 < lo < hi")
        return value


class QFormerStage1Config(_Model):
    """A ``socratic train`` run of BLIP-2 stage 1 (see :mod:`socratic.adapters.qformer`).

    ``vision``: the frozen image encoder whose patch tokens the queries read (BLIP-2 keeps it
    frozen: ``trainable: true`` is refused). ``qformer``: sizes, and ``bert_path`` for BERT
    initialisation. ``tokenizer``: a BERT WordPiece tokenizer folder (default: ``bert_path``).
    The result is ``OUTPUT_DIR/qformer/`` — give it to stage 2 as ``bridge.stage1_checkpoint``.

    Example:
        >>> from pydantic import ValidationError
        >>> try:
        ...     QFormerStage1Config.model_validate({"task": "qformer_stage1",
        ...         "vision": {"model": "x"}, "data": {"train": "t.jsonl"},
        ...         "train": {"output_dir": "o"}})
        ... except ValidationError as exc:
        ...     print(exc.errors()[0]["msg"][:58])
        Value error, stage 1 needs a BERT WordPiece tokenizer: set
    """

    task: Literal["qformer_stage1"] = "qformer_stage1"
    vision: VisionConfig
    qformer: QFormerArch = Field(default_factory=QFormerArch)
    tokenizer: str | None = None
    objectives: Stage1Objectives = Field(default_factory=Stage1Objectives)
    data: DataConfig
    train: TrainConfig

    @model_validator(mode="after")
    def _check(self) -> QFormerStage1Config:
        if self.tokenizer is None and self.qformer.bert_path is None:
            raise ValueError("stage 1 needs a BERT WordPiece tokenizer: set tokenizer (a local "
                             "folder) or qformer.bert_path")
        if self.vision.trainable:
            raise ValueError("BLIP-2 keeps the image encoder frozen in stage 1: vision.trainable "
                             "must be false")
        if self.train.batch_size < 2 and {"itc", "itm"} & set(self.objectives.losses):
            raise ValueError("ITC and ITM contrast the pairs of a batch: train.batch_size >= 2")
        return self

    @property
    def tokenizer_path(self) -> str:
        return self.tokenizer or str(self.qformer.bert_path)
