"""Linear probing of a frozen encoder, as in MAE: class-token features computed once, a
BatchNorm without affine parameters and a linear layer trained on them, top-1 accuracy on the
held-out features.

Example:
    >>> import torch
    >>> x = torch.randn(200, 8); y = (x[:, 0] > 0).long()
    >>> linear_probe(x[:150], y[:150], x[150:], y[150:], 2, steps=100)["probe_acc"] > 0.8
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["linear_probe"]


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    num_classes: int,
    *,
    steps: int = 300,
    lr: float = 1e-2,
    batch_size: int = 256,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> dict[str, float]:
    """Train BatchNorm(affine=False) + Linear on ``train_x``; ``{"probe_acc", "probe_train_acc"}``."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = nn.Sequential(
        nn.BatchNorm1d(train_x.shape[1], affine=False, eps=1e-6), nn.Linear(train_x.shape[1], num_classes)
    )
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    keep = train_y >= 0
    train_x, train_y = train_x[keep].float(), train_y[keep]
    head.train()
    for _ in range(steps):
        idx = torch.randint(0, train_x.shape[0], (min(batch_size, train_x.shape[0]),), generator=gen)
        loss = F.cross_entropy(head(train_x[idx]), train_y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    head.eval()
    with torch.no_grad():
        acc = (head(val_x.float()).argmax(-1) == val_y).float().mean()
        train_acc = (head(train_x).argmax(-1) == train_y).float().mean()
    return {"probe_acc": float(acc), "probe_train_acc": float(train_acc)}
