"""The trainer on a toy regression: gradient accumulation is real accumulation, precision can
change between runs of one process, an interrupt saves a checkpoint that resumes exactly, and
the CSV / TensorBoard trackers write what they should."""

from __future__ import annotations

import pytest
import torch
from socratic.adapters.config import TrainConfig
from socratic.adapters.train import Trainer, TrainingError, make_accelerator, param_digest
from torch import nn


class Toy(nn.Module):
    """y = 3 x0 - 2 x1 + 1, learned by a linear layer; ``stop_at`` raises KeyboardInterrupt on
    that forward call (as Ctrl-C would)."""

    def __init__(self, stop_at: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.w = nn.Linear(2, 1)
        self.calls, self.stop_at = 0, stop_at

    def forward(self, x, y):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        out = self.w(x)
        self.seen_dtype = out.dtype
        return {"loss": ((out.float() - y) ** 2).mean()}


def _data(n=64):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 2, generator=g)
    y = (3 * x[:, 0] - 2 * x[:, 1] + 1).unsqueeze(1)
    return [{"x": x[i], "y": y[i]} for i in range(n)]


def _collate(items):
    return {k: torch.stack([i[k] for i in items]) for k in items[0]}


def _cfg(out, **over):
    base = {"output_dir": str(out), "max_steps": 8, "batch_size": 8, "lr": 0.05, "weight_decay": 0.0,
            "log_every": 2, "progress_bar": False, "tensorboard": False, "cpu": True}
    return TrainConfig(**{**base, **over})


def _fit(out, model=None, **over):
    trainer = Trainer(model or Toy(), _data(), _collate, _cfg(out, **over))
    return trainer, trainer.fit()


def test_toy_regression_is_learned(tmp_path):
    trainer, result = _fit(tmp_path, max_steps=150, lr=0.1, log_every=50)
    w = trainer.unwrapped().w
    assert torch.allclose(w.weight.detach(), torch.tensor([[3.0, -2.0]]), atol=0.05)
    assert abs(float(w.bias.detach()) - 1.0) < 0.05 and result["train_loss"] < 1e-2


def test_accumulating_two_micro_batches_equals_one_batch_of_twice_the_size(tmp_path):
    def weights(out, **over):
        return _fit(tmp_path / out, **over)[0].trainable_state()

    big = weights("big", batch_size=8, grad_accum=1)
    accumulated = weights("acc", batch_size=4, grad_accum=2)  # micro-batches: halves of those 8
    small = weights("small", batch_size=4, grad_accum=1)
    assert all(torch.allclose(big[k], accumulated[k], atol=1e-6) for k in big)
    assert not all(torch.allclose(big[k], small[k], atol=1e-3) for k in big)


def test_runs_with_other_precisions_follow_each_other_in_one_process(tmp_path):
    for i, precision in enumerate(["no", "bf16", "no", "bf16"]):
        trainer, result = _fit(tmp_path / str(i), mixed_precision=precision, max_steps=2)
        assert result["step"] == 2
        assert trainer.unwrapped().seen_dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)
    with pytest.raises(TrainingError, match="fp16 needs a GPU"):
        make_accelerator(_cfg(tmp_path / "x", mixed_precision="fp16"))


@pytest.mark.parametrize("stop_at", [7, 8])  # the 1st or 2nd micro-step of step 4: steps 1-3 are done
def test_an_interrupt_saves_a_checkpoint_that_resumes_exactly(tmp_path, stop_at):
    _, full = _fit(tmp_path / "full", grad_accum=2)
    interrupted = Toy(stop_at=stop_at)
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path / "part", interrupted, grad_accum=2)
    assert [p.name for p in (tmp_path / "part" / "checkpoints").iterdir()] == ["step-0000003"]
    trainer, resumed = _fit(tmp_path / "part", grad_accum=2)
    assert resumed["step"] == 8 and resumed["digest"] == full["digest"]
    assert param_digest(trainer.trainable_state()) == full["digest"]


def test_trackers_write_csv_and_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def evaluate(model):
        return {"mse": 0.5, "n": 3.0}

    trainer = Trainer(Toy(), _data(), _collate, _cfg(tmp_path, eval_every=4, tensorboard=True),
                      evaluate=evaluate)
    result = trainer.fit()
    assert result["mse"] == 0.5
    train = (tmp_path / "train_log.csv").read_text().splitlines()
    assert train[0] == "step,loss,lr,elapsed_s" and [r.split(",")[0] for r in train[1:]] == ["2", "4", "6", "8"]
    assert [r["step"] for r in trainer.history] == [2, 4, 6, 8]
    assert (tmp_path / "eval_log.csv").read_text().split() == ["step,mse,n", "4,0.5,3.0", "8,0.5,3.0"]
    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [2, 4, 6, 8]
    assert [e.value for e in events.Scalars("eval/mse")] == [0.5, 0.5]


def test_an_accelerator_must_accumulate_as_the_config_says(tmp_path):
    acc = make_accelerator(_cfg(tmp_path, grad_accum=2))
    with pytest.raises(TrainingError, match="accumulates 2 micro-steps"):
        Trainer(Toy(), _data(), _collate, _cfg(tmp_path, grad_accum=4), accelerator=acc)


def test_data_loader_workers_read_the_same_batches(tmp_path):
    _, inline = _fit(tmp_path / "inline", grad_accum=2)
    _, workers = _fit(tmp_path / "workers", grad_accum=2, num_workers=1)
    assert workers["digest"] == inline["digest"]


class NaNAfter(Toy):
    """The toy whose loss turns NaN from forward call ``bad`` on (a diverged run)."""

    def __init__(self, bad: int) -> None:
        super().__init__()
        self.bad = bad

    def forward(self, x, y):
        out = super().forward(x, y)
        return {"loss": out["loss"] * float("nan")} if self.calls >= self.bad else out


def test_a_loss_that_turns_nan_stops_the_run_with_a_clear_error(tmp_path):
    """A NaN loss is not trained on silently (a run that learns nothing and says nothing)."""
    with pytest.raises(TrainingError, match=r"training loss is nan at step 6 .*train_log.csv"):
        _fit(tmp_path, model=NaNAfter(bad=5), max_steps=8, log_every=2)
    assert "nan" in (tmp_path / "train_log.csv").read_text().splitlines()[-1]
