"""Training on several processes: the ``distributed:`` config section, FSDP2 sharding with
sharded checkpoints and a consolidated export, DeepSpeed through Accelerate, and the launch
command a config needs (``socratic train --print-launch``).

Example:
    >>> from socratic.adapters.distributed import DistributedConfig, make_strategy
    >>> make_strategy(DistributedConfig()) is None     # ddp: Accelerate's own path
    True
"""

from __future__ import annotations

from typing import Any

from .config import DistributedConfig

__all__ = ["DistributedConfig", "make_strategy"]


def make_strategy(cfg: DistributedConfig | None, mixed_precision: str = "no") -> Any:
    """The trainer's strategy object for ``cfg`` (``None`` for ddp: Accelerate prepares the
    model). Imports torch for fsdp only."""
    if cfg is None or cfg.strategy == "ddp":
        return None
    if cfg.strategy == "fsdp":
        from .fsdp import FSDPStrategy

        return FSDPStrategy(cfg, mixed_precision)
    from .deepspeed import DeepSpeedStrategy

    return DeepSpeedStrategy(cfg, mixed_precision)
