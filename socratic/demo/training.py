"""The two trainings of the demo: a tiny CLIP (contrastive, from scratch) and a ClipCap bridge.

Both go through the public training APIs (``socratic.adapters.contrastive`` and
``socratic.adapters.runs``) with configs built here, exactly as ``socratic train`` would.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

#: a tiny ViT image tower and text transformer (over CLIP's real BPE vocabulary)
DEMO_ARCH: dict[str, Any] = {"embed_dim": 64, "vision": {"layers": 3, "width": 96}, "text": {"width": 64}}
ARCH_NAME = "socratic-shapes-clip"


def train_clip(out: Path, train_jsonl: Path, steps: int, seed: int) -> Any:
    """Contrastive training from scratch (``uu``); returns the ``open_clip`` scorer backend
    loading the saved model like any open_clip checkpoint."""
    from ..adapters.contrastive import ContrastiveConfig, train_contrastive
    from ..testing import write_open_clip_arch
    from ..vision.clip_open import OpenClipModel

    logging.getLogger().setLevel(logging.ERROR)  # open_clip: "no pretrained weights" per build
    arch = write_open_clip_arch(out, ARCH_NAME, **DEMO_ARCH)
    cfg = ContrastiveConfig.model_validate({
        "task": "contrastive", "mode": "uu", "arch": str(arch), "name": ARCH_NAME,
        "data": {"source": "jsonl", "train": str(train_jsonl)},
        "eval": {"templates": ["a {}"]},
        "train": {"output_dir": str(out / "clip"), "max_steps": steps, "batch_size": 64, "lr": 1e-3,
                  "warmup_steps": 20, "log_every": 50, "progress_bar": True, "cpu": True,
                  "resume": False, "seed": seed, "tensorboard": False},
    })
    result = train_contrastive(cfg)
    return OpenClipModel(model=f"local-dir:{result['model_dir']}", batch_size=256)


def train_clipcap(out: Path, data: dict[str, Any], clip: Any, steps: int, seed: int) -> dict[str, Any]:
    """ClipCap (MLP mapping, LM tuned) on the demo CLIP's image embeddings; captions the
    held-out two-shape images and scores them (exact match, BLEU-4)."""
    from ..adapters.config import RunConfig
    from ..adapters.runs import run
    from ..adapters.synthetic import all_captions, make_shapes_dataset
    from ..eval.caption_metrics import caption_scores
    from ..testing import make_tiny_lm, pretrain_lm, train_tokenizer
    from ..vision.bridge_captioner import BridgeCaptioner

    models = out / "models"
    tok = train_tokenizer(all_captions(2) + all_captions(1), chat_template=None)
    make_tiny_lm(models / "gpt2", "gpt2", tokenizer=tok, width=64, init_std=0.02)
    pretrain_lm(models / "gpt2", make_shapes_dataset(1000, seed=seed + 99), steps=150, seed=seed)
    clip_dir = clip.config.model.removeprefix("local-dir:")
    cfg = RunConfig.model_validate({
        "task": "bridge",
        "vision": {"backend": "open_clip", "model": f"local-dir:{clip_dir}"},
        "bridge": {"type": "clipcap", "mapping": "mlp", "prefix_length": 4},
        "lm": {"path": str(models / "gpt2"), "tune": "full"},
        "data": {"train": str(data["paths"]["train"]), "feature_cache": str(out / "feature_cache")},
        "train": {"output_dir": str(out / "clipcap"), "max_steps": steps, "batch_size": 40,
                  "lr": 2e-3, "warmup_steps": 20, "eval_every": 0, "save_every": 0,
                  "progress_bar": True, "tensorboard": False, "resume": False, "seed": seed,
                  "cpu": True},
    })
    result = run(cfg)
    captioner = BridgeCaptioner(path=str(result.get("bridge_dir", out / "clipcap" / "bridge")))
    samples = data["test_pairs"]
    hyps = [c[0] for c in captioner.caption([s.image for s in samples], max_new_tokens=16)]
    refs = [[s.caption] for s in samples]
    exact = sum(h.strip() == s.caption for h, s in zip(hyps, samples, strict=True)) / len(samples)
    scores = caption_scores(refs, hyps)
    return {"n": len(samples), "exact_match": exact, "BLEU-4": scores["BLEU-4"],
            "CIDEr": scores["CIDEr"], "example": {"truth": samples[0].caption, "caption": hyps[0]}}
