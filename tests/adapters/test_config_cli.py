"""Configs: validation errors name file and key; YAML / JSON round trip; the train CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from socratic.adapters.config import (
    ClipCapConfig,
    QFormerConfig,
    RunConfig,
    bridge_config_from_dict,
)
from socratic.adapters.tasks import load_training_config

from socratic.cli import main
from socratic.errors import ValidationFailed

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _minimal(**over):
    data = {"vision": {"model": "ViT-B-32"}, "bridge": {"type": "qformer"},
            "lm": {"path": "gpt2"}, "data": {"train": "t.jsonl"},
            "train": {"output_dir": "out"}}
    data.update(over)
    return data


def test_round_trip_yaml_and_json():
    cfg = RunConfig.model_validate(_minimal())
    again = RunConfig.model_validate(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg and isinstance(again.bridge, QFormerConfig)
    assert bridge_config_from_dict(ClipCapConfig().model_dump()) == ClipCapConfig()
    assert '"type": "qformer"' in cfg.to_json()


@pytest.fixture
def main_err(capsys):
    return lambda: capsys.readouterr().err.strip().splitlines()


def _at(text: str, needle: str) -> str:
    """``LINE:COL`` of the first ``needle`` in ``text`` (1-based)."""
    before = text[: text.index(needle)]
    return f"{before.count(chr(10)) + 1}:{len(before) - before.rfind(chr(10))}"


@pytest.mark.parametrize("bad, needle, expected", [
    ({"train": {"output_dir": "o", "lr": -1}}, "-1", "train.lr: Input should be greater than 0"),
    ({"train": {"output_dir": "o", "step": 3}}, "step",
     "unknown key 'train.step' (did you mean 'max_steps'?)"),
    ({"bridge": {"type": "clipcapp"}}, "type: clipcapp", "bridge: unknown bridge type 'clipcapp'"),
    ({"bridge": {"type": "clipcap", "mapping": "rnn"}}, "rnn",
     "bridge.mapping: Input should be 'mlp' or 'transformer'"),
    ({"bridge": {"type": "clipcap", "prefix_lenght": 4}}, "prefix_lenght",
     "unknown key 'bridge.prefix_lenght' (did you mean 'prefix_length'?)"),
])
def test_errors_are_located_with_file_line_and_column(bad, needle, expected, tmp_path, main_err):
    f = tmp_path / "f.yaml"
    text = yaml.safe_dump({"task": "bridge", **_minimal(**bad)}, sort_keys=False)
    f.write_text(text)
    assert main(["train", str(f)]) == 2
    lines = main_err()
    assert any(line.startswith(f"{f}:{_at(text, needle)}: error: {expected}") for line in lines), lines


def test_every_problem_at_once_and_the_set_rule(tmp_path, main_err):
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump({"task": "bridge", **_minimal(train={"output_dir": "o", "max_stepz": 3,
                                                                      "lr": -1})}, sort_keys=False))
    assert main(["train", str(f)]) == 2
    lines = main_err()
    assert len(lines) == 2 and all(line.startswith(f"{f}:") for line in lines)
    assert main(["train", str(tmp_path / "none.yaml")]) == 2
    assert main_err() == [f"{tmp_path / 'none.yaml'}: error: file not found"]
    f.write_text("a: [1,\n")
    assert main(["train", str(f)]) == 2
    assert main_err()[0].startswith(f"{f}:2:1: error: YAML syntax")
    f.write_text(yaml.safe_dump({"task": "bridge", **_minimal()}))
    assert main(["train", str(f), "--set", "train.lr=oops"]) == 2
    assert main_err() == ["--set train.lr: error: train.lr: Input should be a valid number, unable to"
                          " parse string as a number"]
    assert main(["train", str(f), "--set", "train.lr"]) == 2
    assert "expected PATH=VALUE" in main_err()[0]
    assert main(["validate", str(f), "--set", "task=brige"]) == 2
    (err,) = main_err()
    assert err.startswith("--set task: error: unknown task 'brige' (did you mean 'bridge'?); tasks:"
                          " bridge, lora, contrastive, qformer_stage1")


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    from socratic.adapters.tasks import load_training_config

    (tmp_path / "sub").mkdir()
    f = tmp_path / "sub" / "c.yaml"
    f.write_text(yaml.safe_dump({"task": "bridge", **_minimal(lm={"path": "./models/gpt2"},
                                                              data={"train": "../t.jsonl"})}))
    cfg = load_training_config(f, ["train.output_dir=./o"])
    assert cfg.lm.path == str(tmp_path / "sub" / "models" / "gpt2")
    assert cfg.data.train == str(tmp_path / "t.jsonl")
    assert cfg.train.output_dir == "./o"  # given on the command line: relative to the current folder


def test_train_runtime_failure_exit_1_one_line(tmp_path, capsys):
    f = tmp_path / "c.yaml"
    data = _minimal(lm={"path": str(tmp_path / "no-such-lm")},
                    vision={"backend": "timm", "model": "test_resnet", "image_size": 32})
    f.write_text(yaml.safe_dump({"task": "bridge", **data}))
    assert main(["train", str(f), "--set", f"train.output_dir={tmp_path / 'o'}"]) == 1
    err = capsys.readouterr().err
    assert "cannot load LM" in err and "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("name", ["train_clipcap.yaml", "train_qformer.yaml", "train_qformer_stage2.yaml",
                                  "train_frozen.yaml", "train_lora.yaml"])
def test_example_configs_are_valid(name):
    cfg = load_training_config(EXAMPLES / name)
    assert cfg.train.output_dir == str(EXAMPLES / "runs" / Path(cfg.train.output_dir).name)
    assert cfg.lm.path == str(EXAMPLES / "data" / "shapes" / "models" / "gpt2")


def test_qformer_stage1_example_is_its_own_task():
    cfg = load_training_config(EXAMPLES / "train_qformer_stage1.yaml")
    assert cfg.task == "qformer_stage1" and cfg.objectives.losses == ["itc", "itm", "itg"]
    assert cfg.qformer.bert_path == str(EXAMPLES / "data" / "shapes" / "models" / "bert")
    stage2 = load_training_config(EXAMPLES / "train_qformer_stage2.yaml")
    assert stage2.bridge.stage1_checkpoint == str(EXAMPLES / "runs" / "qformer-stage1" / "qformer")
    assert stage2.bridge.arch() == {**cfg.qformer.arch()}


@pytest.mark.parametrize("name, mapping, k, tune", [
    ("train_clipcap_coco.yaml", "mlp", 10, "full"),
    ("train_clipcap_coco_transformer.yaml", "transformer", 40, "frozen"),
])
def test_clipcap_coco_examples_hold_the_paper_settings(name, mapping, k, tune):
    cfg = load_training_config(EXAMPLES / name)
    b, t = cfg.bridge, cfg.train
    assert (b.mapping, b.prefix_length, b.labels, cfg.lm.tune) == (mapping, k, "reference", tune)
    if mapping == "transformer":
        assert (b.clip_length, b.num_layers, b.num_heads) == (40, 8, 8)
    assert cfg.vision.model == "ViT-B-32-quickgelu" and cfg.vision.pretrained.endswith("ViT-B-32.pt")
    assert (t.lr, t.warmup_steps, t.batch_size, t.schedule) == (2e-5, 5000, 40, "linear")
    assert t.max_steps == 10 * (566_747 // 40)  # 10 epochs of drop_last batches of 40 captions
    text = (EXAMPLES / name).read_text()
    assert "113.08" in text and "108.35" in text


@pytest.mark.slow
def test_example_configs_run_on_the_offline_demo(tmp_path, monkeypatch, capsys):
    import json
    import shutil

    examples = tmp_path / "examples"  # the examples' paths are relative to their own folder
    shutil.copytree(EXAMPLES, examples, ignore=shutil.ignore_patterns("data", "runs"))
    assert main(["demo", "--prepare-data", str(examples / "data" / "shapes"), "--quick"]) == 0
    monkeypatch.chdir(tmp_path)
    for name in ("train_clipcap.yaml", "train_frozen.yaml", "train_qformer.yaml",
                 "train_lora.yaml", "train_qformer_stage1.yaml", "train_qformer_stage2.yaml"):
        # stage 1 writes where the stage-2 example reads it (relative to the examples folder)
        out = [] if name == "train_qformer_stage1.yaml" else [f"train.output_dir=runs/{name}"]
        sets = ["train.max_steps=2", "train.batch_size=4", "train.eval_samples=4",
                "train.progress_bar=false", "train.cpu=true", *out]
        args = [a for s in sets for a in ("--set", s)]
        assert main(["train", str(examples / name), *args]) == 0, capsys.readouterr().err
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert result["step"] == 2
    assert (tmp_path / "runs" / "train_clipcap.yaml" / "bridge" / "bridge_config.json").exists()
    assert (tmp_path / "runs" / "train_lora.yaml" / "adapter" / "adapter_config.json").exists()
    assert (examples / "runs" / "qformer-stage1" / "qformer" / "qformer_stage1.json").exists()


def test_prefix_tuning_with_a_bridge_is_refused_clearly(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump({"task": "bridge", **_minimal(lm={"path": "gpt2", "tune": "prefix"})}))
    with pytest.raises(ValidationFailed, match="lm.tune: prefix works for task lora only"):
        load_training_config(f)
