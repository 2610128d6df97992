"""Smaller checks: open_clip towers and patch tokens, seq2seq LMs, label masks, prompts,
paper-default sizes (the Q-Former's stage-1 losses: test_qformer_definitions.py)."""

from __future__ import annotations

import pytest
import torch
from socratic.adapters.config import (
    ClipCapConfig,
    FrozenConfig,
    LMConfig,
    QFormerConfig,
    VisionConfig,
)


def _vlm(tiny, bridge, vision=None, lm=None, prompt=None):
    from socratic.adapters.vlm import VisionLanguageModel

    return VisionLanguageModel.from_configs(
        vision or tiny.vision, bridge, lm or LMConfig(path=tiny.lm_dir), prompt=prompt, seed=0
    )


def test_open_clip_tower_gives_pooled_and_patch_tokens(tiny):
    vlm = _vlm(tiny, QFormerConfig(num_query_tokens=4, hidden_size=32, num_layers=2, num_heads=2,
                                   intermediate_size=64),
               vision=VisionConfig(model=tiny.clip_model))
    px = vlm.preprocess([s.image for s in tiny.held_out[:2]])
    feats = vlm.vision(px)
    assert feats["pooled"].shape == (2, 64) and feats["tokens"].shape == (2, 16, 64)
    batch = vlm.collate([{"pixel_values": px[i], "caption": tiny.held_out[i].caption}
                         for i in range(2)])
    out = vlm(**batch)
    out["loss"].backward()
    assert vlm.bridge.query_tokens.grad is not None
    assert all(p.grad is None for p in vlm.vision.parameters())  # frozen encoder
    assert len(vlm.generate(pixel_values=px, max_new_tokens=4)) == 2


def test_labels_are_masked_on_prefix_prompt_and_padding(tiny):
    vlm = _vlm(tiny, ClipCapConfig(prefix_length=3), prompt="a picture of")
    feats = torch.zeros(2, vlm.bridge.vision_dim)
    batch = vlm.collate([{"features": feats[0], "caption": "a red circle"},
                         {"features": feats[1], "caption": "a blue square above a red circle"}])
    n_prompt = len(tiny.tokenizer("a picture of", add_special_tokens=False)["input_ids"])
    assert (batch["labels"][:, :n_prompt] == -100).all()
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    kept = [t for t in batch["labels"][0].tolist() if t != -100]
    eos = tiny.tokenizer.eos_token_id
    assert kept == tiny.tokenizer(" a red circle", add_special_tokens=False)["input_ids"] + [eos]
    # the loss ignores the prefix: changing the prompt part of labels changes nothing
    loss = vlm(**batch)["loss"]
    assert torch.isfinite(loss)


def test_seq2seq_lm_bridge(tiny, tmp_path):
    from socratic.testing import make_tiny_lm

    make_tiny_lm(tmp_path / "t5", "t5", tokenizer=tiny.tokenizer, width=32, layers=1, heads=2)
    vlm = _vlm(tiny, FrozenConfig(), lm=LMConfig(path=str(tmp_path / "t5")), prompt="caption:")
    assert vlm.seq2seq
    px = vlm.preprocess([s.image for s in tiny.held_out[:3]])
    batch = vlm.collate([{"pixel_values": px[i], "caption": s.caption}
                         for i, s in enumerate(tiny.held_out[:3])])
    vlm.train()
    vlm(**batch)["loss"].backward()
    assert vlm.bridge.proj.weight.grad is not None
    assert next(vlm.vision.parameters()).grad is not None  # Frozen trains the encoder
    out = vlm.generate(pixel_values=px, strategy="beam", num_beams=2, num_captions=2,
                       max_new_tokens=4)
    assert len(out) == 3 and all(len(o) == 2 for o in out)


@pytest.mark.parametrize("cfg, n", [
    (ClipCapConfig(), 10),
    (ClipCapConfig(mapping="transformer", num_heads=8), 10),
    (FrozenConfig(), 2),
])
def test_paper_default_sizes_build(cfg, n):
    from socratic.adapters.bridges import build_bridge

    b = build_bridge(cfg, vision_dim=512, lm_dim=64)
    assert b(torch.zeros(2, 512)).shape == (2, n, 64)
    if cfg.type == "clipcap" and cfg.mapping == "transformer":
        assert len(b.transformer.layers) == 8


def test_unknown_generation_strategy_is_an_error(tiny):
    vlm = _vlm(tiny, FrozenConfig())
    with pytest.raises(ValueError, match="unknown strategy"):
        vlm.generate([tiny.held_out[0].image], strategy="nucleus")


def _toy_trainer(tmp_path, **cfg):
    from socratic.adapters.config import TrainConfig
    from socratic.adapters.train import Trainer
    from torch import nn

    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Linear(2, 1)

        def forward(self, x, y):
            out = self.w(x)
            self.seen_dtype = out.dtype
            return {"loss": ((out.float() - y) ** 2).mean()}

    data = [{"x": torch.randn(2), "y": torch.ones(1)} for _ in range(16)]

    def collate(items):
        return {k: torch.stack([i[k] for i in items]) for k in items[0]}

    conf = TrainConfig(output_dir=str(tmp_path), max_steps=4, batch_size=4, progress_bar=False,
                       tensorboard=True, cpu=True, **cfg)
    return Trainer(Toy(), data, collate, conf)


def test_bf16_autocast_on_cpu_and_fp16_needs_a_gpu(tmp_path):
    from socratic.adapters.train import TrainingError

    trainer = _toy_trainer(tmp_path / "a", mixed_precision="bf16")
    assert trainer.fit()["step"] == 4
    assert trainer.unwrapped().seen_dtype == torch.bfloat16
    assert list((tmp_path / "a" / "tensorboard").iterdir())  # event files written
    with pytest.raises(TrainingError, match="fp16 needs a GPU"):
        _toy_trainer(tmp_path / "b", mixed_precision="fp16")


def test_warmup_then_linear_decay(tmp_path):
    trainer = _toy_trainer(tmp_path, warmup_steps=2, schedule="linear", lr=1.0, log_every=1)
    trainer.fit()
    lrs = [row["lr"] for row in trainer.history]
    assert lrs == pytest.approx([0.5, 1.0, 0.5, 0.0])
