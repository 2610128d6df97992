"""FSDP2 (``torch.distributed.fsdp.fully_shard``) for the trainer: sharding, full (consolidated)
trainable weights, and sharded checkpoints with ``torch.distributed.checkpoint``.

Accelerate's FSDP plugin is not applied on CPU (``Accelerator(cpu=True)`` reports MULTI_CPU),
so the trainer calls ``fully_shard`` itself, on CPU (gloo) and GPU (nccl) alike: each block
named by ``shard_modules`` (default: every transformers model's ``_no_split_modules``, its
decoder layers), then each outermost transformers model (embeddings, head, final norm), then
the whole model. Frozen and trainable weights may share a block (FSDP2 shards per parameter).

Example (under ``torchrun --nproc_per_node 2``):
    >>> strategy = FSDPStrategy(DistributedConfig(strategy="fsdp"))   # doctest: +SKIP
    >>> model = strategy.wrap(model)                                   # doctest: +SKIP
    >>> full = strategy.full_state(model, names)   # every rank calls it  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from socratic.errors import TrainingError

from .config import DistributedConfig

__all__ = ["FSDPStrategy", "enable_gradient_checkpointing", "full_tensor", "swapped_in"]

SHARDS = "model_optim"  # the torch.distributed.checkpoint folder inside a checkpoint


def full_tensor(value: torch.Tensor) -> torch.Tensor:
    """The whole tensor behind a (possibly sharded) ``DTensor``; a collective for DTensors."""
    from torch.distributed.tensor import DTensor

    return value.full_tensor() if isinstance(value, DTensor) else value


def _is_hf_model(module: nn.Module) -> bool:
    from transformers import PreTrainedModel

    return isinstance(module, PreTrainedModel)


class FSDPStrategy:
    """Shard a model over all processes with FSDP2 and save / restore it (see the module doc).

    Example:
        >>> FSDPStrategy(DistributedConfig(strategy="fsdp")).shards_model
        True
    """

    shards_model = True
    wraps_model = True  # the trainer shards the model itself (Accelerate prepares the optimizer)
    name = "fsdp"

    def __init__(self, cfg: DistributedConfig, mixed_precision: str = "no") -> None:
        self.cfg, self.mixed_precision = cfg, mixed_precision
        self.mesh: Any = None

    # ------------------------------------------------------------ sharding

    def block_names(self, model: nn.Module) -> set[str]:
        if self.cfg.shard_modules is not None:
            return set(self.cfg.shard_modules)
        names: set[str] = set()
        for m in model.modules():
            if _is_hf_model(m):
                names.update(getattr(m, "_no_split_modules", None) or [])
        return names

    def wrap(self, model: nn.Module, device: torch.device | None = None) -> nn.Module:
        """``fully_shard`` the blocks, the transformers models and ``model`` itself (in place)."""
        import torch.distributed as dist
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        if not dist.is_available() or not dist.is_initialized():
            raise TrainingError("distributed.strategy: fsdp needs a distributed launch: run under "
                                "`torchrun --nproc_per_node N` (see `socratic train --print-launch`)")
        device = device or torch.device("cpu")
        if self.cfg.gradient_checkpointing:
            enable_gradient_checkpointing(model)
        self.mesh = init_device_mesh(device.type, (dist.get_world_size(),))
        mp = MixedPrecisionPolicy()
        if self.mixed_precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.mixed_precision == "bf16" else torch.float16
            mp = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)
        kw = {"mesh": self.mesh, "reshard_after_forward": self.cfg.reshard_after_forward, "mp_policy": mp}
        blocks = self.block_names(model)
        found = [m for m in model.modules() if type(m).__name__ in blocks]
        if self.cfg.shard_modules and not found:
            raise TrainingError(f"distributed.shard_modules: no module of the model is a "
                                f"{', '.join(sorted(blocks))}")
        for m in found:
            fully_shard(m, **kw)
        for m in _outermost(model, _is_hf_model):
            if m is not model:
                fully_shard(m, **kw)
        fully_shard(model, **kw)
        return model

    # ------------------------------------------------------------ weights

    def full_state(self, model: nn.Module, names: list[str]) -> dict[str, torch.Tensor]:
        """The whole tensors of ``names`` (parameters or buffers): a collective, every rank
        calls it and gets the same tensors."""
        own = getattr(model, "trainable_state_dict", None)
        state = dict(own()) if callable(own) else {}
        if not state:
            named = {**dict(model.named_parameters()), **dict(model.named_buffers())}
            state = {n: named[n] for n in names}
        return {n: full_tensor(v.detach()).contiguous() for n, v in state.items()}

    def consolidated(self, model: nn.Module, full: dict[str, torch.Tensor]) -> Any:
        """On this rank, ``model`` with the trained parameters replaced by their whole tensors
        (for a ``save`` function after training); the shards are put back on exit."""
        return swapped_in(model, full)

    # ------------------------------------------------------------ checkpoints

    def _state(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        opts = StateDictOptions(ignore_frozen_params=True)
        msd, osd = get_state_dict(model, [optimizer], options=opts)
        return {"model": msd, "optim": osd}

    def save(self, directory: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Every rank writes its shards of the trainable weights and optimizer state."""
        import torch.distributed.checkpoint as dcp

        dcp.save(self._state(model, optimizer), checkpoint_id=str(Path(directory) / SHARDS))

    def load(self, directory: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Every rank reads its shards back (written by :meth:`save`)."""
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        path = Path(directory) / SHARDS
        if not path.is_dir():
            raise TrainingError(f"checkpoint {directory} has no {SHARDS}/ (not an FSDP checkpoint): "
                                "delete it or set train.resume: false")
        state = self._state(model, optimizer)
        dcp.load(state, checkpoint_id=str(path))
        set_state_dict(model, [optimizer], model_state_dict=state["model"], optim_state_dict=state["optim"],
                       options=StateDictOptions(ignore_frozen_params=True, strict=False))


@contextlib.contextmanager
def swapped_in(model: nn.Module, full: dict[str, torch.Tensor]) -> Iterator[nn.Module]:
    """``model`` with the parameters / buffers named in ``full`` replaced by plain tensors
    holding ``full``'s values; the originals (shards) are put back on exit."""
    saved: list[tuple[dict[str, Any], str, Any]] = []
    try:
        for name, value in full.items():
            owner_name, _, leaf = name.rpartition(".")
            owner = model.get_submodule(owner_name) if owner_name else model
            if isinstance(owner._parameters.get(leaf), nn.Parameter):
                saved.append((owner._parameters, leaf, owner._parameters[leaf]))
                owner._parameters[leaf] = nn.Parameter(value.clone(), requires_grad=True)
            elif leaf in owner._buffers:
                saved.append((owner._buffers, leaf, owner._buffers[leaf]))
                owner._buffers[leaf] = value.clone()
        yield model
    finally:
        for table, leaf, original in saved:
            table[leaf] = original


def _outermost(model: nn.Module, pred: Any) -> list[nn.Module]:
    """Submodules satisfying ``pred`` that are not inside another one that does."""
    found: list[nn.Module] = []

    def visit(m: nn.Module) -> None:
        if pred(m):
            found.append(m)
            return
        for child in m.children():
            visit(child)

    visit(model)
    return found


def enable_gradient_checkpointing(model: nn.Module) -> int:
    """Turn on gradient checkpointing in every transformers model inside ``model`` (non-reentrant,
    inputs made to require grad so that frozen embeddings + LoRA still backpropagate); returns
    how many models were switched."""
    n = 0
    for m in _outermost(model, _is_hf_model):
        m.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(m, "enable_input_require_grads"):
            m.enable_input_require_grads()
        n += 1
    if not n:
        raise TrainingError("distributed.gradient_checkpointing: the model holds no transformers model")
    return n
