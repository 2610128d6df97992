"""Contrastive training step: socratic's trainer versus a minimal plain-PyTorch loop.

Both sides train the same tiny CLIP (same initial weights, same ``ContrastiveModel`` wrapper and
CLIP loss) on the same cached shapes batches: gather a batch of 64 (image, caption) pairs, forward
both towers, loss, backward, gradient clipping at 1.0, AdamW (decay / no-decay groups), cosine
schedule step, logit-scale clamp.

- plain: a ``for`` loop over exactly those operations.
- ours: ``train_contrastive``'s trainer (``socratic.adapters.train.Trainer`` on HF Accelerate,
  CPU, fp32) driven with ``fit(stop_after=...)``: its batching, autocast context, loss tracking
  and logging included (checkpointing off).

Each side runs ``--rounds`` times ``--steps`` steps in alternation after one warm-up round; the
table shows the median wall time and the median process CPU time per step (CPU time is steadier
on a shared machine). Target: ratio <= 1.1.

Run: ``.venv/bin/python bench/bench_contrastive.py`` (defaults: mode uu, batch 64, 20 steps x 5
rounds, 1 torch thread); ``--threads 2``; ``--mode Lu`` for a locked image tower;
``--json out.json`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def make_cfg(tmp: Path, mode: str, batch: int, ckpt: str | None) -> Any:
    from socratic.adapters.contrastive.config import ContrastiveConfig

    from socratic.testing import write_open_clip_arch

    arch = write_open_clip_arch(tmp, "bench-contrastive-tiny")  # the kit's default tiny CLIP
    return ContrastiveConfig.model_validate({
        "mode": mode, "arch": str(arch), "image_checkpoint": ckpt,
        "data": {"source": "shapes", "shapes": {"n_train": 1024, "n_val": 8, "n_objects": 1},
                 "caption_templates": ["{}", "a photo of {}."]},
        "train": {"output_dir": str(tmp / f"ours-{mode}"), "max_steps": 100_000, "batch_size": batch,
                  "lr": 1e-3, "warmup_steps": 10, "log_every": 10_000, "progress_bar": False, "cpu": True,
                  "resume": False, "save_every": 0},
    })


def ours_runner(cfg: Any) -> Any:
    from socratic.adapters.contrastive.data import PairDataset, collate_pairs, load_pairs
    from socratic.adapters.contrastive.train import _make_trainer, build_run

    built, wrapped = build_run(cfg)
    train, _ = load_pairs(cfg.data)
    ds = PairDataset(train, built.preprocess, built.tokenizer)
    trainer = _make_trainer(wrapped, ds, collate_pairs, cfg.train)
    inner = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    inner.register_step_post_hook(lambda *_: wrapped.clamp_())

    def run(steps: int) -> None:
        trainer.fit(stop_after=trainer.step + steps)

    return run


def plain_runner(cfg: Any) -> Any:
    import numpy as np
    import torch
    from socratic.adapters.contrastive.data import PairDataset, collate_pairs, load_pairs
    from socratic.adapters.contrastive.train import build_run
    from transformers import get_scheduler

    built, model = build_run(cfg)
    train, _ = load_pairs(cfg.data)
    ds = PairDataset(train, built.preprocess, built.tokenizer)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    opt = torch.optim.AdamW(
        [{"params": [p for _, p in named if p.ndim >= 2], "weight_decay": cfg.train.weight_decay},
         {"params": [p for _, p in named if p.ndim < 2], "weight_decay": 0.0}],
        lr=cfg.train.lr, betas=cfg.train.betas)
    sched = get_scheduler("cosine", opt, num_warmup_steps=cfg.train.warmup_steps,
                          num_training_steps=cfg.train.max_steps)
    model.train()
    bs, state = cfg.train.batch_size, {"step": 0}

    def run(steps: int) -> None:
        for _ in range(steps):
            perm = np.random.default_rng([0, state["step"]]).permutation(len(ds))[:bs]
            batch = collate_pairs([ds[int(i)] for i in perm])
            loss = model(**batch)["loss"]
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            model.clamp_()
            state["step"] += 1

    return run


def timed(fn: Any, steps: int) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn(steps)
    return (time.perf_counter() - w) / steps, (time.process_time() - c) / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="uu", choices=["uu", "Lu"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="bench-contrastive-"))
    ckpt = None
    if args.mode == "Lu":  # a locked image tower needs a checkpoint: the seeded random one will do
        from socratic.adapters.contrastive.towers import save_open_clip
        from socratic.adapters.contrastive.train import build_run

        built, _ = build_run(make_cfg(tmp, "uu", args.batch, None))
        ckpt = str(save_open_clip(built, tmp / "image-tower"))
    cfg = make_cfg(tmp, args.mode, args.batch, ckpt)
    sides = {"plain": plain_runner(cfg), "ours": ours_runner(cfg)}
    for fn in sides.values():  # warm-up round (allocator, first AdamW state, thread pools)
        fn(args.steps)
    wall: dict[str, list[float]] = {k: [] for k in sides}
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(args.rounds):
        for name, fn in sides.items():
            w, c = timed(fn, args.steps)
            wall[name].append(w)
            cpu[name].append(c)
    med = {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in sides}
    ratio_wall = med["ours"][0] / med["plain"][0]
    ratio_cpu = med["ours"][1] / med["plain"][1]
    print(f"contrastive step, mode {args.mode}, batch {args.batch}, torch threads {torch.get_num_threads()}, "
          f"{args.rounds} rounds x {args.steps} steps (median)")
    print(f"{'side':<8}{'wall ms/step':>14}{'cpu ms/step':>14}")
    for k in sides:
        print(f"{k:<8}{med[k][0] * 1e3:>14.1f}{med[k][1] * 1e3:>14.1f}")
    print(f"ratio ours/plain: wall {ratio_wall:.3f}, cpu {ratio_cpu:.3f} (target <= 1.1)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "mode": args.mode, "batch": args.batch, "threads": torch.get_num_threads(),
            "ms_per_step": {k: {"wall": v[0] * 1e3, "cpu": v[1] * 1e3} for k, v in med.items()},
            "ratio_wall": ratio_wall, "ratio_cpu": ratio_cpu}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
