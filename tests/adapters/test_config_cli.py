"""Configs: validation errors name file and key; YAML / JSON round trip; the train CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from socratic.adapters.config import (
    ClipCapConfig,
    ConfigError,
    QFormerConfig,
    RunConfig,
    bridge_config_from_dict,
)

from socratic.adapters_cli import train_main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _minimal(**over):
    data = {"vision": {"model": "ViT-B-32"}, "bridge": {"type": "qformer"},
            "lm": {"path": "gpt2"}, "data": {"train": "t.jsonl"},
            "train": {"output_dir": "out"}}
    data.update(over)
    return data


def test_round_trip_yaml_and_json():
    cfg = RunConfig.from_dict(_minimal())
    again = RunConfig.from_dict(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg and isinstance(again.bridge, QFormerConfig)
    assert bridge_config_from_dict(ClipCapConfig().model_dump()) == ClipCapConfig()
    assert '"type": "qformer"' in cfg.to_json()


@pytest.mark.parametrize("bad, expected", [
    ({"train": {"output_dir": "o", "lr": -1}}, "f.yaml: error: train.lr"),
    ({"train": {"output_dir": "o", "step": 3}}, "f.yaml: error: train.step: unknown key"),
    ({"bridge": {"type": "clipcapp"}}, "unknown bridge type 'clipcapp'"),
    ({"bridge": {"type": "clipcap", "mapping": "rnn"}}, "bridge"),
])
def test_errors_name_file_and_key(bad, expected):
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        RunConfig.from_dict(_minimal(**bad), source="f.yaml")


def test_train_main_bad_config_exit_2_one_line(tmp_path, capsys):
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(_minimal(train={"output_dir": "o", "max_step": 3})))
    assert train_main(str(f), []) == 2
    out = capsys.readouterr().out.strip()
    assert out == f"{f}: error: train.max_step: unknown key"
    assert train_main(str(tmp_path / "none.yaml"), []) == 2
    f.write_text("a: [1,\n")
    assert train_main(str(f), []) == 2
    assert "invalid YAML" in capsys.readouterr().out
    f.write_text(yaml.safe_dump(_minimal()))
    assert train_main(str(f), ["train.lr=oops"]) == 2
    assert "train.lr" in capsys.readouterr().out


def test_train_main_runtime_failure_exit_1(tmp_path, capsys):
    f = tmp_path / "c.yaml"
    data = _minimal(lm={"path": str(tmp_path / "no-such-lm")},
                    vision={"backend": "timm", "model": "test_resnet", "image_size": 32})
    f.write_text(yaml.safe_dump(data))
    assert train_main(str(f), [f"train.output_dir={tmp_path / 'o'}"]) == 1
    out = capsys.readouterr().out
    assert "cannot load LM" in out and "Traceback" not in out and len(out.splitlines()) == 1


@pytest.mark.parametrize("name", ["train_clipcap.yaml", "train_qformer.yaml",
                                  "train_frozen.yaml", "train_lora.yaml"])
def test_example_configs_are_valid(name):
    cfg = RunConfig.from_yaml(EXAMPLES / name)
    assert cfg.train.output_dir


@pytest.mark.slow
def test_example_configs_run_on_the_offline_demo(tmp_path, monkeypatch, capsys):
    import json

    from socratic.adapters.demo import prepare_shapes_demo

    monkeypatch.chdir(tmp_path)  # the examples use paths relative to the working directory
    prepare_shapes_demo("examples/data/shapes", quick=True)
    for name in ("train_clipcap.yaml", "train_frozen.yaml", "train_qformer.yaml",
                 "train_lora.yaml"):
        sets = ["train.max_steps=2", "train.batch_size=4", "train.eval_samples=4",
                "train.progress_bar=false", f"train.output_dir=runs/{name}", "train.cpu=true"]
        assert train_main(str(EXAMPLES / name), sets) == 0, capsys.readouterr().out
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert result["step"] == 2
    assert (tmp_path / "runs" / "train_clipcap.yaml" / "bridge" / "bridge_config.json").exists()
    assert (tmp_path / "runs" / "train_lora.yaml" / "adapter" / "adapter_config.json").exists()


def test_prefix_tuning_with_a_bridge_is_refused_clearly():
    with pytest.raises(ConfigError, match="lm.tune: prefix works for task lora only"):
        RunConfig.from_dict(_minimal(lm={"path": "gpt2", "tune": "prefix"}))
