"""BLIP-2 in two stages on the shapes world: stage 1 (ITC + ITM + ITG, no LLM) learns, each
loss falls on held-out pairs, retrieval and the Q-Former's own captions beat chance; stage 2
starts from the stage-1 checkpoint and learns to prefix the frozen LM."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from .conftest import SEED

pytestmark = pytest.mark.slow

ARCH = {"num_query_tokens": 8, "hidden_size": 64, "num_layers": 2, "num_heads": 2,
        "intermediate_size": 128, "dropout": 0.0}


def _stage1(tiny, wordpiece, out, losses, steps, lr) -> SimpleNamespace:
    """Train stage 1 with ``losses``; score the held-out pairs before (a model built the same
    way, untrained) and after."""
    from PIL import Image
    from socratic.adapters.data import read_captions
    from socratic.adapters.qformer.config import QFormerStage1Config
    from socratic.adapters.qformer.train import build_stage1, evaluate_stage1, train_stage1
    from socratic.adapters.vision import VisionEncoder

    cfg = QFormerStage1Config.model_validate({
        "task": "qformer_stage1", "vision": tiny.vision.model_dump(), "qformer": ARCH,
        "tokenizer": wordpiece.dir, "objectives": {"losses": losses, "embed_dim": 32, "max_text_length": 16},
        "data": {"train": tiny.train_jsonl, "val": tiny.val_jsonl},
        "train": {"output_dir": str(out), "max_steps": steps, "batch_size": 32, "lr": lr,
                  "warmup_steps": 10, "eval_samples": 64, "eval_max_new_tokens": 12, "log_every": 50,
                  "progress_bar": False, "tensorboard": False, "cpu": True, "seed": SEED}})
    enc = VisionEncoder(cfg.vision).eval()
    recs = {r.image: r.caption for r in read_captions(tiny.val_jsonl)}
    images = sorted(recs)[:64]
    with torch.no_grad():
        feats = enc(enc.preprocess([Image.open(p).convert("RGB") for p in images]))["tokens"]
    captions = [recs[p] for p in images]
    torch.manual_seed(SEED)
    fresh, _ = build_stage1(cfg, wordpiece.tokenizer, enc.dim("tokens"))
    before = evaluate_stage1(fresh.eval(), wordpiece.tokenizer, feats, captions, 16, 12)
    after = train_stage1(cfg)
    print(losses, {k: (round(before[k], 3), round(after[k], 3)) for k in before})
    return SimpleNamespace(cfg=cfg, out=out, before=before, after=after, feats=feats, captions=captions)


@pytest.fixture(scope="module")
def stage1(tiny, wordpiece, tmp_path_factory):
    """All three losses together, as BLIP-2 trains (400 steps)."""
    return _stage1(tiny, wordpiece, tmp_path_factory.mktemp("qformer-stage1"), ["itc", "itm", "itg"],
                   400, 3e-3)


def test_itc_and_itg_fall_on_held_out_pairs_and_retrieval_and_captions_beat_chance(stage1):
    b, a = stage1.before, stage1.after   # measured (seed 0): ITC 4.16 -> 1.21, ITG 4.39 -> 0.90
    assert a["val_itc"] < b["val_itc"] - 1.5      # 64-way contrast: ln 64 = 4.16 at chance
    assert a["val_itg"] < b["val_itg"] - 2.0
    # Recall@1 0.80 / 0.83 (chance 1/64); ITG captions BLEU-4 0.84 (untrained 0)
    assert min(a["i2t_r1"], a["t2i_r1"]) >= 0.3 > 5 * max(b["i2t_r1"], b["t2i_r1"], 1 / 64)
    assert a["bleu4"] >= 0.35 and b["bleu4"] < 0.05
    assert a["val_itm"] < b["val_itm"]


def test_itm_learns_to_tell_matching_pairs(tiny, wordpiece, tmp_path):
    # Within 400 joint steps ITM barely leaves the constant answer "no match" (0.636 = the
    # entropy of 1 positive in 3); trained on its own it separates the pairs.
    run = _stage1(tiny, wordpiece, tmp_path, ["itm"], 300, 1e-3)
    assert run.before["val_itm"] > 0.63 and run.after["val_itm"] < 0.6   # measured 0.667 -> 0.548


def test_stage1_folder_reloads_exactly(stage1):
    from socratic.adapters.qformer.train import evaluate_stage1, load_stage1

    model, tok = load_stage1(stage1.out / "qformer")
    again = evaluate_stage1(model, tok, stage1.feats, stage1.captions, 16, 12)
    assert again == pytest.approx({k: v for k, v in stage1.after.items() if k in again})


def test_stage2_from_the_stage1_checkpoint_learns_to_prefix_the_lm(stage1, tiny, tmp_path):
    from safetensors.torch import load_file
    from socratic.adapters.metrics import exact_match
    from socratic.adapters.runs import build_bridge_run

    from .conftest import run_config

    ckpt = stage1.out / "qformer"
    bridge = {"type": "qformer", **ARCH, "stage1_checkpoint": str(ckpt)}
    trainer, vlm = build_bridge_run(run_config(tiny, tmp_path, bridge))
    s1 = load_file(str(ckpt / "model.safetensors"))
    start = vlm.bridge.state_dict()
    assert all(torch.equal(start[k], s1[k]) for k in start if not k.startswith("language_projection"))
    metrics = trainer.fit()
    hyps = [c[0] for c in vlm.generate([s.image for s in tiny.held_out], max_new_tokens=12)]
    score = exact_match([[s.caption] for s in tiny.held_out], hyps)
    print(f"stage 2 after stage 1, 120 steps: exact match {score:.3f}, bleu4 {metrics['bleu4']:.3f}")
    assert score >= 0.6
