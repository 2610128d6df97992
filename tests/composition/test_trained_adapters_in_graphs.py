"""What a user composes: a LoRA adapter trained by `socratic train` dropped into a YAML graph with
default options answers as it did in training (the prompt format travels with the adapter)."""

from __future__ import annotations

import json
import warnings

import pytest
import yaml

from socratic.cli import main

pytestmark = pytest.mark.slow

THINGS = {"apple": "red", "sky": "blue", "grass": "green", "snow": "white", "coal": "black",
          "lemon": "yellow", "plum": "purple", "carrot": "orange"}


def test_a_trained_lora_answers_in_a_yaml_graph_as_in_training(tmp_path, capsys):
    from socratic.runner import RowRunner
    from socratic.spec import load_graph_text
    from socratic.testing import make_tiny_lm, train_tokenizer

    corpus = [f"the colour of {t} is {c}" for t, c in THINGS.items()] * 4
    tok = train_tokenizer(corpus)  # a tokenizer WITH a chat template: the hf backend would use it
    assert tok.chat_template
    make_tiny_lm(tmp_path / "lm", "gpt2", tokenizer=tok, width=64)
    rows = [{"prompt": f"colour of {t}:", "completion": f" {c}"} for t, c in THINGS.items()]
    for name in ("train.jsonl", "val.jsonl"):
        (tmp_path / name).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    config = {"task": "lora", "lm": {"path": "./lm", "tune": "lora", "lora": {"r": 8, "dropout": 0.0}},
              "data": {"train": "./train.jsonl", "val": "./val.jsonl"},
              "train": {"output_dir": "./run", "max_steps": 200, "batch_size": 8, "lr": 1e-2,
                        "progress_bar": False, "tensorboard": False, "cpu": True,
                        "eval_samples": 8, "eval_max_new_tokens": 2}}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(tmp_path / "train.yaml")]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert trained["exact_match"] >= 0.9, trained

    graph = (f"inputs: {{q: str}}\nmodels:\n  tuned: {{backend: hf, model: {tmp_path / 'lm'},"
             f" adapter: {tmp_path / 'run' / 'adapter'}, max_tokens: 2, temperature: 0, cache: false}}\n"
             "nodes:\n  ask: {type: llm.generate, model: tuned, template: '{{ q }}',"
             " q: '${inputs.q}'}\noutputs: {answer: '${ask.output}'}\n")
    queries = [{"q": r["prompt"]} for r in rows]
    records = RowRunner(load_graph_text(graph, "g.yaml")).collect(queries)
    in_graph = sum(r["outputs"]["answer"].strip() == row["completion"].strip()
                   for r, row in zip(records, rows, strict=True)) / len(rows)
    assert in_graph == pytest.approx(trained["exact_match"])  # default options: as in training

    forced = graph.replace("cache: false", "cache: false, chat_template: true")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        wrapped = RowRunner(load_graph_text(forced, "g.yaml")).collect(queries)
    assert any("was trained with chat_template: false" in str(w.message) for w in seen)
    chat_acc = sum(r["outputs"]["answer"].strip() == row["completion"].strip()
                   for r, row in zip(wrapped, rows, strict=True)) / len(rows)
    assert chat_acc < in_graph  # what users got before: the chat template garbles the answers
