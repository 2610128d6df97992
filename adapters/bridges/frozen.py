"""Frozen (Tsimpoukelli et al. 2021): a trainable vision encoder whose pooled output becomes
``prefix_length`` (default 2) embeddings for a frozen LM.

The vision encoder itself is trained along with this linear head (the VLM unfreezes it because
``FrozenConfig.trains_vision`` is True).

Example:
    >>> import torch
    >>> from socratic.adapters.config import FrozenConfig
    >>> FrozenBridge(FrozenConfig(), vision_dim=16, lm_dim=32)(torch.zeros(1, 16)).shape
    torch.Size([1, 2, 32])
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import FrozenConfig
from .base import Bridge

__all__ = ["FrozenBridge"]


class FrozenBridge(Bridge):
    """Linear map from the visual embedding to ``prefix_length`` LM embeddings.

    Example:
        >>> b = FrozenBridge(FrozenConfig(prefix_length=3), vision_dim=4, lm_dim=8)
        >>> b.num_prefix_tokens
        3
    """

    config_class = FrozenConfig

    def __init__(
        self, config: FrozenConfig, vision_dim: int, lm_dim: int, vocab_size: int = 0
    ) -> None:
        super().__init__(config, vision_dim, lm_dim, vocab_size)
        self.dropout = nn.Dropout(config.dropout)
        self.proj = nn.Linear(vision_dim, config.prefix_length * lm_dim)

    @property
    def num_prefix_tokens(self) -> int:
        return self.config.prefix_length

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.proj(self.dropout(features))
        return out.view(features.shape[0], self.config.prefix_length, self.lm_dim)
