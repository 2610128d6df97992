"""PGN's "prompt inversion": prompts are learned as tokens in the tower's latent input space, and
deployed in pixel space. A ViT's first layer (the patch embedding, a convolution with stride =
kernel and, in CLIP, no bias) is linear, so each library token ``t`` has pixel patches ``x`` with
``conv1(x) = t`` (``x = pinv(A) t``, exact when ``3 p^2 >= width``, true of every CLIP ViT); a
PGN's prompt, a weighted sum of tokens, is then the same weighted sum of patches.

:func:`attach_strip` lays the prompt patches out as extra rows of patches below the image, and
:func:`forward_input_only` runs the tower on that one taller image: the image part as usual, the
strip's patches through the same patch embedding, without positional embeddings (as in training).
What this does not give is a fully black-box tower: a stock ViT would add positional embeddings
to the strip too (it has none for those positions), so the tower must know the strip's size.

Example:
    >>> import torch
    >>> conv = torch.nn.Conv2d(3, 8, 4, 4, bias=False)
    >>> tokens = torch.randn(5, 8)
    >>> patches = invert_tokens(conv, tokens)                  # [5, 3, 4, 4]
    >>> torch.allclose(conv(patches).flatten(1), tokens, atol=1e-4)
    True
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["attach_strip", "forward_input_only", "invert_tokens", "pixel_prompts", "split_strip"]


def invert_tokens(conv1: nn.Conv2d, tokens: torch.Tensor) -> torch.Tensor:
    """Pixel patches ``[..., 3, p, p]`` whose patch embedding is ``tokens`` ``[..., width]``."""
    if conv1.bias is not None:
        raise ValueError("prompt inversion needs a patch embedding without bias (as CLIP's)")
    width, c, p, _ = conv1.weight.shape
    if c * p * p < width:
        raise ValueError(f"patches of {c}x{p}x{p} pixels cannot reach a {width}-wide token space")
    a = conv1.weight.detach().reshape(width, -1).double()  # [width, 3 p^2]
    flat = tokens.detach().double().reshape(-1, width) @ torch.linalg.pinv(a).t()
    return flat.to(tokens.dtype).reshape(*tokens.shape[:-1], c, p, p)


@torch.no_grad()
def pixel_prompts(model: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """The prompts of a trained :class:`~.model.PromptClassifier` for ``pixels``, as patches
    ``[B, num_prompts, 3, p, p]``: the library (or fixed prompts) inverted, then mixed."""
    from .generator import FixedPrompts

    conv1 = model.tower.visual.conv1
    prompter = model.prompter
    if prompter is None:
        raise ValueError("a linear probe has no prompts")
    if isinstance(prompter, FixedPrompts):
        return invert_tokens(conv1, prompter.prompts).expand(pixels.shape[0], -1, -1, -1, -1)
    library = invert_tokens(conv1, prompter.library).flatten(1)  # [M, 3 p^2]
    mixed = prompter.weights(pixels.to(library.device)) @ library  # [B, P, 3 p^2]
    return mixed.view(*mixed.shape[:2], *conv1.weight.shape[1:])


def attach_strip(pixels: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
    """``[B, 3, S, S]`` images + ``[B, P, 3, p, p]`` patches -> ``[B, 3, S + r p, S]``: the patches
    row by row below the image (unused places zero)."""
    b, n, c, p, _ = patches.shape
    per_row = pixels.shape[-1] // p
    rows = math.ceil(n / per_row)
    grid = torch.zeros(b, rows * per_row, c, p, p, dtype=patches.dtype, device=patches.device)
    grid[:, :n] = patches
    strip = (
        grid.view(b, rows, per_row, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(b, c, rows * p, per_row * p)
    )
    return torch.cat([pixels, strip.to(pixels.dtype)], 2)


def split_strip(
    image: torch.Tensor, size: int, patch: int, num_prompts: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of :func:`attach_strip`: ``(pixels [B, 3, S, S], patches [B, P, 3, p, p])``."""
    pixels, strip = image[:, :, :size], image[:, :, size:]
    b, c, h, w = strip.shape
    grid = strip.reshape(b, c, h // patch, patch, w // patch, patch).permute(0, 2, 4, 1, 3, 5)
    return pixels, grid.reshape(b, -1, c, patch, patch)[:, :num_prompts]


def forward_input_only(model: nn.Module, image: torch.Tensor, num_prompts: int) -> torch.Tensor:
    """Class logits of a :class:`~.model.PromptClassifier` from images that carry their prompts
    as a strip of pixel patches (:func:`attach_strip`); the prompter is not run."""
    size = image.shape[-1]
    pixels, patches = split_strip(image, size, model.tower.patch, num_prompts)
    return model.head(model.tower(pixels.to(model.device), pixel_prompts=patches.to(model.device)))
