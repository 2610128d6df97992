"""The base of a system built around a frozen image encoder and a frozen decoder-only LM
(FROMAGe, the Flamingo-style bridge): loading both from their configs with the base models'
fingerprints, keeping them frozen and in eval mode, and the trainable-only state dict. A subclass
names its trainable parameters (``TRAINABLE``) and builds its own parts in ``__init__``.

Example:
    >>> import torch
    >>> class Tagger(FrozenVisionLM):                                  # doctest: +SKIP
    ...     TRAINABLE = ("tag.",)
    ...     def __init__(self, vision, lm, tokenizer, settings, **kw):
    ...         super().__init__(vision, lm, tokenizer, settings, **kw)
    ...         self.tag = torch.nn.Linear(vision.pooled_dim, 4)
    >>> Tagger.from_configs(VisionConfig(model="local-dir:/m/clip"),   # doctest: +SKIP
    ...                     LMConfig(path="/m/gpt2"), settings, seed=0)
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch
from torch import nn

from ..config import LMConfig, VisionConfig
from ..lm import apply_tuning, describe_lm, load_lm
from ..vision import VisionEncoder

__all__ = ["FrozenVisionLM"]

_M = TypeVar("_M", bound="FrozenVisionLM")


class FrozenVisionLM(nn.Module):
    """A frozen ``VisionEncoder`` and LM with the configs and fingerprints that saving needs
    (:mod:`.vision_lm_io`).

    Example:
        >>> FrozenVisionLM.TRAINABLE
        ()
    """

    #: name prefixes of the parameters that train (and that a saved model holds)
    TRAINABLE: tuple[str, ...] = ()
    #: the error when given an encoder-decoder LM
    NEEDS_DECODER_ONLY = "this model needs a decoder-only LM"

    def __init__(
        self,
        vision: VisionEncoder,
        lm: nn.Module,
        tokenizer: Any,
        settings: Any,
        *,
        vision_cfg: VisionConfig,
        lm_cfg: LMConfig,
        max_text_tokens: int,
        base_models: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.vision, self.lm, self.tokenizer, self.settings = vision, lm, tokenizer, settings
        self.vision_cfg, self.lm_cfg = vision_cfg, lm_cfg
        self.max_text_tokens = max_text_tokens
        self.base_models = base_models or {}
        self.vision.requires_grad_(False)
        self.lm.requires_grad_(False)

    @classmethod
    def from_configs(
        cls: type[_M],
        vision_cfg: VisionConfig,
        lm_cfg: LMConfig,
        settings: Any,
        *,
        max_text_tokens: int | None = None,
        seed: int | None = None,
    ) -> _M:
        """Load the frozen base models and build fresh trainable parts (seeded by ``seed``)."""
        vision = VisionEncoder(vision_cfg)
        lm, tok, seq2seq = load_lm(lm_cfg)
        if seq2seq:
            raise ValueError(cls.NEEDS_DECODER_ONLY)
        base_models = {"vision": vision.describe(), "lm": describe_lm(lm, lm_cfg)}
        lm = apply_tuning(lm, lm_cfg, seq2seq)
        if seed is not None:
            torch.manual_seed(seed)
        extra = {} if max_text_tokens is None else {"max_text_tokens": max_text_tokens}
        return cls(
            vision, lm, tok, settings, vision_cfg=vision_cfg, lm_cfg=lm_cfg, base_models=base_models, **extra
        )

    def train(self: _M, mode: bool = True) -> _M:
        """Like ``nn.Module.train``; the frozen encoder and LM always stay in eval mode."""
        super().train(mode)
        self.vision.eval()
        self.lm.eval()
        return self

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The parameters named by ``TRAINABLE`` (what a checkpoint and a saved model keep)."""
        return {n: p.detach() for n, p in self.named_parameters() if n.startswith(self.TRAINABLE)}
