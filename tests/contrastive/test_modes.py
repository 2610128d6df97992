"""LiT's tower setups: ``Lu`` keeps the image tower bit-identical and out of the optimizer,
``Uu`` trains it from the checkpoint, ``LU`` starts the text tower from a checkpoint too, and the
buffers of a locked batch-norm tower (timm CNN) do not move either."""

from __future__ import annotations

import pytest
import torch
from socratic.adapters.contrastive import ContrastiveConfig, train_contrastive
from socratic.adapters.contrastive.towers import read_checkpoint, tower_of

from .conftest import make_config

SHORT = {"max_steps": 12, "lr": 5e-3, "warmup_steps": 0, "log_every": 4}


def _tower(state: dict[str, torch.Tensor], tower: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if tower_of(k) == tower}


def _run(arch_file, out, mode, train=None, **top):
    cfg = make_config(arch_file, out, mode, train=train or dict(SHORT), **top)
    return train_contrastive(ContrastiveConfig.model_validate(cfg))


def test_lu_image_tower_bit_identical_and_not_optimized(uu_run, arch_file, tmp_path):
    pre = read_checkpoint(uu_run["model_dir"])
    result = _run(arch_file, tmp_path / "lu", "Lu", image_checkpoint=uu_run["model_dir"])
    post = read_checkpoint(result["model_dir"])
    image_before, image_after = _tower(pre, "image"), _tower(post, "image")
    assert image_before.keys() == image_after.keys() and len(image_after) > 10
    for k in image_before:
        assert torch.equal(image_before[k], image_after[k]), k
    optimized = result["optimized_params"]
    assert not [n for n in optimized if n.startswith("visual.")]
    assert "token_embedding.weight" in optimized and "logit_scale" in optimized
    text_params = sum(v.numel() for k, v in post.items() if tower_of(k) == "text" and k != "attn_mask")
    assert result["trainable_params"] <= text_params + 1
    # the text tower is new (trained from scratch), not the checkpoint's
    assert not torch.equal(pre["token_embedding.weight"], post["token_embedding.weight"])


def test_uu_image_tower_changes(uu_run, arch_file, tmp_path):
    pre = read_checkpoint(uu_run["model_dir"])
    result = _run(arch_file, tmp_path / "uu2", "Uu", image_checkpoint=uu_run["model_dir"])
    post = read_checkpoint(result["model_dir"])
    assert any(n.startswith("visual.") for n in result["optimized_params"])
    changed = [k for k, v in _tower(pre, "image").items() if not torch.equal(v, post[k])]
    assert "visual.conv1.weight" in changed and "visual.proj" in changed


def test_lu_with_a_pretrained_image_tower_learns_fast(uu_run, arch_file, tmp_path):
    # LiT's point: with a good locked image tower, a new text tower aligns to it quickly
    cfg = make_config(arch_file, tmp_path / "lit", "Lu", image_checkpoint=uu_run["model_dir"],
                      train={"max_steps": 60, "lr": 2e-3, "warmup_steps": 5})
    result = train_contrastive(ContrastiveConfig.model_validate(cfg))
    print(f"Lu 60 steps: zero-shot {result['zero_shot_acc']:.3f}")
    assert result["zero_shot_acc"] >= 0.5


def test_lu_big_l_text_from_checkpoint(uu_run, arch_file, tmp_path):
    from socratic.adapters.contrastive.train import build_run

    cfg = ContrastiveConfig.model_validate(make_config(
        arch_file, tmp_path / "LU", "LU", image_checkpoint=uu_run["model_dir"],
        text_checkpoint=uu_run["model_dir"], train=dict(SHORT)))
    pre = read_checkpoint(uu_run["model_dir"])
    built, _ = build_run(cfg)
    start = built.model.state_dict()
    for k, v in pre.items():
        if tower_of(k) is not None:  # both towers start as the checkpoint's; logit scale re-initialised
            assert torch.equal(start[k], v), k
    result = train_contrastive(cfg)
    post = read_checkpoint(result["model_dir"])
    assert all(torch.equal(v, post[k]) for k, v in _tower(pre, "image").items())
    assert not torch.equal(pre["token_embedding.weight"], post["token_embedding.weight"])


def test_locked_batchnorm_tower_keeps_its_running_stats(arch_file, tmp_path):
    from socratic.adapters.contrastive.towers import build_towers, save_open_clip

    built = build_towers(str(arch_file), image_timm="test_resnet", seed=3, workdir=tmp_path / "arch")
    ckpt = save_open_clip(built, tmp_path / "cnn")
    pre = read_checkpoint(ckpt)
    assert any(k.endswith("running_mean") for k in _tower(pre, "image"))
    result = _run(arch_file, tmp_path / "cnn-lu", "Lu", image_timm="test_resnet", image_checkpoint=str(ckpt),
                  train={**SHORT, "max_steps": 4})
    post = read_checkpoint(result["model_dir"])
    for k, v in _tower(pre, "image").items():
        assert torch.equal(v, post[k]), k


@pytest.mark.parametrize(
    ("mode", "top", "message"),
    [
        ("Lu", {}, "set image_checkpoint"),
        ("uu", {"image_checkpoint": "x.pt"}, "randomly initialised"),
        ("LU", {"image_checkpoint": "x.pt"}, "set text_checkpoint"),
        ("LL", {"image_checkpoint": "x.pt", "text_checkpoint": "y.pt"}, "mode"),
    ],
)
def test_mode_needs_the_right_checkpoints(arch_file, tmp_path, mode, top, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        ContrastiveConfig.model_validate(make_config(arch_file, tmp_path, mode, **top))
