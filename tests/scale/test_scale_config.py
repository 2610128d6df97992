"""The scale sections are checked when a config is validated (no torch, nothing loads):
QLoRA and DeepSpeed refused clearly on CPU, eval sections checked, the launch command printed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import yaml

from socratic.cli import main


def _write(tmp_path, **sections):
    data = {"task": "lora", "lm": {"path": "./gpt2", "tune": "lora"}, "data": {"train": "./qa.jsonl"},
            "train": {"output_dir": "out", "cpu": True}}
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def errors(capsys):
    return lambda: capsys.readouterr().err.strip()


def test_qlora_on_cpu_is_refused_at_validation(tmp_path, errors):
    path = _write(tmp_path, lm={"quantization": {"bits": 4, "quant_type": "nf4", "compute_dtype": "bf16"}})
    assert main(["validate", str(path)]) == 2
    err = errors()
    assert f"{path}:1:1" in err or f"{path}:" in err
    assert "quantization: bitsandbytes 4/8-bit training needs a CUDA GPU" in err and "train.cpu: true" in err


def test_qlora_without_bitsandbytes_names_the_extra(tmp_path, errors, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU machine, without bitsandbytes
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "bitsandbytes" else real(n, *a))
    path = _write(tmp_path, lm={"quantization": {"bits": 4}}, train={"cpu": False})
    assert main(["validate", str(path)]) == 2
    assert "needs the 'qlora' extra: pip install 'socratic-vl[qlora]'" in errors()


def test_qlora_under_fsdp_stores_the_packed_weights_in_the_compute_dtype(monkeypatch):
    import torch
    from socratic.adapters.config import RunConfig

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "bitsandbytes" else real(n, *a))
    cfg = RunConfig.model_validate({"task": "lora", "lm": {"path": "m", "tune": "lora",
                                    "quantization": {"compute_dtype": "bf16"}},
                                    "data": {"train": "t"}, "train": {"output_dir": "o"},
                                    "distributed": {"strategy": "fsdp"}})
    assert cfg.lm.quantization.storage_dtype == "bf16"


@pytest.mark.parametrize("section, message", [
    ({"distributed": {"strategy": "deepspeed"}}, "deepspeed needs CUDA GPUs"),
    ({"distributed": {"strategy": "fsdb"}}, "distributed.strategy: Input should be 'ddp', 'fsdp' or 'deepspeed'"),
    ({"eval": {"every": 5, "patience": 2}}, "eval.patience (early stopping) needs eval.best_metric"),
    ({"eval": {"best_metric": "exact_match"}}, "eval.best_metric needs dev data"),
    ({"eval": {"metrics": ["bleu"]}}, "unknown metric 'bleu' (did you mean 'bleu4'?)"),
])
def test_scale_sections_problems_are_config_errors(tmp_path, errors, section, message):
    path = _write(tmp_path, **section)
    assert main(["validate", str(path)]) == 2
    assert message in errors()


def test_deepspeed_without_the_package_names_the_extra(tmp_path, errors, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "deepspeed" else real(n, *a))
    path = _write(tmp_path, distributed={"strategy": "deepspeed"}, train={"cpu": False})
    assert main(["validate", str(path)]) == 2
    assert "needs the 'deepspeed' extra" in errors()


def test_eval_section_sets_the_evaluation_steps_and_dev_data(tmp_path):
    from socratic.adapters.tasks import load_training_config

    path = _write(tmp_path, eval={"every": 7, "data": "./dev.jsonl", "best_metric": "val_loss"})
    cfg = load_training_config(path)
    assert cfg.train.eval_every == 7 and cfg.data.val == str(tmp_path / "dev.jsonl")


def test_print_launch_without_torch(tmp_path):
    path = _write(tmp_path, distributed={"strategy": "fsdp", "num_processes": 4})
    code = ("import sys; from socratic.cli import main; rc = main(['train', sys.argv[1], '--print-launch']);"
            " print('torch' in sys.modules); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                          env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    line, imported = proc.stdout.strip().splitlines()
    assert line == f"OMP_NUM_THREADS=1 torchrun --nproc_per_node 4 -m socratic train {path}"
    assert imported == "False"


@pytest.mark.parametrize("name", ["train_llava_stage1.yaml", "train_llava_stage2.yaml"])
def test_llava_example_configs_are_valid(name):
    from pathlib import Path

    from socratic.adapters.tasks import load_training_config

    examples = Path(__file__).resolve().parents[2] / "examples"
    cfg = load_training_config(examples / name)
    assert cfg.task == "llava" and cfg.vision.path == str(examples / "data" / "llava" / "clip")
    assert cfg.train.eval_every == 50 and cfg.data.val is not None
