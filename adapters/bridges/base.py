"""Bridge base class and the registry of bridges by name (``type`` in a bridge config).

A bridge turns visual features into ``num_prefix_tokens`` embeddings of the LM's width, which
:class:`~socratic.adapters.vlm.VisionLanguageModel` prepends to the text. Each bridge lives in
its own small module (``clipcap.py``, ``qformer.py``, ``frozen.py``) and registers itself.

Example:
    >>> from socratic.adapters.bridges import bridge_names
    >>> bridge_names()
    ['clipcap', 'frozen', 'qformer']
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import torch
from torch import nn

from ..config import BridgeConfig, register_bridge_config

__all__ = ["Bridge", "bridge_class", "bridge_names", "build_bridge", "register_bridge"]

_BRIDGES: dict[str, str | type[Bridge]] = {
    "clipcap": "socratic.adapters.bridges.clipcap:ClipCapBridge",
    "qformer": "socratic.adapters.bridges.qformer:QFormerBridge",
    "frozen": "socratic.adapters.bridges.frozen:FrozenBridge",
}


class Bridge(nn.Module):
    """Base class: ``forward(features) -> prefix embeddings [batch, num_prefix_tokens, lm_dim]``.

    ``features`` is the pooled embedding ``[B, D]`` or the patch tokens ``[B, N, D]`` according
    to ``config.feature_kind``. Subclasses may add an auxiliary loss (``auxiliary_loss``).

    Example:
        >>> class Linear(Bridge):
        ...     def __init__(self, config, vision_dim, lm_dim, vocab_size=0):
        ...         super().__init__(config, vision_dim, lm_dim, vocab_size)
        ...         self.proj = nn.Linear(vision_dim, lm_dim)
        ...     @property
        ...     def num_prefix_tokens(self):
        ...         return 1
        ...     def forward(self, features):
        ...         return self.proj(features)[:, None]
        >>> from socratic.adapters.config import FrozenConfig
        >>> Linear(FrozenConfig(), 8, 16)(torch.zeros(2, 8)).shape
        torch.Size([2, 1, 16])
    """

    config_class: ClassVar[type[BridgeConfig]] = BridgeConfig

    def __init__(
        self, config: BridgeConfig, vision_dim: int, lm_dim: int, vocab_size: int = 0
    ) -> None:
        super().__init__()
        self.config = config
        self.vision_dim = vision_dim
        self.lm_dim = lm_dim
        self.vocab_size = vocab_size

    @property
    def num_prefix_tokens(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def initialize(self, base_models: dict[str, Any]) -> None:
        """Called once when a bridge is built for training (not when a trained bridge is
        loaded): load starting weights (e.g. a stage-1 checkpoint). ``base_models`` describes
        the vision encoder and LM (paths, weight fingerprints)."""

    def auxiliary_loss(
        self, features: torch.Tensor, text_ids: torch.Tensor, text_mask: torch.Tensor
    ) -> torch.Tensor | None:
        """An extra training loss on (features, caption tokens); None when the bridge has none."""
        return None


def register_bridge(name: str, target: str | type[Bridge], config_class: Any = None) -> None:
    """Register a bridge class (or ``"module:Class"``) under ``name``; with ``config_class``
    the name also becomes a valid ``type`` in configs."""
    _BRIDGES[name] = target
    if config_class is not None:
        register_bridge_config(name, config_class)


def bridge_names() -> list[str]:
    return sorted(_BRIDGES)


def bridge_class(name: str) -> type[Bridge]:
    target = _BRIDGES.get(name)
    if target is None:
        raise ValueError(f"unknown bridge type {name!r}; known: {', '.join(bridge_names())}")
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
        _BRIDGES[name] = target
    return target


def build_bridge(
    config: BridgeConfig, vision_dim: int, lm_dim: int, vocab_size: int = 0
) -> Bridge:
    """Build the bridge named by ``config.type`` (``vocab_size``: the LM tokenizer's size)."""
    return bridge_class(config.type)(config, vision_dim, lm_dim, vocab_size)
