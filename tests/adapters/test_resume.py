"""Checkpoints are atomic, hold only the trainable weights, the last N are kept, and an
interrupted run resumes exactly (also with gradient accumulation)."""

from __future__ import annotations

import json

import pytest

from .conftest import run_config

pytestmark = pytest.mark.slow


def _cfg(tiny, out, **train):
    bridge = {"type": "clipcap", "mapping": "mlp", "prefix_length": 4, "dropout": 0.1}
    return run_config(
        tiny,
        out,
        bridge,
        data={"train": tiny.train_jsonl, "val": None, "feature_cache": str(tiny.root / "fc")},
        train={"max_steps": 12, "batch_size": 16, "grad_accum": 2, "save_every": 4,
               "keep_last": 2, "log_every": 2, "schedule": "cosine", "warmup_steps": 3, **train},
    )


def _ckpts(out):
    return sorted(p.name for p in (out / "checkpoints").iterdir())


def test_interrupted_and_resumed_run_matches_uninterrupted(tiny, tmp_path):
    from safetensors.torch import load_file
    from socratic.adapters.runs import run

    full = run(_cfg(tiny, tmp_path / "full"))
    part = run(_cfg(tiny, tmp_path / "part"), stop_after=6)  # "killed" after step 6
    assert part["step"] == 6 and "digest" not in part
    ckpts = sorted(p.name for p in (tmp_path / "part" / "checkpoints").iterdir())
    assert ckpts == ["step-0000004"]  # step 6 was not a save step: resume redoes 5 and 6
    resumed = run(_cfg(tiny, tmp_path / "part"))
    assert resumed["step"] == 12
    assert resumed["digest"] == full["digest"]
    a = load_file(str(tmp_path / "full" / "bridge" / "bridge.safetensors"))
    b = load_file(str(tmp_path / "part" / "bridge" / "bridge.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    # keep_last=2, no temporary folders left behind
    names = sorted(p.name for p in (tmp_path / "part" / "checkpoints").iterdir())
    assert names == ["step-0000008", "step-0000012"]
    # logs: CSV rows for every log step of both halves
    rows = (tmp_path / "part" / "train_log.csv").read_text().splitlines()
    assert rows[0].startswith("step,loss,lr") and len(rows) > 6
    state = json.loads((tmp_path / "part" / "trainer_state.json").read_text())
    assert state["step"] == 12


@pytest.mark.parametrize(("grad_accum", "keep_last", "stop_after", "kept_at_stop"), [
    (1, 2, 9, ["step-0000004", "step-0000008"]),
    (3, 1, 8, ["step-0000008"]),  # stopped right after a save: nothing is redone
])
def test_exact_resume_with_other_accumulation_and_total_limits(tiny, tmp_path, grad_accum, keep_last,
                                                               stop_after, kept_at_stop):
    from socratic.adapters.runs import run

    train = {"grad_accum": grad_accum, "keep_last": keep_last}
    full = run(_cfg(tiny, tmp_path / "full", **train))
    assert _ckpts(tmp_path / "full") == ["step-0000004", "step-0000008", "step-0000012"][-keep_last:]
    run(_cfg(tiny, tmp_path / "part", **train), stop_after=stop_after)
    assert _ckpts(tmp_path / "part") == kept_at_stop
    resumed = run(_cfg(tiny, tmp_path / "part", **train))
    assert resumed["step"] == 12 and resumed["digest"] == full["digest"]
    assert _ckpts(tmp_path / "part") == _ckpts(tmp_path / "full")


def test_a_checkpoint_holds_only_the_trainable_weights(tiny, tmp_path):
    import torch
    from safetensors.torch import load_file
    from socratic.adapters.runs import build_bridge_run

    trainer, vlm = build_bridge_run(_cfg(tiny, tmp_path / "out", max_steps=2, save_every=2))
    trainer.fit()
    ckpt = tmp_path / "out" / "checkpoints" / "step-0000002"
    assert sorted(p.name for p in ckpt.iterdir()) == [
        "optimizer.bin", "random_states_0.pkl", "scheduler.bin", "trainable.safetensors",
        "trainer_state.json"]  # no model.safetensors: the frozen LM and vision tower are not written
    weights = load_file(str(ckpt / "trainable.safetensors"))
    trainable = vlm.trainable_state_dict()
    assert weights.keys() == trainable.keys() and all(k.startswith("bridge.") for k in weights)
    assert all(torch.equal(weights[k], trainable[k]) for k in weights)
    frozen_bytes = sum(p.numel() * p.element_size() for p in vlm.parameters() if not p.requires_grad)
    weight_bytes = sum(t.numel() * t.element_size() for t in weights.values())
    assert (ckpt / "trainable.safetensors").stat().st_size < weight_bytes + 16_384 < frozen_bytes
    optimizer = torch.load(ckpt / "optimizer.bin", weights_only=False)
    assert len(optimizer["state"]) == len(trainable)  # Adam moments of the trained weights only


def test_a_half_written_checkpoint_is_not_resumed_from(tiny, tmp_path, monkeypatch):
    import accelerate.accelerator
    from socratic.adapters.runs import run

    full = run(_cfg(tiny, tmp_path / "full", max_steps=8))
    real = accelerate.accelerator.save_accelerator_state
    calls = []

    def dies_on_the_second_save(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the save of step 8: its weights are written, the optimizer is not
            raise OSError("No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(accelerate.accelerator, "save_accelerator_state", dies_on_the_second_save)
    with pytest.raises(OSError, match="No space"):
        run(_cfg(tiny, tmp_path / "part", max_steps=8))
    out = tmp_path / "part"
    assert _ckpts(out) == [".tmp-step-0000008", "step-0000004"]
    assert (out / "checkpoints" / ".tmp-step-0000008" / "trainable.safetensors").exists()
    monkeypatch.undo()
    resumed = run(_cfg(tiny, out, max_steps=8))  # from step 4, not the broken step 8
    assert resumed["digest"] == full["digest"]
    assert _ckpts(out) == ["step-0000004", "step-0000008"]  # the half-written folder is gone
    steps = [row.split(",")[0] for row in (out / "train_log.csv").read_text().splitlines()[1:]]
    assert steps == ["2", "4", "6", "8", "6", "8"]  # steps 5-8 were redone


def test_a_run_without_resume_starts_over(tiny, tmp_path):
    from socratic.adapters.runs import run

    run(_cfg(tiny, tmp_path / "a", max_steps=4, save_every=2))
    again = run(_cfg(tiny, tmp_path / "a", max_steps=4, save_every=2, resume=False))
    assert again["step"] == 4
