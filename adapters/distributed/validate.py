"""Checks of the scale sections of a run config (``distributed:``, ``lm.quantization:``,
``eval:``) that need more than one section; run when the config is validated, no torch import.

Example:
    >>> from socratic.adapters.config import RunConfig
    >>> try:
    ...     RunConfig.model_validate({"task": "lora", "lm": {"path": "m", "tune": "lora"},
    ...         "data": {"train": "t.jsonl"}, "train": {"output_dir": "o", "cpu": True},
    ...         "distributed": {"strategy": "deepspeed"}})
    ... except ValueError as exc:
    ...     print(str(exc).split("Value error, ")[1].split(";")[0])
    distributed.strategy: deepspeed needs CUDA GPUs, and this config sets train.cpu: true
"""

from __future__ import annotations

import importlib.util
from typing import Any

from socratic.errors import SocraticError

__all__ = ["check_scale_sections"]


def check_scale_sections(cfg: Any) -> None:
    """Raise ``ValueError`` (a located config problem) for combinations that cannot run; fill
    in what follows from the others (FSDP's quant storage dtype, ``train.eval_every``)."""
    dist, train, q = cfg.distributed, cfg.train, cfg.lm.quantization
    if dist.strategy == "deepspeed":
        if train.cpu:
            raise ValueError("distributed.strategy: deepspeed needs CUDA GPUs, and this config sets "
                             "train.cpu: true; on CPU use ddp or fsdp (FSDP2 with gloo)")
        if importlib.util.find_spec("deepspeed") is None:
            raise ValueError("distributed.strategy: deepspeed needs the 'deepspeed' extra: "
                             "pip install 'socratic-vl[deepspeed]' (No module named 'deepspeed')")
    if q is not None:
        from ..quantization import check_quantization

        try:
            check_quantization(q, cpu=train.cpu, strategy=dist.strategy)
        except SocraticError as exc:
            raise ValueError(str(exc)) from None
        if dist.strategy == "fsdp" and q.storage_dtype == "auto":
            q.storage_dtype = q.storage_dtype_for("fsdp")
    ev = cfg.eval
    if ev is not None:
        if ev.data and cfg.data.val and ev.data != cfg.data.val:
            raise ValueError(f"eval.data ({ev.data}) and data.val ({cfg.data.val}) differ: give the dev "
                             "data once")
        if ev.data and not cfg.data.val:
            cfg.data.val = ev.data
        if ev.best_metric and not cfg.data.val:
            raise ValueError("eval.best_metric needs dev data: set eval.data (or data.val)")
        if ev.patience and not ev.best_metric:
            raise ValueError("eval.patience (early stopping) needs eval.best_metric")
        if ev.every:
            train.eval_every = ev.every
