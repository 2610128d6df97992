"""Flamingo's gated cross-attention dense block: text tokens attend to the resampled visual
tokens (only those of the image immediately before them, by default), then a feed-forward
block; each adds to the residual stream through ``tanh(gate)``, with the gates initialised at 0
so that, before training, the frozen LM computes exactly what it computed alone.

Example:
    >>> import torch
    >>> block = GatedCrossAttentionBlock(dim=16, dim_visual=8, dim_head=4, heads=2)
    >>> x = torch.randn(1, 5, 16)
    >>> media = torch.randn(1, 2, 3, 8)                       # 2 images x 3 visual tokens
    >>> where = torch.tensor([[True, False, True, False, False]])
    >>> torch.equal(block(x, media, where), x)              # zero gates: the identity
    True
"""

from __future__ import annotations

import torch
from torch import nn

from .resampler import FeedForward, _heads, _merge

__all__ = ["GatedCrossAttentionBlock", "MaskedCrossAttention"]


class MaskedCrossAttention(nn.Module):
    """Queries from the text, keys / values from the visual tokens of ``T`` images; token ``i``
    sees image ``j`` when ``j`` is the last image at or before it (``only_immediate``) or any
    image at or before it; a token before every image gets no visual input (zeros)."""

    def __init__(
        self, dim: int, dim_visual: int, dim_head: int = 64, heads: int = 8, only_immediate: bool = True
    ) -> None:
        super().__init__()
        self.heads, self.scale, self.only_immediate = heads, dim_head**-0.5, only_immediate
        inner = dim_head * heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim_visual, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor, media: torch.Tensor, media_locations: torch.Tensor) -> torch.Tensor:
        b, t_img, n = media.shape[:3]
        q = _heads(self.to_q(self.norm(x)), self.heads) * self.scale  # [B, h, T_txt, d]
        k, v = (_heads(z, self.heads) for z in self.to_kv(media.reshape(b, t_img * n, -1)).chunk(2, -1))
        sim = q @ k.transpose(-1, -2)  # [B, h, T_txt, T_img * n]
        text_time = media_locations.long().cumsum(-1)  # images at or before each token
        media_time = torch.arange(1, t_img + 1, device=x.device).repeat_interleave(n)
        op = torch.eq if self.only_immediate else torch.ge
        allowed = op(text_time[:, None, :, None], media_time[None, None, None, :])
        sim = sim.masked_fill(~allowed, torch.finfo(sim.dtype).min)
        attn = sim.softmax(-1).masked_fill((text_time == 0)[:, None, :, None], 0.0)
        return self.to_out(_merge(attn @ v))


class GatedCrossAttentionBlock(nn.Module):
    """``x + tanh(attn_gate) * xattn(x)``, then ``+ tanh(ff_gate) * ff(.)``; gates start at 0.

    Example:
        >>> GatedCrossAttentionBlock(dim=8, dim_visual=4, dim_head=4, heads=1).attn_gate.item()
        0.0
    """

    def __init__(
        self,
        dim: int,
        dim_visual: int,
        dim_head: int = 64,
        heads: int = 8,
        ff_mult: int = 4,
        only_immediate: bool = True,
    ) -> None:
        super().__init__()
        self.attn = MaskedCrossAttention(dim, dim_visual, dim_head, heads, only_immediate)
        self.attn_gate = nn.Parameter(torch.zeros(1))
        self.ff = FeedForward(dim, ff_mult)
        self.ff_gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, media: torch.Tensor, media_locations: torch.Tensor) -> torch.Tensor:
        x = self.attn(x, media, media_locations) * self.attn_gate.tanh() + x
        return self.ff(x) * self.ff_gate.tanh() + x

    def gates(self) -> tuple[float, float]:
        """``(tanh(attn_gate), tanh(ff_gate))`` (both 0 before training)."""
        return float(self.attn_gate.detach().tanh()), float(self.ff_gate.detach().tanh())
