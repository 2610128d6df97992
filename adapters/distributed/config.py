"""The ``distributed:`` section of training configs (no torch at import).

``strategy``: ``ddp`` (the default: one replica per process, DDP when launched on several),
``fsdp`` (PyTorch FSDP2 ``fully_shard``: parameters, gradients and optimizer state sharded over
the processes; on CPU too, with gloo) or ``deepspeed`` (ZeRO stage 2 or 3 through Accelerate's
``DeepSpeedPlugin``; GPU only). Mixed precision stays ``train.mixed_precision``.

Example:
    >>> DistributedConfig(strategy="fsdp").shards_model
    True
    >>> DistributedConfig().strategy
    'ddp'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DistributedConfig"]


class DistributedConfig(BaseModel):
    """How a run is spread over processes (see the module docstring).

    ``shard_modules``: class names of the blocks FSDP shards one by one (default: the
    transformers models' ``_no_split_modules``, i.e. their decoder layers); every transformers
    model inside, then the whole model, are sharded after them. ``sharded_checkpoints``: FSDP
    checkpoints are written with ``torch.distributed.checkpoint`` (one file per rank, trainable
    weights and optimizer state), the final export is always consolidated. ``num_processes``:
    for ``socratic train --print-launch`` (default: the visible GPUs, or 2 on CPU).

    Example:
        >>> DistributedConfig(strategy="deepspeed", zero_stage=3).zero_stage
        3
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    strategy: Literal["ddp", "fsdp", "deepspeed"] = "ddp"
    zero_stage: Literal[2, 3] = Field(2, description="deepspeed: ZeRO stage")
    offload_optimizer: bool = Field(False, description="deepspeed: optimizer state in CPU memory")
    gradient_checkpointing: bool = False
    reshard_after_forward: bool = Field(True, description="fsdp: free gathered weights after forward")
    shard_modules: list[str] | None = None
    num_processes: int | None = Field(None, ge=1)
    num_machines: int = Field(1, ge=1)

    @property
    def shards_model(self) -> bool:
        return self.strategy in ("fsdp", "deepspeed")
