"""The ``task: llava`` config: the LLaVA-style two-stage recipe (no torch at import).

Stage 1 (``stage: 1``) trains only the projector, a 2-layer MLP with GELU from the vision
tower's patch features into the frozen LM, on caption pairs (JSONL ``{image, caption}``, each
made a one-turn conversation: ``<image>`` + ``stage1_prompt`` -> caption). Stage 2 trains the
projector and LoRA on the LM on conversations in the LLaVA JSON format (``image``,
``conversations`` of ``human`` / ``gpt`` turns, ``<image>`` in the first human turn), starting
from stage 1's projector (``projector.init``). The loss is on the assistant turns only, the text
is laid out by the LM's chat template. Each stage saves ``OUTPUT_DIR/projector.safetensors``
and a transformers ``LlavaForConditionalGeneration`` folder ``OUTPUT_DIR/llava`` (config,
processor, weights; LoRA merged) that transformers and vLLM load without socratic.

Example:
    >>> cfg = LlavaRunConfig.model_validate({"task": "llava", "stage": 2,
    ...     "vision": {"path": "clip"}, "lm": {"path": "llama", "tune": "lora"},
    ...     "projector": {"init": "stage1/projector.safetensors"},
    ...     "data": {"train": "chat.json"}, "train": {"output_dir": "out"}})
    >>> cfg.vision.feature_layer, cfg.projector.hidden_size is None
    (-2, True)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import LMConfig, TrainConfig
from ..distributed.config import DistributedConfig
from ..eval_loop import EvalConfig

__all__ = ["LlavaDataConfig", "LlavaRunConfig", "LlavaVisionConfig", "ProjectorConfig"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LlavaVisionConfig(_Model):
    """A transformers CLIP or SigLIP folder (its vision tower and image processor).
    ``feature_layer``: which hidden state feeds the projector (LLaVA-1.5: the penultimate,
    -2); ``select``: ``default`` drops CLIP's class token, ``full`` keeps every token (SigLIP
    has none: ``auto`` picks)."""

    path: str
    feature_layer: int = -2
    select: Literal["auto", "default", "full"] = "auto"


class ProjectorConfig(_Model):
    """The 2-layer MLP (GELU). ``init``: projector weights to start from (stage 1's
    ``projector.safetensors``); ``hidden_size`` is the LM width, as in LLaVA-1.5."""

    init: str | None = None
    hidden_size: int | None = Field(None, ge=1, description="(fixed to the LM width by transformers)")


class LlavaDataConfig(_Model):
    """Stage 1: caption JSONL (``image_column`` / ``caption_column``); stage 2: a LLaVA JSON
    list (or JSONL) of ``{image, conversations}``. Image paths are relative to ``image_root``
    (default: the data file's folder)."""

    train: str
    val: str | None = None
    image_root: str | None = None
    image_column: str = "image"
    caption_column: str = "caption"
    stage1_prompt: str = "Describe the image briefly."
    max_text_tokens: int = Field(64, ge=8)
    max_samples: int | None = Field(None, ge=1)


class LlavaRunConfig(_Model):
    """``task: llava`` (see the module docstring)."""

    task: Literal["llava"] = "llava"
    stage: Literal[1, 2] = 1
    vision: LlavaVisionConfig
    lm: LMConfig
    projector: ProjectorConfig = Field(default_factory=ProjectorConfig)
    data: LlavaDataConfig
    train: TrainConfig
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)
    eval: EvalConfig | None = None

    @model_validator(mode="after")
    def _stage(self) -> LlavaRunConfig:
        if self.stage == 1 and self.lm.tune != "frozen":
            raise ValueError("stage 1 trains the projector only: lm.tune must be frozen")
        if self.stage == 2 and self.lm.tune not in ("lora", "full"):
            raise ValueError("stage 2 trains the projector and the LM: lm.tune: lora (or full)")
        from ..distributed.validate import check_scale_sections

        check_scale_sections(self)
        return self
