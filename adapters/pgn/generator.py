"""Prompt generators: input-dependent prompts mixed from a learned token library (PGN) and
input-independent learned prompts (the reference code's ``IIP``).

The PGN's network is a small ResNet (the paper's "ResNet-10": one basic block per group, channels
doubling from ``channels``) reading the image at ``resolution``; its output gives, for each of
``num_prompts`` slots, weights over the ``library_size`` tokens (softmax), and the prompt of the
slot is the weighted sum of the library's tokens.

Example:
    >>> import torch
    >>> from socratic.adapters.pgn.config import PGNSettings
    >>> gen = PromptGenerator(PGNSettings(num_prompts=4, library_size=8, channels=4, groups=2), width=16)
    >>> gen(torch.randn(3, 3, 32, 32)).shape
    torch.Size([3, 4, 16])
    >>> FixedPrompts(4, 16)(torch.randn(3, 3, 32, 32)).shape
    torch.Size([3, 4, 16])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import PGNSettings

__all__ = ["FixedPrompts", "PromptGenerator", "SmallResNet", "at_resolution"]


def at_resolution(images: torch.Tensor, resolution: int | None) -> torch.Tensor:
    """``images`` resized (bilinear) to ``resolution`` when set and different."""
    if resolution and images.shape[-1] != resolution:
        return F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False)
    return images


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.net(x) + self.skip(x))


class SmallResNet(nn.Module):
    """A ResNet with ``groups`` groups of ``blocks_per_group`` basic blocks (the first group at
    full resolution, then stride 2), global average pooling and a linear layer.

    Example:
        >>> SmallResNet(10, channels=4, groups=2)(torch.zeros(2, 3, 16, 16)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        out_features: int,
        channels: int = 16,
        groups: int = 4,
        blocks_per_group: int = 1,
        init_max_pool: bool = True,
    ) -> None:
        super().__init__()
        stem: list[nn.Module] = [
            nn.Conv2d(3, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        ]
        if init_max_pool:
            stem.append(nn.MaxPool2d(3, 2, 1))
        layers, c = [nn.Sequential(*stem)], channels
        for g in range(groups):
            c_out = channels * 2**g
            for b in range(blocks_per_group):
                layers.append(_Block(c, c_out, 2 if g > 0 and b == 0 else 1))
                c = c_out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


class PromptGenerator(nn.Module):
    """PGN: ``[B, 3, H, W]`` images -> ``[B, num_prompts, width]`` prompts mixed from a library.

    Example:
        >>> gen = PromptGenerator(PGNSettings(num_prompts=2, library_size=5, channels=4, groups=1), 8)
        >>> w = gen.weights(torch.randn(1, 3, 16, 16))              # softmax weights per slot
        >>> w.shape, torch.allclose(w.sum(-1), torch.ones(1, 2))
        (torch.Size([1, 2, 5]), True)
    """

    def __init__(self, settings: PGNSettings, width: int) -> None:
        super().__init__()
        s = settings
        self.settings = s
        self.net = SmallResNet(
            s.num_prompts * s.library_size, s.channels, s.groups, s.blocks_per_group, s.init_max_pool
        )
        self.library = nn.Parameter(torch.empty(s.library_size, width).normal_(std=0.02))

    def weights(self, images: torch.Tensor) -> torch.Tensor:
        """Mixing weights ``[B, num_prompts, library_size]``."""
        s = self.settings
        images = at_resolution(images, s.resolution)
        logits = self.net(images).view(images.shape[0], s.num_prompts, s.library_size)
        return logits.softmax(-1) if s.activation == "softmax" else logits.sigmoid()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.weights(images) @ self.library


class FixedPrompts(nn.Module):
    """Input-independent prompts: ``num_prompts`` learned tokens, the same for every image."""

    def __init__(self, num_prompts: int, width: int) -> None:
        super().__init__()
        self.prompts = nn.Parameter(torch.empty(num_prompts, width).normal_(std=0.02))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.prompts.expand(images.shape[0], -1, -1)
