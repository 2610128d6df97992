"""ClipCap (Mokady, Hertz, Bermano 2021): map one CLIP image embedding to an LM prefix.

Both mapping networks follow the authors' released code (``CLIP_prefix_caption/train.py``)
layer for layer, so their parameter counts are the reference's for the same sizes:

- ``mlp``: Linear(``vision_dim`` -> ``lm_dim * prefix_length // 2``) -> Tanh -> Linear(->
  ``lm_dim * prefix_length``) (a Dropout after the Tanh, off by default, has no parameters);
- ``transformer``: Linear(``vision_dim`` -> ``clip_length * lm_dim``), concatenated with
  ``prefix_length`` learned constants (``torch.randn`` init), through ``num_layers`` pre-norm
  layers (LayerNorm -> multi-head self-attention whose query and key/value projections have
  **no bias** and whose output projection has one -> residual; LayerNorm -> Linear(d, 2d) ->
  ReLU -> Linear(2d, d) -> residual), no final norm; the outputs at the constants are the prefix.
  Module names mirror the reference (``linear``, ``prefix_const``,
  ``transformer.layers.N.{norm1, attn.to_queries, attn.to_keys_values, attn.project, norm2,
  mlp.fc1, mlp.fc2}``).

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
import torch.nn.functional as F
from torch import nn

from ..config import ClipCapConfig
from .base import Bridge

__all__ = ["ClipCapBridge", "MapperLayer"]


class _SelfAttention(nn.Module):
    """Multi-head self-attention as in the reference: q and k/v projections without bias."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.to_queries = nn.Linear(dim, dim, bias=False)
        self.to_keys_values = nn.Linear(dim, 2 * dim, bias=False)
        self.project = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        h = self.num_heads
        q = self.to_queries(x).view(b, n, h, c // h).transpose(1, 2)
        kv = self.to_keys_values(x).view(b, n, 2, h, c // h)
        k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(c/h)) v
        return self.project(out.transpose(1, 2).reshape(b, n, c))


class _MLP(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.dropout(F.relu(self.fc1(x)))))


class MapperLayer(nn.Module):
    """One pre-norm layer of ClipCap's transformer mapper (``mlp_ratio`` 2, ReLU).

    Example:
        >>> MapperLayer(8, 2)(torch.zeros(1, 3, 8)).shape
        torch.Size([1, 3, 8])
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _SelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _MLP(dim, 2 * dim, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _Mapper(nn.Module):
    def __init__(self, dim: int, num_heads: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(MapperLayer(dim, num_heads, dropout) for _ in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


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
            self.transformer = _Mapper(lm_dim, config.num_heads, config.num_layers, config.dropout)

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
