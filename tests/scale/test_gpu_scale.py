"""GPU checks of training at scale (run by bench/gpu.sh; deselected by default, never run on the
project's CPU machines): QLoRA 4-bit LoRA trains and its adapter loads, FSDP2 with bf16 on CUDA
resumes exactly, DeepSpeed ZeRO-2 / ZeRO-3 train, resume exactly and export a consolidated
adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from .conftest import lora_config, torchrun

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _gpu(cfg: dict) -> dict:
    cfg["train"].update(cpu=False, mixed_precision="bf16", lr=1e-2, schedule="constant")  # lr not tied to max_steps
    return cfg


def test_qlora_4bit_lora_trains_and_its_adapter_loads(tiny_text, tmp_path):
    pytest.importorskip("bitsandbytes", reason="bench/gpu.sh installs bitsandbytes from carried wheels")
    from peft import PeftModel
    from socratic.adapters.config import RunConfig
    from socratic.adapters.runs import build_lora_run
    from transformers import AutoModelForCausalLM

    cfg = _gpu(lora_config(tiny_text, tmp_path, max_steps=40))
    cfg["lm"]["quantization"] = {"bits": 4, "quant_type": "nf4", "compute_dtype": "bf16"}
    trainer, model = build_lora_run(RunConfig.model_validate(cfg))
    assert any(type(m).__name__ == "Linear4bit" for m in model.modules())
    result = trainer.fit()
    losses = [r["loss"] for r in trainer.history]
    assert result["step"] == 40 and losses[-1] < 0.7 * losses[0], losses
    base = AutoModelForCausalLM.from_pretrained(tiny_text.lm)
    PeftModel.from_pretrained(base, str(tmp_path / "adapter"))


def _run_twice(tiny_text, tmp_path: Path, distributed: dict) -> tuple[dict, dict]:
    """The same run straight and stopped at step 5 then resumed, each under torchrun."""
    out = {}
    for name, steps in (("full", [10]), ("part", [5, 10])):
        for max_steps in steps:  # the "part" run stops at 5 (its end then), then goes on to 10
            cfg = _gpu(lora_config(tiny_text, tmp_path / name, save_every=5, max_steps=10))
            cfg["distributed"] = distributed
            path = tmp_path / f"{name}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            args = ["-m", "socratic", "train", str(path)]
            if max_steps == 5:
                args += ["--set", "train.max_steps=5", "--set", "train.save_every=5"]
            proc = torchrun(args, nproc=min(2, torch.cuda.device_count()), timeout=600)
            assert proc.returncode == 0, proc.stderr[-4000:]
        out[name] = json.loads((tmp_path / name / "trainer_state.json").read_text())
    return out["full"], out["part"]


def test_fsdp_bf16_on_cuda_resumes_exactly(tiny_text, tmp_path):
    full, part = _run_twice(tiny_text, tmp_path, {"strategy": "fsdp"})
    assert full["step"] == part["step"] == 10 and full["digest"] == part["digest"]
    assert (tmp_path / "full" / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_zero_trains_resumes_and_exports(tiny_text, tmp_path, stage):
    pytest.importorskip("deepspeed", reason="bench/gpu.sh installs deepspeed from carried wheels")
    full, part = _run_twice(tiny_text, tmp_path, {"strategy": "deepspeed", "zero_stage": stage})
    assert full["step"] == part["step"] == 10 and full["digest"] == part["digest"]
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_text.lm), str(tmp_path / "full" / "adapter"))
