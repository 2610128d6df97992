"""Contrastive losses: CLIP's symmetric image-text InfoNCE and SimCLR's NT-Xent, DDP-aware.

Both losses gather the embeddings of every rank (with gradients flowing back through the gather,
see :func:`gather_with_grad`) so that each example is contrasted against the negatives of the
whole global batch, as CLIP and SimCLR do. With ``local_loss=True`` (open_clip's default for large
runs) a rank scores only its own rows against all columns: the mean of the ranks' losses, and the
DDP-averaged gradients, equal those of the single-process loss on the full batch, for
``O(n * W n)`` instead of ``O((W n)^2)`` memory per rank.

Example:
    >>> import torch
    >>> img = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    >>> loss = ClipLoss()(img, img.clone(), torch.tensor(math.log(100.0)))
    >>> float(loss) < 0.1
    True
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MAX_LOGIT_SCALE",
    "ClipLoss",
    "NTXentLoss",
    "clamp_logit_scale",
    "clip_loss",
    "dist_info",
    "gather_with_grad",
    "nt_xent_loss",
]

#: CLIP clips the learned temperature so that logits are scaled by at most 100
MAX_LOGIT_SCALE = 100.0


def dist_info() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every rank's gradient of this rank's slice.

    Equivalent to ``torch.distributed.nn.functional.all_gather`` (which needs all_to_all or
    reduce_scatter) but built on all_reduce only, so it runs on every backend, gloo included.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        rank, world = dist_info()
        ctx.rank, ctx.n = rank, tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from every rank along dim 0 (rank order), differentiably.

    Without a process group (or with one rank) the tensor is returned as it is. Every rank must
    pass a tensor of the same shape.
    """
    _, world = dist_info()
    if world == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)


def clamp_logit_scale(
    log_scale: torch.Tensor, max_scale: float = MAX_LOGIT_SCALE
) -> torch.Tensor:
    """``exp(log_scale)`` with the log-scale clamped to ``[0, ln(max_scale)]`` (CLIP: 100).

    Example:
        >>> round(float(clamp_logit_scale(torch.tensor(9.0))), 3)
        100.0
    """
    return log_scale.clamp(0.0, math.log(max_scale)).exp()


def clip_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    log_scale: torch.Tensor,
    *,
    local_loss: bool = True,
    max_scale: float = MAX_LOGIT_SCALE,
) -> torch.Tensor:
    """CLIP's symmetric InfoNCE over the global batch (see :class:`ClipLoss`)."""
    image = F.normalize(image, dim=-1)
    text = F.normalize(text, dim=-1)
    scale = clamp_logit_scale(log_scale, max_scale)
    rank, world = dist_info()
    n = image.shape[0]
    all_image, all_text = gather_with_grad(image), gather_with_grad(text)
    if local_loss or world == 1:
        logits_per_image = scale * image @ all_text.T
        logits_per_text = scale * text @ all_image.T
        labels = torch.arange(n, device=image.device) + rank * n
    else:
        logits_per_image = scale * all_image @ all_text.T
        logits_per_text = logits_per_image.T
        labels = torch.arange(all_image.shape[0], device=image.device)
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2


class ClipLoss(nn.Module):
    """The image-text contrastive loss of CLIP (Radford et al. 2021).

    ``loss = (CE(s * I T^T, diag) + CE(s * T I^T, diag)) / 2`` with L2-normalised embeddings and
    ``s = exp(log_scale)`` clamped at ``max_scale`` (100, as in CLIP); the learnable
    ``log_scale`` usually starts at ``ln(1 / 0.07)``. Under ``torch.distributed`` the embeddings
    of all ranks are gathered (differentiably) so the negatives are the whole global batch.

    Example:
        >>> loss_fn = ClipLoss()
        >>> img, txt = torch.randn(4, 8), torch.randn(4, 8)
        >>> loss_fn(img, txt, torch.tensor(math.log(1 / 0.07))).shape
        torch.Size([])
    """

    def __init__(self, *, local_loss: bool = True, max_scale: float = MAX_LOGIT_SCALE) -> None:
        super().__init__()
        self.local_loss = local_loss
        self.max_scale = max_scale

    def forward(self, image: torch.Tensor, text: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        return clip_loss(image, text, log_scale, local_loss=self.local_loss, max_scale=self.max_scale)


def nt_xent_loss(
    z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.1, *, local_loss: bool = True
) -> torch.Tensor:
    """SimCLR's NT-Xent over the global batch (see :class:`NTXentLoss`)."""
    z1 = F.normalize(z1, dim=-1)
    z2 = F.normalize(z2, dim=-1)
    rank, world = dist_info()
    n = z1.shape[0]
    all_z1, all_z2 = gather_with_grad(z1), gather_with_grad(z2)
    big_n = all_z1.shape[0]
    columns = torch.cat([all_z1, all_z2], dim=0)  # [2N]: view 1 of every example, then view 2
    if local_loss or world == 1:
        rows = torch.cat([z1, z2], dim=0)
        own = torch.arange(n, device=z1.device) + rank * n
    else:
        rows = columns
        own = torch.arange(big_n, device=z1.device)
    self_idx = torch.cat([own, own + big_n])  # where each row sits among the columns
    positive = torch.cat([own + big_n, own])  # the other view of the same example
    logits = rows @ columns.T / tau
    logits = logits.masked_fill(
        F.one_hot(self_idx, num_classes=2 * big_n).bool(), float("-inf")
    )  # k != i: a view is never its own negative
    return F.cross_entropy(logits, positive)


class NTXentLoss(nn.Module):
    """SimCLR's normalised temperature-scaled cross entropy (Chen et al. 2020).

    For ``N`` examples with two augmented views each (``2N`` embeddings), the positive of a view
    is the other view of the same example and the ``2N - 2`` other embeddings are its negatives:
    ``l(i, j) = -log exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau)``, averaged
    over all ``2N`` ordered positive pairs; ``sim`` is the cosine similarity. Under
    ``torch.distributed`` the negatives come from every rank.

    Example:
        >>> z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
        >>> float(NTXentLoss(tau=0.5)(z1, z2)) > 0
        True
    """

    def __init__(self, tau: float = 0.1, *, local_loss: bool = True) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"tau must be positive, got {tau}")
        self.tau = tau
        self.local_loss = local_loss

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return nt_xent_loss(z1, z2, self.tau, local_loss=self.local_loss)
