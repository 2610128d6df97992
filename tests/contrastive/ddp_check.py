"""One rank of the gathered-loss check (run twice with RANK=0/1, or under torchrun).

Each rank takes its half of a fixed batch, computes CLIP's loss (local and global variants) and
NT-Xent through small linear towers wrapped in DDP (gloo), and saves the loss and the
DDP-averaged gradients to ``OUT/rank-R.pt``; the test compares them with one process on the
full batch (``reference``).
"""

from __future__ import annotations

import os
import sys

import torch
from torch import nn


class Towers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.image = nn.Linear(6, 4)
        self.text = nn.Linear(5, 4)
        self.log_scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, b: dict[str, torch.Tensor], kind: str) -> torch.Tensor:
        return losses(self, b, kind)


def batch(n: int = 8) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {"img": torch.randn(n, 6, generator=g, dtype=torch.float64),
            "txt": torch.randn(n, 5, generator=g, dtype=torch.float64),
            "v1": torch.randn(n, 6, generator=g, dtype=torch.float64),
            "v2": torch.randn(n, 6, generator=g, dtype=torch.float64)}


def losses(model: Towers, b: dict[str, torch.Tensor], kind: str) -> torch.Tensor:
    from socratic.adapters.contrastive.losses import clip_loss, nt_xent_loss

    local = kind.endswith("local")
    if kind.startswith("clip"):
        img, txt = model.image(b["img"]), model.text(b["txt"])
        return clip_loss(img, txt, model.log_scale, local_loss=local)
    z1, z2 = model.image(b["v1"]), model.image(b["v2"])  # two "augmented views" of each example
    return nt_xent_loss(z1, z2, tau=0.2, local_loss=local)


def grads_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
            for n, p in model.named_parameters()}


def run(kind: str, model: nn.Module, b: dict[str, torch.Tensor]) -> tuple[float, dict]:
    model.zero_grad()
    loss = model(b, kind)
    loss.backward()
    inner = getattr(model, "module", model)
    return float(loss.detach()), grads_of(inner)


def reference() -> dict[str, tuple[float, dict]]:
    """One process, the full batch."""
    model = Towers().double()
    return {k: run(k, model, batch()) for k in ("clip_local", "clip_global", "ntxent_local", "ntxent_global")}


def main(out: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    full = batch()
    n = full["img"].shape[0] // world
    part = {k: v[rank * n : (rank + 1) * n] for k, v in full.items()}
    model = DDP(Towers().double(), find_unused_parameters=True)  # NT-Xent leaves the text tower out
    result = {}
    for kind in ("clip_local", "clip_global", "ntxent_local", "ntxent_global"):
        loss, grads = run(kind, model, part)
        t = torch.tensor(loss, dtype=torch.float64)
        dist.all_reduce(t)
        result[kind] = (loss, float(t) / world, grads)  # (this rank's loss, mean over ranks, grads)
    torch.save(result, os.path.join(out, f"rank-{rank}.pt"))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
