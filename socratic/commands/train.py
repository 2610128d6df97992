"""``socratic train CONFIG.yaml [--set PATH=VALUE ...]``: the one front door of training.

The config is read and validated completely first (every problem at once, ``FILE:LINE:COL``,
exit 2); the heavy libraries are imported only then. The final metrics are printed as one JSON
line. Under ``torchrun --nproc_per_node N -m socratic train CONFIG`` it trains with DDP.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def needed_modules(config: Any) -> list[str]:
    """The optional packages a training config needs (checked before anything runs)."""
    modules = ["torch", "accelerate", "transformers"]
    lm, vision = getattr(config, "lm", None), getattr(config, "vision", None)
    if config.task == "contrastive":
        modules.append("open_clip")
    if lm is not None and lm.tune in ("lora", "prefix"):
        modules.append("peft")
    if vision is not None:
        modules.append(vision.backend)  # open_clip or timm
    return modules


def cmd_train(args: argparse.Namespace) -> int:
    from ..adapters.tasks import load_training_config, train
    from ..extras import check

    config = load_training_config(args.config, args.set)
    if getattr(args, "print_launch", False):
        return _print_launch(args, config)
    for module in needed_modules(config):  # a missing extra is said before any work starts
        check(module, what=f"socratic train (task {config.task})")
    try:
        result = train(config)
    except KeyboardInterrupt:
        print(f"{args.config}: interrupted; a checkpoint was saved if one was due: run the same"
              " command again to resume", file=sys.stderr)
        raise
    finally:
        _end_process_group()
    print(json.dumps({k: v for k, v in result.items() if isinstance(v, (int, float, str))}))
    return 0


def _print_launch(args: argparse.Namespace, config: Any) -> int:
    from ..adapters.distributed.config import DistributedConfig
    from ..adapters.distributed.launch import launch_command, visible_gpus

    dist = getattr(config, "distributed", None) or DistributedConfig()
    train = getattr(config, "train", None)
    print(launch_command(args.config, dist, cpu=bool(getattr(train, "cpu", False)),
                         visible_gpus=visible_gpus(), overrides=args.set))
    return 0


def _end_process_group() -> None:
    """Destroy the process group a distributed run started (the trainer keeps it up)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
