"""The command that launches a training config on this machine (``socratic train --print-launch``).

Every strategy is launched with ``torchrun`` (the trainer applies FSDP2 itself and passes
DeepSpeed's plugin to Accelerate in code, so no ``accelerate config`` file is needed); on CPU
the processes talk through gloo. ``accelerate launch --cpu --num_processes 2`` would silently
run one process on CPU, so it is never printed for CPU runs.

Example:
    >>> from socratic.adapters.distributed.config import DistributedConfig
    >>> launch_command("cfg.yaml", DistributedConfig(strategy="fsdp"), cpu=True, visible_gpus=0)
    'OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 -m socratic train cfg.yaml'
    >>> launch_command("cfg.yaml", DistributedConfig(strategy="deepspeed", zero_stage=3),
    ...                cpu=False, visible_gpus=8)
    'torchrun --nproc_per_node 8 -m socratic train cfg.yaml'
"""

from __future__ import annotations

import os
import shlex

from .config import DistributedConfig

__all__ = ["launch_command", "visible_gpus"]


def visible_gpus() -> int:
    """How many CUDA devices this process sees (``CUDA_VISIBLE_DEVICES`` first, then torch)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return len([d for d in env.split(",") if d.strip() and d.strip() != "-1"])
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def launch_command(config: str, dist: DistributedConfig, *, cpu: bool, visible_gpus: int,
                   overrides: list[str] | None = None) -> str:
    """The launch line for ``config`` (see the module docstring)."""
    on_cpu = cpu or visible_gpus == 0
    n = dist.num_processes or (2 if on_cpu else visible_gpus)
    parts = ["torchrun", "--nproc_per_node", str(n)]
    if dist.num_machines > 1:
        parts += ["--nnodes", str(dist.num_machines), "--node_rank", "$NODE_RANK",
                  "--master_addr", "$MASTER_ADDR", "--master_port", "29500"]
    parts += ["-m", "socratic", "train", shlex.quote(config)]
    for o in overrides or []:
        parts += ["--set", shlex.quote(o)]
    line = " ".join(parts)
    return f"OMP_NUM_THREADS=1 {line}" if on_cpu else line
