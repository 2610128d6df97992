"""Session fixtures for the lecture's systems (FROMAGe, Flamingo, PGN, MAE), built offline once:
a BPE tokenizer trained on the shapes captions, a tiny GPT-2 pre-trained to read a soft prefix
(stand-in for a pretrained LM), a tiny timm CNN pre-trained on shape attributes (stand-in for a
pretrained image encoder), a tiny random open_clip ViT (the "CLIP image tower"), shapes JSONL
splits; then each system trained once on the shapes world (about 2 minutes on 2 idle cores).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

IMAGE_SIZE = 32
#: SEED_TEST_SEED=1, 2 ... repeats the learning tests with other seeds
SEED = int(os.environ.get("SEED_TEST_SEED", "0"))


def quiet_train(out: Path | str, **over: Any) -> dict[str, Any]:
    """A ``train:`` section for short CPU runs."""
    return {
        "output_dir": str(out),
        "batch_size": 32,
        "warmup_steps": 10,
        "log_every": 25,
        "progress_bar": False,
        "tensorboard": False,
        "cpu": True,
        "seed": SEED,
        **over,
    }


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    import torch

    torch.set_num_threads(1)  # 2 shared cores: one thread per process is fastest here


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    from socratic.adapters.config import VisionConfig
    from socratic.adapters.synthetic import (
        all_captions,
        make_shapes_dataset,
        make_shapes_splits,
        write_shapes_jsonl,
    )

    from socratic.testing import (
        make_tiny_lm,
        make_tiny_open_clip,
        pretrain_lm,
        pretrain_vision,
        train_tokenizer,
    )

    root = tmp_path_factory.mktemp("seed-world")
    tok = train_tokenizer(all_captions(2) + all_captions(1) + ["a picture of"], chat_template=None)
    lm_dir = root / "gpt2"
    make_tiny_lm(lm_dir, "gpt2", tokenizer=tok, width=64, init_std=0.02)
    pretrain_lm(lm_dir, make_shapes_dataset(2000, seed=99, image_size=IMAGE_SIZE), steps=400)
    vision = pretrain_vision(
        VisionConfig(backend="timm", model="test_resnet", image_size=IMAGE_SIZE),
        make_shapes_dataset(1000, seed=7, image_size=IMAGE_SIZE),
        root / "cnn.safetensors",
        steps=150,
    )
    clip = make_tiny_open_clip(root / "clip", embed_dim=64, vision={"image_size": IMAGE_SIZE})
    train, held_out = make_shapes_splits(640, 64, seed=SEED, image_size=IMAGE_SIZE)
    data = root / "shapes"
    return SimpleNamespace(
        root=root,
        lm_dir=str(lm_dir),
        vision=vision,
        clip_model=clip.local_dir,
        held_out=held_out,
        train_jsonl=str(write_shapes_jsonl(train, data, "train.jsonl", prefix="train")),
        val_jsonl=str(write_shapes_jsonl(held_out, data, "val.jsonl", prefix="val")),
    )


def param_digest(module: Any, trainable: bool) -> str:
    from socratic.adapters.train import param_digest as digest

    return digest({n: p for n, p in module.named_parameters() if p.requires_grad == trainable})


@pytest.fixture(scope="session")
def fromage(world: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """FROMAGe trained once (200 steps x 32 pairs, one visual token as in the paper)."""
    from socratic.adapters.fromage.config import FromageConfig
    from socratic.adapters.fromage.train import build_fromage_run

    out = tmp_path_factory.mktemp("fromage")
    cfg = FromageConfig.model_validate(
        {
            "vision": world.vision.model_dump(),
            "lm": {"path": world.lm_dir},
            "fromage": {"embed_dim": 64, "retrieval_prefix": "a picture of"},
            "data": {"train": world.train_jsonl, "val": world.val_jsonl},
            "train": quiet_train(out, max_steps=200, lr=3e-3),
        }
    )
    trainer, model = build_fromage_run(cfg)
    untrained = trainer.run_eval()
    frozen = param_digest(model, trainable=False)
    ids = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    optimized = sorted(n for n, p in model.named_parameters() if id(p) in ids)
    metrics = trainer.fit()
    return SimpleNamespace(
        cfg=cfg,
        model=model,
        metrics=metrics,
        untrained=untrained,
        dir=out,
        model_dir=out / "model",
        frozen_before=frozen,
        frozen_after=param_digest(model, trainable=False),
        optimized=optimized,
    )


@pytest.fixture(scope="session")
def flamingo(world: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The Flamingo-style bridge trained once (200 steps x 32 interleaved sequences of 3 images)."""
    from socratic.adapters.flamingo.config import FlamingoConfig
    from socratic.adapters.flamingo.train import build_flamingo_run

    out = tmp_path_factory.mktemp("flamingo")
    cfg = FlamingoConfig.model_validate(
        {
            "vision": world.vision.model_dump(),
            "lm": {"path": world.lm_dir},
            "flamingo": {
                "num_latents": 8,
                "resampler_depth": 2,
                "resampler_heads": 2,
                "resampler_dim_head": 32,
                "resampler_ff_mult": 2,
                "xattn_heads": 2,
                "xattn_dim_head": 32,
                "xattn_ff_mult": 4,
            },
            "data": {"shapes": {"n_train": 2000, "n_images": 400, "n_val": 96, "seed": SEED}},
            "train": quiet_train(out, max_steps=200, lr=3e-3),
        }
    )
    trainer, model = build_flamingo_run(cfg)
    frozen = param_digest(model, trainable=False)
    gates_before = model.gates()
    metrics = trainer.fit()
    return SimpleNamespace(
        cfg=cfg,
        model=model,
        metrics=metrics,
        dir=out,
        model_dir=out / "model",
        frozen_before=frozen,
        frozen_after=param_digest(model, trainable=False),
        gates_before=gates_before,
    )


@pytest.fixture(scope="session")
def pgn(world: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Linear probe, fixed prompts and PGN on the same frozen CLIP tower, 200 steps each, on the
    shape of single-object images (which the random frozen tower's output does not tell)."""
    from socratic.adapters.pgn.config import PGNConfig
    from socratic.adapters.pgn.train import train_pgn

    out = tmp_path_factory.mktemp("pgn")
    cfg = PGNConfig.model_validate(
        {
            "vision": {"model": world.clip_model},
            "pgn": {"num_prompts": 4, "library_size": 16, "channels": 8, "groups": 2},
            "data": {"label": "shape", "shapes": {"n_train": 800, "n_val": 200, "seed": SEED}},
            "train": quiet_train(out, max_steps=200, lr=1e-2),
        }
    )
    return SimpleNamespace(cfg=cfg, result=train_pgn(cfg), dir=out)


@pytest.fixture(scope="session")
def mae(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A tiny ViT-MAE (4-pixel patches, a 2-block decoder) pretrained once (600 steps x 64
    two-object images), then evaluated with 100 labels on the objects' layout ("above" or "left
    of"): a linear probe on the mean patch token and a fine-tuning run."""
    from socratic.adapters.mae.config import MAEConfig
    from socratic.adapters.mae.train import train_mae

    out = tmp_path_factory.mktemp("mae")
    cfg = MAEConfig.model_validate(
        {
            "model": {
                "image_size": IMAGE_SIZE,
                "patch_size": 4,
                "hidden_size": 64,
                "num_layers": 2,
                "num_heads": 2,
                "decoder_hidden_size": 64,
                "decoder_num_layers": 2,
                "decoder_num_heads": 2,
                "pool": "mean",
            },
            "data": {
                "label": "relation",
                "shapes": {"n_train": 1000, "n_val": 400, "n_objects": 2, "seed": SEED},
            },
            "probe": {"labels": 100, "steps": 1000},
            "finetune": {"labels": 100, "steps": 150},
            "train": quiet_train(out, max_steps=600, batch_size=64, lr=2e-3),
        }
    )
    return SimpleNamespace(cfg=cfg, result=train_mae(cfg), dir=out)
