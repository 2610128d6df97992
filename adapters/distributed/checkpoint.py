"""Checkpoints of a sharded run: every rank writes its shards of the trainable weights and
optimizer state (``torch.distributed.checkpoint``), Accelerate's own functions write the
scheduler and each rank's RNG states, the main process the step. Resume needs the same number
of processes (the data order of a step depends on it): another number is refused clearly.

Example:
    >>> save_sharded(trainer, "runs/x/checkpoints/.tmp-step-0000010")  # doctest: +SKIP
    >>> load_sharded(trainer, "runs/x/checkpoints/step-0000010")       # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from socratic.errors import TrainingError

__all__ = ["load_sharded", "save_sharded"]

META = "trainer_state.json"


def save_sharded(trainer: Any, directory: str | Path) -> None:
    """Write ``trainer``'s sharded state into ``directory`` (every rank calls it)."""
    from accelerate.checkpointing import save_accelerator_state

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    acc = trainer.accelerator
    trainer.strategy.save(out, trainer.model, trainer.optimizer.optimizer)
    save_accelerator_state(str(out), [], [], [trainer.scheduler], [], acc.process_index, acc.step)
    if trainer.is_main:
        meta = {"step": trainer.step, "world_size": trainer.world, "seed": trainer.cfg.seed,
                "strategy": trainer.strategy.name}
        (out / META).write_text(json.dumps(meta))


def load_sharded(trainer: Any, directory: str | Path) -> None:
    """Restore what :func:`save_sharded` wrote (every rank calls it)."""
    from accelerate.checkpointing import load_accelerator_state

    path = Path(directory)
    meta_path = path / META
    if not meta_path.is_file():
        raise TrainingError(f"checkpoint {path} has no {META}: delete it or set train.resume: false")
    meta = json.loads(meta_path.read_text())
    if meta.get("strategy") != trainer.strategy.name:
        raise TrainingError(f"checkpoint {path} was written with strategy {meta.get('strategy') or 'ddp'}, "
                            f"this run uses {trainer.strategy.name}: delete it or set train.resume: false")
    if meta.get("world_size", 1) != trainer.world:
        raise TrainingError(
            f"checkpoint {path} was written by {meta.get('world_size')} processes, this run has "
            f"{trainer.world}: the data order would differ (resume with the same number of processes)"
        )
    trainer.strategy.load(path, trainer.model, trainer.optimizer.optimizer)
    load_accelerator_state(str(path), [], [], [trainer.scheduler], [], trainer.accelerator.process_index)
    trainer.step = int(meta["step"])
