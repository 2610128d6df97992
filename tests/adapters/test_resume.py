"""Checkpoints are atomic, the last N are kept, and an interrupted run resumes exactly."""

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


def test_a_run_without_resume_starts_over(tiny, tmp_path):
    from socratic.adapters.runs import run

    run(_cfg(tiny, tmp_path / "a", max_steps=4, save_every=2))
    again = run(_cfg(tiny, tmp_path / "a", max_steps=4, save_every=2, resume=False))
    assert again["step"] == 4
