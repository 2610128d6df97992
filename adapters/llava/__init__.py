"""The LLaVA-style two-stage recipe (``task: llava``): a 2-layer GELU projector from a CLIP /
SigLIP vision tower into a causal LM, stage 1 on captions (projector only), stage 2 on LLaVA
JSON conversations (projector + LoRA), loss on assistant turns, exported as a transformers
``LlavaForConditionalGeneration`` folder. See ``config.py``.

Example:
    >>> from socratic.adapters.llava import LlavaRunConfig
    >>> LlavaRunConfig.model_fields["stage"].default
    1
"""

from __future__ import annotations

from .config import LlavaRunConfig

__all__ = ["LlavaRunConfig"]
