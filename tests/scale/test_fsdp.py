"""FSDP2 on CPU (gloo, two processes under torchrun): a LoRA run sharded over 2 ranks ends with
the weights of one process with the same global batch, resumes exactly from its sharded
checkpoints, and its consolidated adapter loads in one process."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import yaml

from .conftest import lora_config, torchrun

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fsdp_run(tiny_text, tmp_path_factory):
    out = tmp_path_factory.mktemp("fsdp")
    cfg = lora_config(tiny_text, out / "unused", save_every=5, batch_size=4)
    cfg["distributed"] = {"strategy": "fsdp"}
    (out / "fsdp.yaml").write_text(yaml.safe_dump(cfg))
    worker = str(__import__("pathlib").Path(__file__).with_name("fsdp_worker.py"))
    proc = torchrun([worker, str(out / "fsdp.yaml"), str(out)])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    ranks = [json.loads((out / f"results_rank{r}.json").read_text()) for r in (0, 1)]
    return SimpleNamespace(out=out, rank0=ranks[0], rank1=ranks[1])


def test_two_fsdp_ranks_end_with_the_weights_of_one_process(tiny_text, fsdp_run, tmp_path):
    from safetensors.torch import load_file
    from socratic.adapters.config import RunConfig
    from socratic.adapters.runs import build_lora_run

    # one process, the same global batch (2 ranks x 4), no sharding
    trainer, _ = build_lora_run(RunConfig.model_validate(lora_config(tiny_text, tmp_path, batch_size=8)))
    assert trainer.fit()["step"] == 10
    single = trainer.trainable_state()
    sharded = load_file(str(fsdp_run.out / "full" / "weights.safetensors"))
    assert sharded.keys() == single.keys() and len(single) == 8  # lora A and B of q, v in 2 layers
    diff = max(float((sharded[k] - single[k]).abs().max()) for k in single)
    assert diff < 1e-5, diff
    moved = max(float(v.abs().max()) for k, v in single.items() if "lora_B" in k)  # B starts at 0
    assert moved > 1e-3, moved
    # each rank held half of every trainable parameter
    assert fsdp_run.rank0["full_local_numel_rank0"] == fsdp_run.rank1["full_local_numel_rank1"]
    assert 2 * fsdp_run.rank0["full_local_numel_rank0"] == fsdp_run.rank0["full_full_numel"]


def test_sharded_checkpoints_resume_exactly(fsdp_run):
    full, part = fsdp_run.rank0["full"], fsdp_run.rank0["part"]
    assert full["step"] == part["step"] == 10
    assert full["digest"] == part["digest"]
    ckpt = fsdp_run.out / "part" / "checkpoints" / "step-0000005"
    shards = sorted(p.name for p in (ckpt / "model_optim").iterdir())
    assert shards == [".metadata", "__0_0.distcp", "__1_0.distcp"]  # one file per rank
    assert (ckpt / "random_states_0.pkl").is_file() and (ckpt / "random_states_1.pkl").is_file()
    state = json.loads((fsdp_run.out / "part" / "trainer_state.json").read_text())
    assert state["world_size"] == 2 and len(set(state["rank_digests"])) == 1


def test_consolidated_adapter_loads_in_one_process(tiny_text, fsdp_run):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    adapter = fsdp_run.out / "full" / "adapter"
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_text.lm), str(adapter))
    trained = load_file(str(fsdp_run.out / "full" / "weights.safetensors"))
    loaded = dict(model.named_parameters())
    for name, value in trained.items():
        assert torch.equal(loaded[name.removeprefix("lm.")].detach(), value), name


def test_resume_with_another_number_of_processes_is_refused(tmp_path):
    from socratic.adapters.distributed.checkpoint import load_sharded

    from socratic.errors import TrainingError

    ckpt = tmp_path / "step-0000005"
    ckpt.mkdir()
    (ckpt / "trainer_state.json").write_text(json.dumps({"step": 5, "world_size": 2, "strategy": "fsdp"}))
    trainer = SimpleNamespace(strategy=SimpleNamespace(name="fsdp"), world=4)
    with pytest.raises(TrainingError, match="written by 2 processes, this run has 4"):
        load_sharded(trainer, ckpt)
    trainer.strategy.name = "deepspeed"
    with pytest.raises(TrainingError, match="written with strategy fsdp, this run uses deepspeed"):
        load_sharded(trainer, ckpt)
