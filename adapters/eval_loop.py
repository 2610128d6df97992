"""Evaluation during training: the ``eval:`` section, the best checkpoint and early stopping.

Every ``every`` steps the run's evaluation (validation loss and the caption metrics of its dev
data: exact match, BLEU-4) is logged with the training loss (``eval_log.csv``, TensorBoard). With
``best_metric`` the trainable weights of the best evaluation so far are kept in
``OUTPUT_DIR/best/`` (``trainable.safetensors`` + ``eval.json``, whole tensors even when the
model is sharded); at the end they are put back before the final artefact is saved
(``restore_best``), and ``patience`` evaluations without improvement stop the run early. The
record of evaluations is kept on disk, so a resumed run continues the same comparison.

Example:
    >>> EvalConfig(every=50, best_metric="val_loss").direction
    'min'
    >>> EvalConfig(every=50, best_metric="exact_match", patience=3).direction
    'max'
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from socratic.errors import TrainingError, did_you_mean

__all__ = ["EVAL_METRICS", "EvalConfig", "EvalLoop", "make_eval_loop"]

#: what the runs' evaluations report (``val_loss`` and :func:`adapters.metrics.caption_metrics`)
EVAL_METRICS = ("val_loss", "exact_match", "bleu4")
BEST = "best"


class EvalConfig(BaseModel):
    """The ``eval:`` section (see the module docstring). ``data`` is the dev file (default:
    ``data.val``); ``metrics`` the ones logged (default: all); ``mode`` ``auto`` minimises
    names ending in ``loss`` and maximises the others.

    Example:
        >>> EvalConfig(every=10, metrics=["exact_match"], best_metric="exact_match").mode
        'auto'
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    every: int = Field(0, ge=0, description="steps between evaluations (0: at the end only)")
    data: str | None = None
    metrics: list[str] = Field(default_factory=list)
    best_metric: str | None = None
    mode: Literal["auto", "max", "min"] = "auto"
    patience: int | None = Field(None, ge=1, description="evaluations without improvement before stopping")
    min_delta: float = Field(0.0, ge=0.0)
    restore_best: bool = True

    @field_validator("metrics")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        for name in names:
            if name not in EVAL_METRICS:
                raise ValueError(f"unknown metric {name!r}{did_you_mean(name, EVAL_METRICS)}; "
                                 f"known: {', '.join(EVAL_METRICS)}")
        return names

    @field_validator("best_metric")
    @classmethod
    def _known_best(cls, name: str | None) -> str | None:
        if name is not None and name not in EVAL_METRICS:
            raise ValueError(f"unknown metric {name!r}{did_you_mean(name, EVAL_METRICS)}; "
                             f"known: {', '.join(EVAL_METRICS)}")
        return name

    @property
    def direction(self) -> Literal["max", "min"]:
        if self.mode != "auto":
            return self.mode
        return "min" if (self.best_metric or "").endswith("loss") else "max"


class EvalLoop:
    """What the trainer calls after each evaluation (``after_eval``) and before the final save
    (``finish``): logs the chosen metrics, keeps the best weights, asks for an early stop.

    Example:
        >>> loop = EvalLoop(EvalConfig(every=5, best_metric="val_loss", patience=2), "runs/x")
        >>> trainer = Trainer(model, data, collate, cfg, eval_loop=loop)  # doctest: +SKIP
    """

    def __init__(self, cfg: EvalConfig, output_dir: str | Path) -> None:
        self.cfg = cfg
        self.dir = Path(output_dir) / BEST
        self.record: list[dict[str, Any]] | None = None  # [{"step", "value"}] of every evaluation
        self.should_stop = False

    # ------------------------------------------------------------ the record

    def _load_record(self, step: int) -> list[dict[str, Any]]:
        """The evaluations before ``step`` (a resumed run forgets those after its checkpoint)."""
        path = self.dir / "record.json"
        if not path.is_file():
            return []
        return [r for r in json.loads(path.read_text()) if r["step"] < step]

    def best(self) -> dict[str, Any] | None:
        if not self.record:
            return None
        sign = 1 if self.cfg.direction == "max" else -1
        best = self.record[0]
        for r in self.record[1:]:
            if sign * (r["value"] - best["value"]) > self.cfg.min_delta:
                best = r
        return best

    # ------------------------------------------------------------ trainer hooks

    def after_eval(self, trainer: Any, metrics: dict[str, float]) -> dict[str, float]:
        """Called by every rank after an evaluation at ``trainer.step``; returns the metrics."""
        if trainer.world > 1 and trainer.strategy is None:  # only the main process evaluated
            from accelerate.utils import broadcast_object_list

            metrics = broadcast_object_list([metrics])[0]
        if self.cfg.metrics:
            metrics = {k: v for k, v in metrics.items() if k in self.cfg.metrics}
        name = self.cfg.best_metric
        if name is None or not metrics:
            return metrics
        if name not in metrics:
            raise TrainingError(f"eval.best_metric {name!r} is not among what this run evaluates: "
                                f"{', '.join(sorted(metrics))} (is there dev data? eval.data / data.val)")
        if self.record is None:
            self.record = self._load_record(trainer.step)
        value = float(metrics[name])
        if math.isnan(value):
            raise TrainingError(f"eval metric {name} is NaN at step {trainer.step}")
        before = self.best()
        self.record.append({"step": trainer.step, "value": value})
        best = self.best()
        weights = trainer.trainable_state() if best is not before else None  # collective if sharded
        if trainer.is_main:
            self.dir.mkdir(parents=True, exist_ok=True)
            if weights is not None:
                from safetensors.torch import save_file

                tmp = self.dir / "trainable.safetensors.tmp"
                save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()}, str(tmp))
                tmp.replace(self.dir / "trainable.safetensors")
            assert best is not None
            info = {"metric": name, "mode": self.cfg.direction, "best_step": best["step"],
                    "best_value": best["value"]}
            (self.dir / "eval.json").write_text(json.dumps(info, indent=2) + "\n")
            (self.dir / "record.json").write_text(json.dumps(self.record) + "\n")
        since = sum(1 for r in self.record if r["step"] > best["step"])
        if self.cfg.patience is not None and since >= self.cfg.patience:
            self.should_stop = True
        return {**metrics, f"best_{name}": best["value"], "best_step": best["step"]}

    def finish(self, trainer: Any, metrics: dict[str, float]) -> dict[str, float]:
        """Before the final save: put the best weights back (``restore_best``)."""
        best = self.best()
        if best is None or not self.cfg.restore_best:
            return metrics
        from safetensors.torch import load_file

        trainer.accelerator.wait_for_everyone()
        state = load_file(str(self.dir / "trainable.safetensors"))
        load_full_state(trainer, state)
        return {**metrics, "restored_step": best["step"]}


def make_eval_loop(cfg: Any) -> EvalLoop | None:
    """The loop of a run config's ``eval:`` section (``None`` without one)."""
    ev = getattr(cfg, "eval", None)
    return EvalLoop(ev, cfg.train.output_dir) if ev is not None else None


def load_full_state(trainer: Any, state: dict[str, Any]) -> None:
    """Copy whole tensors ``state`` into the trainer's model (sharded or not; every rank)."""
    import torch

    model = trainer.unwrapped()
    if trainer.strategy is not None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, strict=False))
        return
    named = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    missing = set(state) - set(named)
    if missing:
        raise TrainingError(f"best weights name {sorted(missing)[:3]}, which the model lacks")
    with torch.no_grad():
        for n, v in state.items():
            named[n].copy_(v.to(named[n].device))
