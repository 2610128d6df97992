"""ClipCap (Mokady, Hertz, Bermano 2021): map one CLIP image embedding to an LM prefix.

Example:
    >>> import torch
    >>> from socratic.adapters.config import ClipCapConfig
    >>> b = ClipCapBridge(ClipCapConfig(mapping="transformer", prefix_length=4, clip_length=2,
    ...                                 num_layers=1, num_heads=2), vision_dim=16, lm_dim=32)
    >>> b(torch.zeros(3, 16)).shape
    torch.Size([3, 4, 32])
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ClipCapConfig
from .base import Bridge

__all__ = ["ClipCapBridge"]


class ClipCapBridge(Bridge):
    """ClipCap mapping network, ``mlp`` or ``transformer`` (see :class:`ClipCapConfig`).

    Example:
        >>> b = ClipCapBridge(ClipCapConfig(prefix_length=3), vision_dim=8, lm_dim=4)
        >>> b(torch.zeros(2, 8)).shape
        torch.Size([2, 3, 4])
    """

    config_class = ClipCapConfig

    def __init__(
        self, config: ClipCapConfig, vision_dim: int, lm_dim: int, vocab_size: int = 0
    ) -> None:
        super().__init__(config, vision_dim, lm_dim, vocab_size)
        k = config.prefix_length
        if config.mapping == "mlp":
            hidden = config.hidden_dim or max(lm_dim * k // 2, 1)
            self.mlp = nn.Sequential(
                nn.Linear(vision_dim, hidden),
                nn.Tanh(),
                nn.Dropout(config.dropout),
                nn.Linear(hidden, lm_dim * k),
            )
        else:
            if lm_dim % config.num_heads:
                raise ValueError(
                    f"clipcap: LM width {lm_dim} is not divisible by num_heads {config.num_heads}"
                )
            self.linear = nn.Linear(vision_dim, config.clip_length * lm_dim)
            self.prefix_const = nn.Parameter(torch.randn(k, lm_dim))
            layer = nn.TransformerEncoderLayer(
                lm_dim,
                config.num_heads,
                dim_feedforward=2 * lm_dim,
                dropout=config.dropout,
                activation="relu",
                batch_first=True,
                norm_first=True,
            )
            self.transformer = nn.TransformerEncoder(
                layer, config.num_layers, enable_nested_tensor=False
            )

    @property
    def num_prefix_tokens(self) -> int:
        return self.config.prefix_length

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        b = features.shape[0]
        if self.config.mapping == "mlp":
            return self.mlp(features).view(b, self.config.prefix_length, self.lm_dim)
        x = self.linear(features).view(b, self.config.clip_length, self.lm_dim)
        const = self.prefix_const.unsqueeze(0).expand(b, -1, -1).to(x.dtype)
        out = self.transformer(torch.cat([x, const], dim=1))
        return out[:, self.config.clip_length :]
