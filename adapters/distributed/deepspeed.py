"""DeepSpeed ZeRO (stage 2 or 3) through Accelerate's ``DeepSpeedPlugin`` (GPU only).

Accelerate wraps the model in a DeepSpeed engine; its ``save_state`` / ``load_state`` write and
read the engine's own sharded checkpoint (every rank its partition of the weights and optimizer
state), which the trainer resumes from exactly. The final export gathers the trainable
parameters (``deepspeed.zero.GatheredParameters`` under ZeRO-3) into whole tensors, so the
adapter / bridge saved at the end loads in one process. Written for GPUs and never run on the
project's CPU machines; ``bench/gpu.sh`` runs its tests where a GPU is lent.

Example:
    >>> s = DeepSpeedStrategy(DistributedConfig(strategy="deepspeed", zero_stage=3), "bf16")
    >>> s.wraps_model, s.plugin_options()["zero_stage"]
    (False, 3)
"""

from __future__ import annotations

import contextlib
from typing import Any

from torch import nn

from .config import DistributedConfig

__all__ = ["DeepSpeedStrategy"]


class DeepSpeedStrategy:
    """ZeRO through Accelerate (see the module docstring).

    Example:
        >>> DeepSpeedStrategy(DistributedConfig(strategy="deepspeed")).name
        'deepspeed'
    """

    name = "deepspeed"
    shards_model = True
    wraps_model = False  # Accelerate's prepare() builds the engine

    def __init__(self, cfg: DistributedConfig, mixed_precision: str = "no") -> None:
        self.cfg, self.mixed_precision = cfg, mixed_precision

    def plugin_options(self) -> dict[str, Any]:
        return {
            "zero_stage": self.cfg.zero_stage,
            "offload_optimizer_device": "cpu" if self.cfg.offload_optimizer else "none",
            "gradient_clipping": None,  # the trainer clips through accelerator.clip_grad_norm_
            "zero3_save_16bit_model": False,
        }

    def accelerator_kwargs(self, train: Any) -> dict[str, Any]:
        """``Accelerator(...)`` keyword arguments: the DeepSpeed plugin."""
        from accelerate.utils import DeepSpeedPlugin

        opts = self.plugin_options()
        if train.max_grad_norm:
            opts["gradient_clipping"] = train.max_grad_norm
        plugin = DeepSpeedPlugin(gradient_accumulation_steps=train.grad_accum, **opts)
        # the trainer feeds batches itself (no DataLoader to read the size from)
        plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = train.batch_size
        return {"deepspeed_plugin": plugin}

    def prepare_model(self, model: nn.Module) -> nn.Module:
        if self.cfg.gradient_checkpointing:
            from .fsdp import enable_gradient_checkpointing

            enable_gradient_checkpointing(model)
        return model

    def full_state(self, model: nn.Module, names: list[str]) -> dict[str, Any]:
        """Whole trainable tensors on every rank (ZeRO-3 partitions are gathered; a collective)."""
        own = getattr(model, "trainable_state_dict", None)
        named = dict(model.named_parameters())
        params = {n: named[n] for n in names}
        with self._gathered(list(params.values())):
            if callable(own):
                return {k: v.detach().clone() for k, v in own().items()}
            return {n: p.detach().clone() for n, p in params.items()}

    def consolidated(self, model: nn.Module, full: dict[str, Any]) -> Any:
        """On this rank, ``model`` with the trained parameters replaced by the whole tensors
        ``full`` (gathered by :meth:`full_state` on every rank); put back on exit."""
        from .fsdp import swapped_in

        return swapped_in(model, full)

    def _gathered(self, params: list[Any]) -> Any:
        if self.cfg.zero_stage != 3:
            return contextlib.nullcontext()
        import deepspeed

        return deepspeed.zero.GatheredParameters(params, modifier_rank=None)
