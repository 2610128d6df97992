"""LoRA / prefix tuning of the LM on prompt/completion JSONL, saved as standard peft folders;
a bridge with a LoRA-tuned LM saves and reloads its adapter."""

from __future__ import annotations

import json

import pytest
import torch
from socratic.adapters.config import LMConfig, RunConfig
from socratic.adapters.synthetic import make_shapes_dataset

pytestmark = pytest.mark.slow


def _rows(seed, n):
    return [
        {"prompt": s.caption + ". colour:", "completion": " " + s.objects[0].color}
        for s in make_shapes_dataset(n, seed=seed)
    ]


@pytest.fixture(scope="module")
def qa_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("qa")
    (d / "train.jsonl").write_text("\n".join(json.dumps(r) for r in _rows(0, 400)))
    val = _rows(1, 40)
    (d / "val.jsonl").write_text("\n".join(json.dumps(r) for r in val))
    return d, val


def _cfg(lm_dir, data_dir, out, tune="lora", steps=150, lr=1e-2):
    return RunConfig.model_validate({
        "task": "lora",
        "lm": {"path": str(lm_dir), "tune": tune, "lora": {"r": 8, "dropout": 0.0}},
        "data": {"train": str(data_dir / "train.jsonl"), "val": str(data_dir / "val.jsonl")},
        "train": {"output_dir": str(out), "max_steps": steps, "batch_size": 16, "lr": lr,
                  "progress_bar": False, "tensorboard": False, "cpu": True, "log_every": 10,
                  "eval_max_new_tokens": 3},
    })


def test_causal_collate_masks_the_prompt(tiny):
    from socratic.adapters.lora import TextLM

    lm = TextLM(LMConfig(path=tiny.lm_dir, tune="lora"))
    batch = lm.collate([{"prompt": "a red circle. colour:", "completion": " red"},
                        {"prompt": "a b", "completion": " blue square"}])
    tok = tiny.tokenizer
    n_prompt = len(tok("a red circle. colour:", add_special_tokens=False)["input_ids"])
    labels = batch["labels"][0].tolist()
    assert labels[:n_prompt] == [-100] * n_prompt
    kept = [t for t in labels if t != -100]
    assert kept == tok(" red", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()


def test_lora_tuning_learns_and_saves_a_standard_peft_folder(tiny, qa_data, tmp_path):
    from peft import PeftModel
    from socratic.adapters.lora import TextLM
    from socratic.adapters.runs import run
    from socratic.adapters.vision import module_fingerprint
    from transformers import AutoModelForCausalLM

    data_dir, val = qa_data
    base = TextLM(LMConfig(path=tiny.lm_dir, tune="lora"))
    prompts = [r["prompt"] for r in val]
    base_acc = sum(
        h.strip() == r["completion"].strip()
        for h, r in zip(base.generate(prompts, max_new_tokens=3), val, strict=True)
    ) / len(val)
    result = run(_cfg(tiny.lm_dir, data_dir, tmp_path))
    assert base_acc <= 0.35 and result["exact_match"] >= 0.9
    adapter = tmp_path / "adapter"
    conf = json.loads((adapter / "adapter_config.json").read_text())
    assert conf["peft_type"] == "LORA" and conf["base_model_name_or_path"] == tiny.lm_dir
    assert (adapter / "adapter_model.safetensors").exists()
    # what the hf LLM backend does: base model + adapter folder
    plain = AutoModelForCausalLM.from_pretrained(tiny.lm_dir)
    fp = module_fingerprint(plain)
    tuned = PeftModel.from_pretrained(plain, str(adapter)).eval()
    ids = tiny.tokenizer(prompts[0], add_special_tokens=False, return_tensors="pt")
    out = tuned.generate(**ids, max_new_tokens=2, do_sample=False)
    text = tiny.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert text.strip() == val[0]["completion"].strip()
    assert module_fingerprint(tuned) == fp  # base weights untouched
    # the hf LLM backend loads base model + adapter: the tuned LM drops into any graph
    from socratic.spec import load_graph_text

    graph = load_graph_text(
        "inputs: {q: str}\nmodels:\n"
        f"  tuned: {{backend: hf, model: '{tiny.lm_dir}', adapter: '{adapter}', max_tokens: 2,"
        " temperature: 0, cache: false}\n"
        "nodes:\n  ask: {type: llm.generate, model: tuned, template: '{{ q }}', q: '${inputs.q}'}\n"
        "outputs: {a: '${ask.output}'}\n",
        "g.yaml",
    )
    direct = []
    for r in val[:8]:
        ids = tiny.tokenizer(r["prompt"], add_special_tokens=False, return_tensors="pt")
        out = tuned.generate(**ids, max_new_tokens=2, do_sample=False)
        direct.append(tiny.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))
    answers = [graph.run(q=r["prompt"])["a"] for r in val[:8]]
    assert [a.strip() for a in answers] == [d.strip() for d in direct]
    assert sum(a.strip() == r["completion"].strip() for a, r in zip(answers, val, strict=False)) >= 6


def test_seq2seq_lora_and_prefix_tuning(tiny, qa_data, tmp_path):
    from peft import PeftModel
    from socratic.adapters.lora import TextLM
    from socratic.adapters.runs import run
    from transformers import AutoModelForSeq2SeqLM

    from socratic.testing import make_tiny_lm

    t5 = tmp_path / "t5"
    make_tiny_lm(t5, "t5", tokenizer=tiny.tokenizer, width=32, layers=1, heads=2)
    m = TextLM(LMConfig(path=str(t5), tune="lora"))
    assert m.seq2seq
    batch = m.collate([{"prompt": "a red circle. colour:", "completion": " red"}])
    eos = tiny.tokenizer.eos_token_id
    assert batch["labels"][0].tolist() == tiny.tokenizer(" red")["input_ids"] + [eos]
    data_dir, val = qa_data
    res = run(_cfg(t5, data_dir, tmp_path / "out", steps=30, lr=5e-3))
    losses = [float(r) for r in _col(tmp_path / "out" / "train_log.csv", "loss")]
    assert losses[-1] < losses[0]
    trained = TextLM(LMConfig(path=str(t5), tune="lora"))
    trained.lm = PeftModel.from_pretrained(
        AutoModelForSeq2SeqLM.from_pretrained(str(t5)), str(tmp_path / "out" / "adapter")
    )
    assert "exact_match" in res
    assert len(trained.generate([val[0]["prompt"]], max_new_tokens=3)) == 1
    # prefix tuning on the causal LM: trains, saves, reloads to the same outputs
    res = run(_cfg(tiny.lm_dir, data_dir, tmp_path / "prefix", tune="prefix", steps=20))
    conf = json.loads((tmp_path / "prefix" / "adapter" / "adapter_config.json").read_text())
    assert conf["peft_type"] == "PREFIX_TUNING" and res["step"] == 20


def _col(path, name):
    import csv

    with open(path) as f:
        return [row[name] for row in csv.DictReader(f)]


def test_bridge_with_lora_tuned_lm_saves_adapter_and_reloads(tiny, tmp_path):
    from socratic.adapters.io import load_bridge
    from socratic.adapters.runs import build_bridge_run

    from .conftest import run_config

    cfg = run_config(
        tiny, tmp_path, {"type": "clipcap", "mapping": "mlp", "prefix_length": 4},
        lm={"path": tiny.lm_dir, "tune": "lora", "lora": {"r": 4, "dropout": 0.0}},
        data={"train": tiny.train_jsonl, "val": None, "feature_cache": str(tiny.root / "fc")},
        train={"max_steps": 10, "batch_size": 16},
    )
    trainer, vlm = build_bridge_run(cfg)
    trainer.fit()
    names = [n for n, p in vlm.named_parameters() if p.requires_grad]
    assert any("lora_" in n for n in names) and any(n.startswith("bridge.") for n in names)
    assert (tmp_path / "bridge" / "adapter" / "adapter_config.json").exists()
    loaded = load_bridge(tmp_path / "bridge")
    images = [s.image for s in tiny.held_out[:4]]
    with torch.no_grad():
        assert loaded.generate(images, max_new_tokens=8) == vlm.generate(images, max_new_tokens=8)


def test_clipcap_with_fully_tuned_lm_saves_and_reloads(tiny, tmp_path):
    """The ClipCap-MLP paper setting: the LM trains too; its weights go to bridge.safetensors
    and the base model check still uses the pristine base weights."""
    from safetensors.torch import load_file
    from socratic.adapters.io import load_bridge
    from socratic.adapters.runs import build_bridge_run

    from .conftest import run_config

    cfg = run_config(
        tiny, tmp_path, {"type": "clipcap", "mapping": "mlp", "prefix_length": 4},
        lm={"path": tiny.lm_dir, "tune": "full"},
        data={"train": tiny.train_jsonl, "val": None, "feature_cache": str(tiny.root / "fc")},
        train={"max_steps": 4, "batch_size": 16, "lr": 1e-3},
    )
    trainer, vlm = build_bridge_run(cfg)
    trainer.fit()
    saved = load_file(str(tmp_path / "bridge" / "bridge.safetensors"))
    assert any(k.startswith("lm.") for k in saved) and any(k.startswith("bridge.") for k in saved)
    loaded = load_bridge(tmp_path / "bridge")
    images = [s.image for s in tiny.held_out[:4]]
    assert loaded.generate(images, max_new_tokens=8) == vlm.generate(images, max_new_tokens=8)
