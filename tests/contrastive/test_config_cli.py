"""The entry point: exit codes 0 / 1 / 2 with one-line errors, the example configs, a 2-process
run under torchrun, and the modules' docstring examples."""

from __future__ import annotations

import doctest
import importlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from socratic.adapters.contrastive import ContrastiveConfig
from socratic.adapters.tasks import is_training_config, load_training_config

from socratic.cli import main
from socratic.errors import DataError

from .conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
TINY_DATA = {"source": "shapes", "shapes": {"n_train": 64, "n_val": 24, "n_objects": 1}}


def _write(tmp_path: Path, cfg: dict) -> str:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_missing_file_and_bad_keys_exit_2_with_one_line_each(arch_file, tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err.strip() == f"{tmp_path / 'nope.yaml'}: error: file not found"
    cfg = make_config(arch_file, tmp_path / "out", "uu")
    cfg["train"]["max_step"] = 3
    cfg["mode"] = "XY"
    path = _write(tmp_path, cfg)
    assert main(["train", path]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{path}:") and ": error: " in line for line in lines)
    assert any("unknown key 'train.max_step' (did you mean 'max_steps'?)" in line for line in lines)
    assert any(": error: mode: Input should be" in line for line in lines)
    assert main(["train", path, "--set", "mode=uu", "--set", "train.bad"]) == 2  # no '='
    assert "expected PATH=VALUE" in capsys.readouterr().err


def test_runtime_failure_exits_1_with_one_line(arch_file, tmp_path, capsys):
    cfg = make_config(arch_file, tmp_path / "out", "Lu", image_checkpoint=str(tmp_path / "missing.pt"),
                      data=TINY_DATA)
    assert main(["train", _write(tmp_path, cfg)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint not found" in err[0]
    cfg = make_config(arch_file, tmp_path / "out", "uu", arch="no-such-arch", data=TINY_DATA)
    assert main(["train", _write(tmp_path, cfg)]) == 1
    assert "open_clip architecture 'no-such-arch' is unknown" in capsys.readouterr().err


def test_success_prints_the_result_as_one_json_line(arch_file, tmp_path, capsys):
    cfg = make_config(arch_file, tmp_path / "out", "uu", data=TINY_DATA,
                      train={"max_steps": 3, "batch_size": 16, "save_every": 3})
    path = _write(tmp_path, cfg)
    assert is_training_config(yaml.safe_load(Path(path).read_text()))
    assert main(["train", path, "--set", "train.max_steps=2", "--set", "train.save_every=2"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["step"] == 2 and result["mode"] == "uu" and 0 <= result["zero_shot_acc"] <= 1
    assert (tmp_path / "out" / "model" / "open_clip_config.json").is_file()
    assert (tmp_path / "out" / "checkpoints" / "step-0000002" / "trainable.safetensors").is_file()


def test_jsonl_data_trains_and_evaluates(arch_file, tmp_path):
    from socratic.adapters.contrastive import train_contrastive
    from socratic.adapters.synthetic import make_shapes_splits, write_shapes_jsonl

    train, val = make_shapes_splits(48, 24, seed=3, n_objects=1)
    data = {"source": "jsonl", "train": str(write_shapes_jsonl(train, tmp_path / "d", "train.jsonl")),
            "val": str(write_shapes_jsonl(val, tmp_path / "d", "val.jsonl", prefix="val"))}
    cfg = make_config(arch_file, tmp_path / "out", "uu", data=data, train={"max_steps": 2, "batch_size": 16})
    result = train_contrastive(ContrastiveConfig.model_validate(cfg))
    assert result["step"] == 2 and result["zero_shot_images"] == 24.0
    cfg["data"]["train"] = str(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match="missing.jsonl: file not found"):
        train_contrastive(ContrastiveConfig.model_validate(cfg))


@pytest.mark.parametrize("name", ["train_contrastive_uu.yaml", "train_contrastive_lu.yaml", "train_coca.yaml"])
def test_example_configs_validate(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # paths are relative to the config file, not the working folder
    cfg = load_training_config(ROOT / "examples" / name)
    assert cfg.task == "contrastive" and Path(cfg.arch).is_file()
    assert cfg.train.output_dir.startswith(str(ROOT / "examples" / "runs"))


@pytest.mark.slow
def test_torchrun_two_processes_train_and_agree(arch_file, tmp_path):
    cfg = make_config(arch_file, tmp_path / "out", "uu", data=TINY_DATA,
                      train={"max_steps": 3, "batch_size": 8, "save_every": 3})
    path = _write(tmp_path, cfg)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    with socket.socket() as sock:  # a free port: other runs may use the default one
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(port), "-m", "socratic", "train", path],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    assert state["world_size"] == 2 and state["step"] == 3
    assert len(set(state["rank_digests"])) == 1
    assert (tmp_path / "out" / "model" / "open_clip_pytorch_model.pth").is_file()


@pytest.mark.parametrize(
    "name",
    ["socratic.adapters.contrastive", "socratic.adapters.contrastive.config",
     "socratic.adapters.contrastive.losses", "socratic.adapters.contrastive.towers",
     "socratic.adapters.contrastive.data", "socratic.adapters.contrastive.train"],
)
def test_docstring_examples(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_package_import_is_light():
    code = ("import sys, socratic.adapters.contrastive as c, socratic.adapters.contrastive.config; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
