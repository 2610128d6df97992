"""Evaluation during training keeps the best weights, puts them back at the end and stops early,
on a task built so that later weights are worse: training pulls a weight towards 2, the dev
data scores it against 1, so the dev loss falls, then rises again."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from socratic.adapters.config import TrainConfig
from socratic.adapters.eval_loop import EvalConfig, EvalLoop
from socratic.adapters.train import Trainer
from torch import nn


class Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": ((self.w * x - y) ** 2).mean()}


DATA = [{"x": torch.ones(1), "y": torch.full((1,), 2.0)}] * 16  # training says w = 2


def collate(items):
    return {k: torch.stack([i[k] for i in items]) for k in items[0]}


def _train(out, **eval_cfg):
    cfg = TrainConfig(output_dir=str(out), max_steps=30, batch_size=4, lr=0.1, schedule="constant",
                      max_grad_norm=None, weight_decay=0.0, eval_every=2, progress_bar=False,
                      tensorboard=False, cpu=True, log_every=2)
    saved = {}

    def evaluate(model):  # the dev data says w = 1
        return {"val_loss": float((model.w - 1.0) ** 2), "exact_match": 0.0}

    def save(model, step):
        saved["w"] = float(model.w.detach())

    loop = EvalLoop(EvalConfig(every=2, best_metric="val_loss", **eval_cfg), out)
    result = Trainer(Scale(), DATA, collate, cfg, evaluate=evaluate, save=save, eval_loop=loop).fit()
    with open(out / "eval_log.csv") as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    return result, saved, rows


def test_the_best_evaluation_is_kept_and_put_back(tmp_path):
    result, saved, rows = _train(tmp_path)
    losses = {int(r["step"]): r["val_loss"] for r in rows}
    best_step = min(losses, key=losses.get)
    assert 2 < best_step < 30 and losses[30] > 10 * losses[best_step] + 1e-3  # later is worse
    info = json.loads((tmp_path / "best" / "eval.json").read_text())
    assert info == {"metric": "val_loss", "mode": "min", "best_step": best_step,
                    "best_value": losses[best_step]}
    assert result["step"] == 30 and result["restored_step"] == best_step
    # the saved artefact holds the best weights: its dev loss is the best logged one
    assert (saved["w"] - 1.0) ** 2 == pytest.approx(losses[best_step], abs=1e-7)
    assert rows[-1]["best_val_loss"] == losses[best_step] and rows[-1]["best_step"] == best_step


def test_early_stopping_after_patience_evaluations(tmp_path):
    result, saved, rows = _train(tmp_path, patience=2)
    losses = {int(r["step"]): r["val_loss"] for r in rows}
    best_step = min(losses, key=losses.get)
    assert result["step"] == best_step + 2 * 2 < 30  # two evaluations (every 2 steps) without gain
    assert max(losses) == result["step"]
    assert (saved["w"] - 1.0) ** 2 == pytest.approx(losses[best_step], abs=1e-7)


def test_unknown_metric_names_are_located_config_errors():
    with pytest.raises(ValueError, match="unknown metric 'exact_matc' .*did you mean 'exact_match'"):
        EvalConfig(best_metric="exact_matc")
