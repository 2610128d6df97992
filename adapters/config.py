"""Configs of adapters runs: bridges (with a ``type`` discriminator), vision encoder, LM, data,
training, and the top-level :class:`RunConfig` of ``task: bridge`` and ``task: lora``.

Configs are pydantic models with ``extra="forbid"``. Files are read by
:func:`socratic.adapters.tasks.load_training_config` in the project's one config language
(``FILE:LINE:COL`` for every problem, "did you mean", one ``--set`` rule, ``./`` paths relative
to the file). Everything round-trips through JSON and YAML. Importing this module does not
import torch.

Example:
    >>> cfg = bridge_config_from_dict({"type": "clipcap", "mapping": "transformer"})
    >>> cfg.prefix_length, cfg.num_layers
    (10, 8)
    >>> bridge_config_from_dict(cfg.model_dump()) == cfg
    True
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    field_validator,
    model_validator,
)

from .distributed.config import DistributedConfig
from .eval_loop import EvalConfig
from .quantization import QuantizationConfig

__all__ = [
    "BRIDGE_CONFIGS",
    "BridgeConfig",
    "ClipCapConfig",
    "DataConfig",
    "FrozenConfig",
    "LMConfig",
    "LoraSettings",
    "PrefixTuningSettings",
    "QFormerArch",
    "QFormerConfig",
    "RunConfig",
    "TrainConfig",
    "VisionConfig",
    "bridge_config_from_dict",
    "register_bridge_config",
]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", protected_namespaces=(), validate_assignment=True, defer_build=True
    )

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        text = json.dumps(self.model_dump(mode="json"), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# ---------------------------------------------------------------- bridges


class BridgeConfig(_Model):
    """Base class of bridge configs; ``type`` names the bridge in the registry."""

    type: str
    #: which visual features the bridge reads: the pooled embedding or the patch tokens
    feature_kind: ClassVar[Literal["pooled", "tokens"]] = "pooled"
    #: True when the vision encoder is trained with the bridge (Frozen)
    trains_vision: ClassVar[bool] = False


class ClipCapConfig(BridgeConfig):
    """ClipCap (Mokady et al. 2021): a CLIP embedding mapped to ``prefix_length`` LM embeddings.

    ``mapping="mlp"``: Linear -> Tanh -> Linear (hidden defaults to ``lm_dim * prefix_length // 2``
    as in the paper); the paper fine-tunes GPT-2 with it (``lm.tune: full``), prefix length 10.
    ``mapping="transformer"``: a linear map to ``clip_length`` tokens, concatenated with
    ``prefix_length`` learned constants, through an 8-layer, 8-head transformer whose outputs at
    the constants are the prefix; the paper keeps GPT-2 frozen (prefix 40 / clip 40 on COCO).

    ``labels``: ``eos`` (default) appends the LM's end-of-sequence token to every caption's
    labels, so the model learns where a caption ends and generation stops by itself;
    ``reference`` trains as the authors' ``train.py`` does (caption tokens only, no EOS) and
    generation then stops after the first ``"."`` token (the reference's ``stop_token``) or at
    ``max_new_tokens``.

    Example:
        >>> ClipCapConfig(mapping="mlp", prefix_length=4).hidden_dim is None
        True
        >>> ClipCapConfig(labels="reference").labels
        'reference'
    """

    type: Literal["clipcap"] = "clipcap"
    mapping: Literal["mlp", "transformer"] = "mlp"
    prefix_length: int = Field(10, ge=1)
    clip_length: int = Field(10, ge=1, description="transformer mapping: tokens made from CLIP")
    num_layers: int = Field(8, ge=1, description="transformer mapping: layers")
    num_heads: int = Field(8, ge=1, description="transformer mapping: attention heads")
    hidden_dim: int | None = Field(None, description="mlp mapping: hidden width")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    labels: Literal["eos", "reference"] = "eos"


class QFormerArch(_Model):
    """The Q-Former's architecture (shared by the stage-2 bridge and ``task: qformer_stage1``).
    Paper sizes: 32 queries, BERT-base (768 wide, 12 layers, 12 heads, 3072 intermediate),
    cross-attention every 2nd layer. ``bert_path``: a local BERT folder (``save_pretrained``
    layout, e.g. bert-base-uncased) whose weights initialise the Q-Former as BLIP-2 does (self-
    attention, feed-forward and embeddings from BERT, the queries' feed-forward copied from the
    text one, cross-attention new); its sizes must equal these.

    Example:
        >>> QFormerArch().hidden_size, QFormerArch().num_query_tokens
        (768, 32)
    """

    num_query_tokens: int = Field(32, ge=1)
    hidden_size: int = Field(768, ge=8)
    num_layers: int = Field(12, ge=1)
    num_heads: int = Field(12, ge=1)
    intermediate_size: int = Field(3072, ge=8)
    cross_attention_frequency: int = Field(2, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    bert_path: str | None = None

    def arch(self) -> dict[str, Any]:
        """The fields that fix the weights' shapes (compared with a stage-1 checkpoint)."""
        return {k: getattr(self, k) for k in ("num_query_tokens", "hidden_size", "num_layers",
                                              "num_heads", "intermediate_size",
                                              "cross_attention_frequency")}


class QFormerConfig(BridgeConfig, QFormerArch):
    """BLIP-2 stage 2: the Q-Former's learned queries cross-attend to patch features; their
    outputs, projected to the LM width, are the prefix of the frozen LM (sizes: see
    :class:`QFormerArch`).

    ``stage1_checkpoint``: the ``qformer/`` folder written by ``task: qformer_stage1``; its
    weights (queries, Q-Former, vision LayerNorm) initialise the bridge (its architecture must
    equal this one, and the vision encoder must be the one stage 1 used). As in BLIP-2 the
    Q-Former keeps training in stage 2 with the projection; ``freeze_qformer: true`` trains
    the projection only.

    Example:
        >>> QFormerConfig(num_query_tokens=8, hidden_size=64).feature_kind
        'tokens'
    """

    feature_kind: ClassVar[Literal["pooled", "tokens"]] = "tokens"
    type: Literal["qformer"] = "qformer"
    stage1_checkpoint: str | None = None
    freeze_qformer: bool = False

    @model_validator(mode="before")
    @classmethod
    def _moved_stage1(cls, data: Any) -> Any:
        if isinstance(data, dict) and "stage1_losses" in data:
            raise ValueError(
                "stage1_losses moved: BLIP-2 stage 1 (ITC, ITM, ITG) is now its own run, "
                "'task: qformer_stage1' (see examples/train_qformer_stage1.yaml); give its "
                "output here as stage1_checkpoint"
            )
        return data


class FrozenConfig(BridgeConfig):
    """Frozen (Tsimpoukelli et al. 2021): a trainable vision encoder whose pooled output is
    linearly mapped to ``prefix_length`` (paper: 2) prefix embeddings; the LM stays frozen.

    Example:
        >>> FrozenConfig().prefix_length, FrozenConfig.trains_vision
        (2, True)
    """

    trains_vision: ClassVar[bool] = True
    type: Literal["frozen"] = "frozen"
    prefix_length: int = Field(2, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


BRIDGE_CONFIGS: dict[str, type[BridgeConfig]] = {
    "clipcap": ClipCapConfig,
    "qformer": QFormerConfig,
    "frozen": FrozenConfig,
}


def register_bridge_config(name: str, cls: type[BridgeConfig]) -> None:
    """Register a bridge config class under ``type: name`` (see ``bridges.register_bridge``)."""
    BRIDGE_CONFIGS[name] = cls


def bridge_config_from_dict(data: dict[str, Any] | BridgeConfig) -> BridgeConfig:
    """Build the right bridge config from a mapping with a ``type`` key."""
    if isinstance(data, BridgeConfig):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"bridge config must be a mapping, got {type(data).__name__}")
    kind = data.get("type")
    if kind not in BRIDGE_CONFIGS:
        raise ValueError(
            f"unknown bridge type {kind!r}; known: {', '.join(sorted(BRIDGE_CONFIGS))}"
        )
    return BRIDGE_CONFIGS[kind](**data)


# ---------------------------------------------------------------- models


class VisionConfig(_Model):
    """The vision encoder: an open_clip or timm visual tower, loaded from local files offline.

    open_clip: ``model`` is an architecture name (``ViT-B-32``) with ``pretrained`` a tag or a
    checkpoint file, or ``local-dir:PATH`` (a folder with ``open_clip_config.json`` and weights);
    ``model_config_path`` registers an extra JSON architecture first. timm: ``model`` is a timm
    name and ``pretrained`` a weights file (or ``null`` for random init).

    Example:
        >>> VisionConfig(model="ViT-B-32", pretrained="openai").backend
        'open_clip'
    """

    backend: Literal["open_clip", "timm"] = "open_clip"
    model: str
    pretrained: str | None = None
    model_config_path: str | None = None
    image_size: int | None = Field(None, ge=8)
    trainable: bool = False
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None


class LoraSettings(_Model):
    """LoRA through peft (``lm.tune: lora``); ``target_modules: null`` uses peft's default for
    the architecture."""

    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | None = None
    bias: Literal["none", "all", "lora_only"] = "none"


class PrefixTuningSettings(_Model):
    """Prefix tuning through peft (``lm.tune: prefix``)."""

    num_virtual_tokens: int = Field(10, ge=1)
    prefix_projection: bool = False
    encoder_hidden_size: int | None = None


class LMConfig(_Model):
    """The language model: a local transformers folder (or hub id when online).

    ``tune``: ``frozen`` (default), ``full`` (all LM weights train, ClipCap-MLP style), ``lora``
    or ``prefix`` (peft; the adapter is saved as a standard peft folder). With a bridge,
    ``prefix`` is refused: peft's prefix tuning cannot generate from input embeddings.

    Example:
        >>> LMConfig(path="models/gpt2", tune="lora").lora.r
        8
    """

    path: str
    tokenizer: str | None = None
    kind: Literal["auto", "causal", "seq2seq"] = "auto"
    tune: Literal["frozen", "full", "lora", "prefix"] = "frozen"
    lora: LoraSettings = Field(default_factory=LoraSettings)
    prefix_tuning: PrefixTuningSettings = Field(default_factory=PrefixTuningSettings)
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    quantization: QuantizationConfig | None = None


# ---------------------------------------------------------------- data and training


class DataConfig(_Model):
    """Where the examples come from.

    Caption data (task ``bridge``): ``format`` ``jsonl`` ({image, caption}), ``csv`` (columns
    ``image_column`` / ``caption_column``) or ``coco`` (Karpathy-split ``dataset_coco.json`` or
    COCO ``captions_*.json``); ``auto`` guesses from the suffix. Image paths are relative to
    ``image_root`` (default: the data file's folder). ``feature_cache`` is a folder for
    precomputed visual features (used when the vision encoder is frozen).
    Text data (task ``lora``): JSONL with ``prompt_field`` / ``completion_field``.

    Example:
        >>> DataConfig(train="data/train.jsonl").format
        'auto'
    """

    train: str
    val: str | None = None
    format: Literal["auto", "jsonl", "csv", "coco"] = "auto"
    image_root: str | None = None
    train_split: list[str] = Field(default_factory=lambda: ["train", "restval"])
    val_split: list[str] = Field(default_factory=lambda: ["val"])
    image_column: str = "image"
    caption_column: str = "caption"
    prompt: str | None = None
    max_text_tokens: int = Field(48, ge=4)
    feature_cache: str | None = None
    precompute_features: bool = True
    max_samples: int | None = Field(None, ge=1)
    prompt_field: str = "prompt"
    completion_field: str = "completion"


class TrainConfig(_Model):
    """Optimisation and bookkeeping (see ``adapters.train.Trainer``).

    Example:
        >>> TrainConfig(output_dir="runs/x", max_steps=100).schedule
        'linear'
    """

    output_dir: str
    max_steps: int = Field(1000, ge=1)
    batch_size: int = Field(32, ge=1, description="per process, per micro-step")
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = Field(0, ge=0)
    schedule: Literal["linear", "cosine", "constant"] = "linear"
    max_grad_norm: float | None = Field(1.0, gt=0)
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    eval_every: int = Field(0, ge=0, description="0: only at the end")
    eval_samples: int = Field(64, ge=1)
    eval_max_new_tokens: int = Field(24, ge=1)
    save_every: int = Field(0, ge=0, description="0: only at the end")
    keep_last: int = Field(2, ge=1)
    log_every: int = Field(10, ge=1)
    seed: int = 0
    resume: bool = True
    progress_bar: bool = True
    tensorboard: bool = True
    cpu: bool = False
    num_workers: int = Field(0, ge=0)


class RunConfig(_Model):
    """A whole ``socratic train`` run: ``task: bridge`` (vision + bridge + LM on captions) or
    ``task: lora`` (LoRA / prefix tuning of the LM on prompt/completion JSONL).

    Example:
        >>> cfg = RunConfig.model_validate({
        ...     "vision": {"model": "ViT-B-32"}, "bridge": {"type": "frozen"},
        ...     "lm": {"path": "gpt2"}, "data": {"train": "t.jsonl"},
        ...     "train": {"output_dir": "out"}})
        >>> cfg.bridge.type
        'frozen'
    """

    task: Literal["bridge", "lora"] = "bridge"
    vision: VisionConfig | None = None
    bridge: SerializeAsAny[BridgeConfig] | None = None
    lm: LMConfig
    data: DataConfig
    train: TrainConfig
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)
    eval: EvalConfig | None = None

    @field_validator("bridge", mode="before")
    @classmethod
    def _bridge(cls, value: Any) -> Any:
        if value is None or isinstance(value, BridgeConfig):
            return value
        return bridge_config_from_dict(value)

    @model_validator(mode="after")
    def _sections_fit_the_task(self) -> RunConfig:
        if self.task == "bridge":
            if self.bridge is None:
                raise ValueError("task 'bridge' needs a 'bridge' section")
            if self.vision is None:
                raise ValueError("task 'bridge' needs a 'vision' section")
        if self.task == "bridge" and self.lm.tune == "prefix":
            raise ValueError(
                "lm.tune: prefix works for task lora only (peft's prefix tuning cannot generate "
                "from the bridge's input embeddings); use frozen, full or lora with a bridge"
            )
        if self.task == "lora" and self.lm.tune not in ("lora", "prefix"):
            raise ValueError("task 'lora' needs lm.tune: lora or prefix")
        return self

    @model_validator(mode="after")
    def _scale_sections(self) -> RunConfig:
        from .distributed.validate import check_scale_sections

        check_scale_sections(self)
        return self
