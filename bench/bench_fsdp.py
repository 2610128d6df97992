"""FSDP2 versus DDP, same model, same global batch, measured in one run.

CPU (default): LoRA on a Llama of ``--width`` x ``--layers`` (random weights, no downloads) for
``--steps`` steps by two processes under torchrun (gloo), once with ``distributed.strategy:
ddp`` and once with ``fsdp``; prints seconds per step of each, the ratio, and each rank's
parameter memory (the bytes of the parameters, frozen and trained, that rank 0 holds: FSDP
shards them all, so it should hold about half of DDP's).

GPU (``--suite gpu``, run by bench/gpu.sh): one process on a Llama built from a config (about
0.5B parameters, no downloads): LoRA bf16, QLoRA 4-bit (bitsandbytes) and FSDP (one rank) on
the same batches; tokens/s and peak memory, printed as a table.

    python bench/bench_fsdp.py [--steps 20] [--width 256] [--layers 4] [--suite cpu|gpu] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORKER = """
import json, sys, time, torch
torch.set_num_threads(1)
from socratic.adapters.runs import build_lora_run
from socratic.adapters.tasks import load_training_config
cfg = load_training_config(sys.argv[1])
trainer, _ = build_lora_run(cfg)
local = 0
for p in trainer.model.parameters():
    t = p.to_local() if hasattr(p, "to_local") else p
    local += t.numel() * t.element_size()
trainer.fit(stop_after=2)  # warm-up steps (not timed)
trainer.cfg.resume = False
t0 = time.perf_counter()
trainer.fit()
elapsed = time.perf_counter() - t0
if trainer.is_main:
    json.dump({"s_per_step": elapsed / (cfg.train.max_steps - 2), "param_bytes_rank0": local},
              open(sys.argv[2], "w"))
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data(tmp: Path, width: int, layers: int) -> tuple[str, str]:
    from socratic.adapters.synthetic import all_captions

    from socratic.testing import make_tiny_lm, train_tokenizer

    tok = train_tokenizer([*all_captions(1), "Caption:"], chat_template=None)
    lm = make_tiny_lm(tmp / "llama", "llama", tokenizer=tok, width=width, layers=layers, heads=4, init_std=0.02)
    rows = [{"prompt": "Caption:", "completion": " " + c} for c in all_captions(1)] * 32
    data = tmp / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(lm), str(data)


def cpu_suite(args: argparse.Namespace) -> dict:
    import yaml

    tmp = Path(tempfile.mkdtemp(prefix="bench-fsdp-"))
    lm, data = _data(tmp, args.width, args.layers)
    worker = tmp / "worker.py"
    worker.write_text(WORKER)
    out = {}
    for strategy in ("ddp", "fsdp"):
        lora = {"r": 4, "dropout": 0.0, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
        cfg = {"task": "lora", "lm": {"path": lm, "tune": "lora", "lora": lora},
               "data": {"train": data, "max_text_tokens": 16},
               "train": {"output_dir": str(tmp / strategy), "max_steps": args.steps + 2, "batch_size": 8,
                         "cpu": True, "progress_bar": False, "tensorboard": False, "log_every": 1000},
               "distributed": {"strategy": strategy}}
        (tmp / f"{strategy}.yaml").write_text(yaml.safe_dump(cfg))
        res = tmp / f"{strategy}.json"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                               "--master_addr", "127.0.0.1", "--master_port", str(_port()), str(worker),
                               str(tmp / f"{strategy}.yaml"), str(res)], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            sys.exit(proc.stderr[-3000:])
        out[strategy] = json.loads(res.read_text())
    ratio = out["fsdp"]["s_per_step"] / out["ddp"]["s_per_step"]
    mem = out["fsdp"]["param_bytes_rank0"] / out["ddp"]["param_bytes_rank0"]
    print(f"llama width {args.width} x {args.layers} layers, 2 ranks (gloo), global batch 16, {args.steps} steps")
    print(f"{'strategy':10} {'s/step':>10} {'param MB/rank':>14}")
    for k, v in out.items():
        print(f"{k:10} {v['s_per_step']:10.4f} {v['param_bytes_rank0'] / 2**20:14.2f}")
    print(f"fsdp/ddp step time ratio: {ratio:.2f}   parameter memory ratio: {mem:.2f}")
    return {"cpu": out, "time_ratio": ratio, "memory_ratio": mem}


def gpu_suite(args: argparse.Namespace) -> dict:
    """LoRA bf16, QLoRA 4-bit and FSDP (1 rank) on a ~0.5B Llama from a config (GPU only)."""
    import torch
    import transformers as hf
    from peft import LoraConfig, get_peft_model

    if not torch.cuda.is_available():
        sys.exit("bench_fsdp --suite gpu needs a CUDA device")
    tmp = Path(tempfile.mkdtemp(prefix="bench-fsdp-gpu-"))
    config = hf.LlamaConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                            num_key_value_heads=16, vocab_size=32000, max_position_embeddings=1024)
    hf.LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(str(tmp / "llama"))
    batch, seq = 8, 512
    ids = torch.randint(0, 32000, (batch, seq), device="cuda")
    lora = LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    rows = {}

    def measure(name: str, model: torch.nn.Module) -> None:
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        for _ in range(3):  # warm-up
            model(input_ids=ids, labels=ids).loss.backward()
            opt.step()
            opt.zero_grad()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        rows[name] = {"tokens_per_s": batch * seq * args.steps / dt,
                      "peak_gb": torch.cuda.max_memory_allocated() / 2**30}
        del model, opt
        torch.cuda.empty_cache()

    base = hf.AutoModelForCausalLM.from_pretrained(str(tmp / "llama"), dtype=torch.bfloat16).cuda()
    measure("lora bf16", get_peft_model(base, lora))
    from socratic.adapters.quantization import QuantizationConfig, bnb_config, prepare_for_kbit

    q = hf.AutoModelForCausalLM.from_pretrained(str(tmp / "llama"), dtype=torch.bfloat16, device_map={"": 0},
                                                quantization_config=bnb_config(QuantizationConfig()))
    measure("qlora 4-bit nf4", get_peft_model(prepare_for_kbit(q), lora))
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_port()))
    dist.init_process_group("nccl", rank=0, world_size=1)
    mesh = init_device_mesh("cuda", (1,))
    model = get_peft_model(hf.AutoModelForCausalLM.from_pretrained(str(tmp / "llama"), dtype=torch.bfloat16)
                           .cuda(), lora)
    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for layer in model.base_model.model.model.layers:
        fully_shard(layer, mesh=mesh, mp_policy=mp)
    fully_shard(model, mesh=mesh, mp_policy=mp)
    measure("fsdp2 lora bf16 (1 rank)", model)
    dist.destroy_process_group()
    print(f"Llama {sum(p.numel() for p in base.parameters()) / 1e6:.0f}M params, batch {batch} x {seq} tokens")
    print(f"{'setup':28} {'tokens/s':>10} {'peak GB':>8}")
    for k, v in rows.items():
        print(f"{k:28} {v['tokens_per_s']:10.0f} {v['peak_gb']:8.2f}")
    return {"gpu": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=["cpu", "gpu"], default="cpu")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    result = cpu_suite(args) if args.suite == "cpu" else gpu_suite(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
