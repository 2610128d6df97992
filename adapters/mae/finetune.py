"""Fine-tuning evaluation of a MAE encoder, the paper's main protocol: the whole encoder and a
linear head trained end to end on labelled images, with layer-wise learning-rate decay (each
block ``layer_decay`` times the rate of the one above it, the embeddings lowest), AdamW, warmup
and a cosine schedule; top-1 accuracy on held-out images. Run on the MAE encoder and on the same
encoder from its random initialisation ("from scratch", same schedule) to see what pretraining
gave.

Example:
    >>> from socratic.adapters.mae.config import FinetuneSettings, MAEModelSettings
    >>> from socratic.adapters.mae.model import MaskedAutoencoder
    >>> import torch
    >>> s = MAEModelSettings(image_size=16, patch_size=4, hidden_size=16, num_layers=1, num_heads=2,
    ...                      decoder_hidden_size=16, decoder_num_layers=1, decoder_num_heads=2)
    >>> x, y = torch.randn(8, 3, 16, 16), torch.tensor([0, 1] * 4)
    >>> acc = finetune_encoder(MaskedAutoencoder(s, seed=0), (x, y), (x, y), 2, FinetuneSettings(steps=2))
    >>> 0.0 <= acc <= 1.0
    True
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import FinetuneSettings
from .model import MaskedAutoencoder

__all__ = ["finetune_encoder", "layer_decay_groups"]


def layer_decay_groups(
    mae: MaskedAutoencoder, head: nn.Module, lr: float, decay: float
) -> list[dict[str, object]]:
    """AdamW parameter groups: the head and the final LayerNorm at ``lr``, block ``i`` of ``n``
    at ``lr * decay ** (n - i)``, the (trainable) embeddings at ``lr * decay ** (n + 1)``."""
    vit = mae.mae.vit
    n = len(vit.layers)
    groups: list[dict[str, object]] = [
        {"params": [*head.parameters(), *vit.layernorm.parameters()], "lr": lr}
    ]
    for i, layer in enumerate(vit.layers):
        groups.append({"params": list(layer.parameters()), "lr": lr * decay ** (n - i)})
    embeddings = [p for p in vit.embeddings.parameters() if p.requires_grad]
    groups.append({"params": embeddings, "lr": lr * decay ** (n + 1)})
    return groups


def finetune_encoder(
    mae: MaskedAutoencoder,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    settings: FinetuneSettings,
    *,
    seed: int = 0,
) -> float:
    """Fine-tune a copy of ``mae``'s encoder with a linear head on ``train`` (pixels, labels; the
    first ``settings.labels`` only when set); held-out accuracy on ``val``. ``mae`` is unchanged."""
    s = settings
    model = copy.deepcopy(mae).train()
    torch.manual_seed(seed)
    width = model.settings.hidden_size
    head = nn.Sequential(nn.BatchNorm1d(width, affine=False, eps=1e-6), nn.Linear(width, num_classes))
    x, y = train
    keep = y >= 0
    x, y = x[keep], y[keep]
    if s.labels:
        x, y = x[: s.labels], y[: s.labels]
    opt = torch.optim.AdamW(
        layer_decay_groups(model, head, s.lr, s.layer_decay), weight_decay=s.weight_decay
    )
    warmup = max(1, min(s.warmup_steps, s.steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: min(1.0, (k + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * k / s.steps))
    )
    gen = torch.Generator().manual_seed(seed)
    for _ in range(s.steps):
        idx = torch.randint(0, len(x), (min(s.batch_size, len(x)),), generator=gen)
        loss = F.cross_entropy(head(model.pooled(x[idx])), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    model.eval()
    head.eval()
    vx, vy = val
    with torch.no_grad():
        preds = torch.cat([head(model.pooled(vx[i : i + 256])).argmax(-1) for i in range(0, len(vx), 256)])
    return float((preds == vy).float().mean())
