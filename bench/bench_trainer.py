"""Trainer overhead: our Accelerate training step versus a minimal plain-PyTorch loop doing the
same steps (same model, same batches, same AdamW + scheduler + clipping), measured in one run.

CPU (default): a small ClipCap-MLP bridge into a tiny GPT-2 (width 128, 2 layers) on
precomputed features, batch 32; prints seconds per step for both and the ratio (target <= 1.1).

GPU (``--suite gpu``, used by bench/gpu.sh): ClipCap MLP with a GPT-2-small-sized LM (random
weights, 124M), batch 40, prefix 10; Q-Former into a 1B-class Llama config (random weights);
fp32 and bf16; samples/s and peak memory, ours versus the plain loop.

    python bench/bench_trainer.py [--steps 60] [--threads 1] [--suite cpu|gpu] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch


def _build(tmp: Path, arch: str, lm: dict[str, Any], bridge: dict[str, Any], device: str) -> Any:
    """A VisionLanguageModel on a random LM of the given size (no downloads)."""
    from socratic.adapters.config import LMConfig, VisionConfig, bridge_config_from_dict
    from socratic.adapters.synthetic import all_captions
    from socratic.adapters.vlm import VisionLanguageModel

    from socratic.testing import make_tiny_lm, train_tokenizer

    tok = train_tokenizer(all_captions(2), vocab_size=400)
    lm_dir = tmp / f"lm-{arch}-{lm.get('width')}"
    if not lm_dir.exists():
        make_tiny_lm(lm_dir, arch, tokenizer=tok, **lm)
    vlm = VisionLanguageModel.from_configs(
        VisionConfig(backend="timm", model="test_resnet", image_size=32),
        bridge_config_from_dict(bridge),
        LMConfig(path=str(lm_dir)),
        seed=0,
    )
    return vlm.to(device)


def _examples(vlm: Any, n: int, n_tokens: int) -> list[dict[str, Any]]:
    from socratic.adapters.synthetic import make_shapes_dataset

    g = torch.Generator().manual_seed(0)
    dim = vlm.bridge.vision_dim
    shape = (dim,) if vlm.feature_kind == "pooled" else (n_tokens, dim)
    return [
        {"features": torch.randn(shape, generator=g), "caption": s.caption}
        for s in make_shapes_dataset(n, seed=1)
    ]


def plain_loop(vlm: Any, data: list[dict[str, Any]], bs: int, steps: int, precision: str) -> float:
    """The baseline: what a hand-written loop does for the same steps. Returns seconds."""
    from transformers import get_scheduler

    dev = vlm.device
    params = [p for p in vlm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    sched = get_scheduler("linear", opt, num_warmup_steps=0, num_training_steps=steps)
    vlm.train()
    dtype = torch.bfloat16 if precision == "bf16" else None
    _sync(dev)
    t = time.perf_counter()
    for step in range(steps):
        idx = [(step * bs + i) % len(data) for i in range(bs)]
        batch = {k: v.to(dev) for k, v in vlm.collate([data[i] for i in idx]).items()}
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            loss = vlm(**batch)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    _sync(dev)
    return time.perf_counter() - t


def ours(vlm: Any, data: list[dict[str, Any]], bs: int, steps: int, precision: str) -> float:
    from socratic.adapters.config import TrainConfig
    from socratic.adapters.train import Trainer

    cfg = TrainConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-trainer-"),
        max_steps=steps,
        batch_size=bs,
        lr=1e-4,
        log_every=max(steps // 4, 1),
        progress_bar=False,
        tensorboard=False,
        mixed_precision=precision if precision == "bf16" else "no",
        cpu=vlm.device.type == "cpu",
    )
    trainer = Trainer(vlm, data, vlm.collate, cfg)
    _sync(vlm.device)
    t = time.perf_counter()
    trainer.fit()
    _sync(vlm.device)
    return time.perf_counter() - t


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _compare(vlm: Any, data: list[Any], bs: int, steps: int, precision: str, rounds: int) -> dict:
    plain_loop(vlm, data, bs, max(steps // 5, 2), precision)  # warm up
    p, o = [], []
    peak: dict[str, float] = {}
    pairs = [("plain", plain_loop, p), ("ours", ours, o)]
    for r in range(rounds):
        for name, fn, acc in pairs if r % 2 == 0 else pairs[::-1]:  # alternate the order
            if vlm.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            acc.append(fn(vlm, data, bs, steps, precision))
            print(f"  round {r} {name:5s} {acc[-1] / steps:.4f} s/step", file=sys.stderr)
            if vlm.device.type == "cuda":
                peak[name] = torch.cuda.max_memory_allocated() / 2**30
    best_p, best_o = min(p), min(o)
    paired = sorted(b / a for a, b in zip(p, o, strict=True))
    return {
        "median_paired_ratio": paired[len(paired) // 2],
        "precision": precision,
        "batch": bs,
        "steps": steps,
        "plain_s_per_step": best_p / steps,
        "ours_s_per_step": best_o / steps,
        "plain_samples_per_s": bs * steps / best_p,
        "ours_samples_per_s": bs * steps / best_o,
        "ratio_ours_over_plain": best_o / best_p,
        **{f"peak_gib_{k}": v for k, v in peak.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", choices=["cpu", "gpu"], default="cpu")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench-models-"))
    rows = []
    if args.suite == "cpu":
        vlm = _build(tmp, "gpt2", {"width": 128, "layers": 2, "heads": 2},
                     {"type": "clipcap", "mapping": "mlp", "prefix_length": 10}, "cpu")
        data = _examples(vlm, 512, 1)
        rows.append({"case": "clipcap-mlp tiny-gpt2 cpu",
                     **_compare(vlm, data, 32, args.steps, "no", args.rounds)})
    else:
        if not torch.cuda.is_available():
            print("no CUDA device", file=sys.stderr)
            return 1
        cases = [
            ("clipcap-mlp gpt2-small(124M) b40 p10", "gpt2",
             {"width": 768, "layers": 12, "heads": 12},
             {"type": "clipcap", "mapping": "mlp", "prefix_length": 10}, 40),
            ("qformer llama-1B-class b16", "llama",
             {"width": 2048, "layers": 16, "heads": 16},
             {"type": "qformer", "num_query_tokens": 32}, 16),
        ]
        for name, arch, lm, bridge, bs in cases:
            vlm = _build(tmp, arch, lm, bridge, "cuda")
            data = _examples(vlm, 20 * bs, 49)
            for precision in ("fp32", "bf16"):
                rows.append({"case": name, **_compare(vlm, data, bs, args.steps, precision,
                                                       args.rounds)})
            del vlm
            torch.cuda.empty_cache()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    head = (f"{'case':44s} {'prec':5s} {'plain s/step':>12s} {'ours s/step':>12s} "
            f"{'ratio(min)':>10s} {'ratio(median paired)':>20s}")
    print(head + ("  samples/s (plain / ours)  peak GiB (plain / ours)" if args.suite == "gpu" else ""))
    for r in rows:
        line = (f"{r['case']:44s} {r['precision']:5s} {r['plain_s_per_step']:12.4f} "
                f"{r['ours_s_per_step']:12.4f} {r['ratio_ours_over_plain']:10.3f} "
                f"{r['median_paired_ratio']:20.3f}")
        if args.suite == "gpu":
            line += (f"  {r['plain_samples_per_s']:8.1f} / {r['ours_samples_per_s']:8.1f}"
                     f"  {r.get('peak_gib_plain', 0):6.2f} / {r.get('peak_gib_ours', 0):6.2f}")
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
