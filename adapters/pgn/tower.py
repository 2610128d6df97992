"""A frozen open_clip ViT image tower that accepts extra tokens ("visual prompts") appended to its
input sequence, as the PGN reference code does: patch embeddings, the class token and the
positional embeddings as usual, then the prompts (without positional embeddings), then the
tower's pre-norm, transformer, pooling of the image tokens and projection.

Prompts come as latent tokens ``[B, P, width]`` or as pixel patches ``[B, P, 3, p, p]`` that the
tower's own (linear) patch embedding turns into tokens (see :mod:`.inversion`).

Example:
    >>> import torch
    >>> from socratic.testing import make_tiny_open_clip
    >>> from socratic.loaders import load_open_clip
    >>> import tempfile
    >>> visual = load_open_clip(make_tiny_open_clip(tempfile.mkdtemp()).local_dir).model.visual.eval()
    >>> tower = PromptedViT(visual)
    >>> x = torch.randn(2, 3, 32, 32)
    >>> torch.allclose(tower(x), visual(x), atol=1e-5)          # no prompts: the tower as it was
    True
    >>> tower(x, prompts=torch.randn(2, 4, tower.width)).shape
    torch.Size([2, 32])
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PromptedViT"]


class PromptedViT(nn.Module):
    """Wrap an open_clip ``VisionTransformer`` (kept frozen) to take prompt tokens.

    Example:
        >>> PromptedViT(nn.Linear(2, 2))
        Traceback (most recent call last):
        ...
        ValueError: PGN needs an open_clip VisionTransformer image tower (conv1, class_embedding, ...), ...
    """

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        needed = ("conv1", "class_embedding", "positional_embedding", "ln_pre", "transformer", "_pool")
        if not all(hasattr(visual, n) for n in needed):
            raise ValueError(
                "PGN needs an open_clip VisionTransformer image tower (conv1, class_embedding, "
                f"...), got {type(visual).__name__}"
            )
        self.visual = visual.requires_grad_(False).eval()
        self.width = int(visual.conv1.out_channels)
        self.patch = int(visual.conv1.kernel_size[0])
        self.output_dim = int(visual.proj.shape[1]) if visual.proj is not None else self.width

    def train(self, mode: bool = True) -> PromptedViT:
        super().train(mode)
        self.visual.eval()  # frozen: no dropout
        return self

    def embed_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, P, width]`` of pixel patches ``[B, P, 3, p, p]`` by the patch embedding."""
        b, p = patches.shape[:2]
        return self.visual.conv1(patches.flatten(0, 1)).view(b, p, self.width)

    def forward(
        self,
        pixels: torch.Tensor,
        prompts: torch.Tensor | None = None,
        pixel_prompts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Pooled, projected output ``[B, output_dim]`` with ``prompts`` (latent tokens) or
        ``pixel_prompts`` (patches) appended to the input sequence."""
        v = self.visual
        x = v.conv1(pixels).flatten(2).transpose(1, 2)  # [B, grid*grid, width]
        cls = v.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], 1) + v.positional_embedding.to(x.dtype)
        n = x.shape[1]
        if pixel_prompts is not None:
            prompts = self.embed_patches(pixel_prompts)
        if prompts is not None:
            x = torch.cat([x, prompts.to(x.dtype)], 1)
        x = v.transformer(v.ln_pre(x))
        pooled, _ = v._pool(x[:, :n])  # the image tokens only: prompts are read, not pooled
        return pooled @ v.proj if v.proj is not None else pooled
