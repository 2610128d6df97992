"""Flamingo's Perceiver resampler: ``num_latents`` learned queries attend to an image's patch
tokens (keys and values: the tokens and the latents themselves), ``depth`` times with a
feed-forward block, giving a fixed number of visual tokens whatever the encoder's grid.

Example:
    >>> import torch
    >>> r = PerceiverResampler(dim=16, depth=2, dim_head=8, heads=2, num_latents=4)
    >>> r(torch.zeros(3, 2, 9, 16)).shape   # [batch, images, tokens, dim] -> [batch, images, latents, dim]
    torch.Size([3, 2, 4, 16])
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FeedForward", "PerceiverAttention", "PerceiverResampler"]


def FeedForward(dim: int, mult: int = 4) -> nn.Sequential:
    """LayerNorm -> Linear -> GELU -> Linear, no biases (as in open_flamingo)."""
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, dim * mult, bias=False),
        nn.GELU(),
        nn.Linear(dim * mult, dim, bias=False),
    )


class PerceiverAttention(nn.Module):
    """Latents attend to ``cat(media, latents)`` (normalised separately)."""

    def __init__(self, dim: int, dim_head: int = 64, heads: int = 8) -> None:
        super().__init__()
        self.heads, self.scale = heads, dim_head**-0.5
        inner = dim_head * heads
        self.norm_media, self.norm_latents = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, media: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        media, latents = self.norm_media(media), self.norm_latents(latents)
        q = self.to_q(latents)
        k, v = self.to_kv(torch.cat([media, latents], -2)).chunk(2, -1)
        q, k, v = (_heads(t, self.heads) for t in (q, k, v))
        attn = ((q * self.scale) @ k.transpose(-1, -2)).softmax(-1)
        return self.to_out(_merge(attn @ v))


class PerceiverResampler(nn.Module):
    """``[B, T, N, dim]`` patch tokens of ``T`` images -> ``[B, T, num_latents, dim]``.

    Example:
        >>> PerceiverResampler(dim=8, depth=1, dim_head=4, heads=2, num_latents=3).latents.shape
        torch.Size([3, 8])
    """

    def __init__(
        self,
        dim: int,
        depth: int = 6,
        dim_head: int = 64,
        heads: int = 8,
        num_latents: int = 64,
        ff_mult: int = 4,
    ) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.randn(num_latents, dim))
        self.layers = nn.ModuleList(
            nn.ModuleList([PerceiverAttention(dim, dim_head, heads), FeedForward(dim, ff_mult)])
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, media: torch.Tensor) -> torch.Tensor:
        b, t = media.shape[:2]
        latents = self.latents.expand(b, t, *self.latents.shape).to(media.dtype)
        for attn, ff in self.layers:  # type: ignore[misc]
            latents = attn(media, latents) + latents
            latents = ff(latents) + latents
        return self.norm(latents)


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[..., n, heads * d]`` -> ``[..., heads, n, d]``."""
    *lead, n, hd = x.shape
    return x.view(*lead, n, heads, hd // heads).transpose(-2, -3)


def _merge(x: torch.Tensor) -> torch.Tensor:
    """``[..., heads, n, d]`` -> ``[..., n, heads * d]``."""
    *lead, h, n, d = x.shape
    return x.transpose(-2, -3).reshape(*lead, n, h * d)
