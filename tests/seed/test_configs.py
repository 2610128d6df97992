"""The training configs of the four systems: the examples validate without importing torch,
mistakes are located, and the task registry knows them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from socratic.adapters.tasks import load_training_config, task_names

from socratic.errors import ValidationFailed

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIGS = ["train_fromage.yaml", "train_flamingo.yaml", "train_pgn.yaml", "train_mae.yaml"]


def test_the_tasks_are_registered():
    assert {"fromage", "flamingo", "pgn", "mae"} <= set(task_names())


@pytest.mark.parametrize("name", CONFIGS)
def test_example_configs_validate_without_torch(name):
    code = (
        "import sys; from socratic.adapters.tasks import load_training_config; "
        f"cfg = load_training_config({str(EXAMPLES / name)!r}); "
        "assert 'torch' not in sys.modules, 'torch imported'; print(cfg.task)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == name.removeprefix("train_").removesuffix(".yaml")


def test_mistakes_are_located_with_a_hint(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "task: fromage\nvision: {model: ViT-B-32}\nlm: {path: x, tune: lora}\n"
        "fromage: {embed_dimm: 8}\ndata: {train: t.jsonl}\ntrain: {output_dir: out}\n"
    )
    with pytest.raises(ValidationFailed) as exc:
        load_training_config(bad)
    text = "\n".join(str(e) for e in exc.value.errors)
    assert "bad.yaml:4" in text and "did you mean 'embed_dim'" in text


def test_frozen_parts_must_stay_frozen(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "task: flamingo\nvision: {model: ViT-B-32}\nlm: {path: x, tune: full}\ntrain: {output_dir: out}\n"
    )
    with pytest.raises(ValidationFailed, match="frozen"):
        load_training_config(bad)
    bad.write_text("task: pgn\nvision: {backend: timm, model: resnet18}\ntrain: {output_dir: out}\n")
    with pytest.raises(ValidationFailed, match="open_clip"):
        load_training_config(bad)
