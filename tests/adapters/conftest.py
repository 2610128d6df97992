"""Session fixtures for adapters tests: tiny offline base models and synthetic shapes data.

Built once per session (about a minute on 2 cores): a BPE tokenizer trained on the captions, a
tiny GPT-2 pre-trained to read a soft prefix (stand-in for a pretrained LM), a tiny timm CNN
pre-trained on shape attributes (stand-in for a pretrained image encoder), a tiny open_clip
ViT folder, and JSONL train / held-out sets of coloured-shape images.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

IMAGE_SIZE = 32
#: re-run with ADAPTERS_TEST_SEED=1, 2 ... to check that learning does not hang on one seed
SEED = int(os.environ.get("ADAPTERS_TEST_SEED", "0"))


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    import torch

    torch.set_num_threads(1)  # 2 shared cores: one thread per process is fastest here


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
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

    root = tmp_path_factory.mktemp("adapters-base")
    vision = pretrain_vision(
        VisionConfig(backend="timm", model="test_resnet", image_size=IMAGE_SIZE),
        make_shapes_dataset(1000, seed=7, image_size=IMAGE_SIZE),
        root / "cnn.safetensors",
        steps=150,
    )
    # a base LM (no chat template): graphs send it plain prompts, as it was trained
    tok = train_tokenizer(all_captions(2) + all_captions(1) + ["a picture of", "Caption:"], chat_template=None)
    lm_dir = root / "gpt2"
    make_tiny_lm(lm_dir, "gpt2", tokenizer=tok, width=64, init_std=0.02)
    pretrain_lm(lm_dir, make_shapes_dataset(2000, seed=99, image_size=IMAGE_SIZE), steps=400)
    _pretrain_in_context(lm_dir, vision)
    clip = make_tiny_open_clip(root / "clip", embed_dim=64, vision={"image_size": IMAGE_SIZE})
    train, held_out = make_shapes_splits(640, 64, seed=SEED, image_size=IMAGE_SIZE)
    data = root / "shapes"
    train_jsonl = write_shapes_jsonl(train, data, "train.jsonl", prefix="train")
    val_jsonl = write_shapes_jsonl(held_out, data, "val.jsonl", prefix="val")
    return SimpleNamespace(
        root=root,
        tokenizer=tok,
        lm_dir=str(lm_dir),
        vision=vision,
        clip_model=clip.local_dir,
        train=train,
        held_out=held_out,
        train_jsonl=str(train_jsonl),
        val_jsonl=str(val_jsonl),
    )


@pytest.fixture(scope="session")
def wordpiece(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A BERT WordPiece tokenizer trained on the captions (with [DEC] added) and a tiny random
    BERT (32 wide, 2 layers) saved with it: the Q-Former's text side, offline."""
    from socratic.adapters.qformer.text import build_wordpiece_tokenizer, load_bert_tokenizer
    from socratic.adapters.synthetic import all_captions
    from transformers import BertConfig, BertForMaskedLM

    d = tmp_path_factory.mktemp("bert")
    wp = build_wordpiece_tokenizer(all_captions(2) + all_captions(1), d)
    cfg = BertConfig(vocab_size=len(wp), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    import torch

    torch.manual_seed(0)
    BertForMaskedLM(cfg).save_pretrained(d)
    return SimpleNamespace(dir=str(d), bert_dir=str(d), bert_weights=str(d / "model.safetensors"),
                           tokenizer=load_bert_tokenizer(d), bert_vocab=len(wp))


def _pretrain_in_context(lm_dir: Path, vision: Any) -> None:
    """Teach the LM stand-in to read an interleaved context (see ``fewshot.py``): a real LM
    brings that from pretraining, and Frozen's few-shot prompting depends on it."""
    import torch
    from socratic.adapters.synthetic import make_shapes_dataset
    from socratic.adapters.vision import VisionEncoder

    from .fewshot import pretrain_fewshot

    samples = make_shapes_dataset(2000, seed=98, image_size=IMAGE_SIZE)
    enc = VisionEncoder(vision).eval()
    with torch.no_grad():
        feats = torch.cat([enc(enc.preprocess([s.image for s in samples[i : i + 500]]))["pooled"]
                           for i in range(0, len(samples), 500)])
    pretrain_fewshot(str(lm_dir), samples, steps=200, features=feats)


def run_config(tiny: SimpleNamespace, out: Path | str, bridge: dict[str, Any], **over: Any) -> Any:
    """A RunConfig for the tiny setup; ``over`` updates sections (train=..., lm=..., ...)."""
    from socratic.adapters.config import RunConfig

    data = {
        "task": "bridge",
        "vision": tiny.vision.model_dump(),
        "bridge": bridge,
        "lm": {"path": tiny.lm_dir},
        "data": {"train": tiny.train_jsonl, "val": tiny.val_jsonl},
        "train": {
            "output_dir": str(out),
            "max_steps": 120,
            "batch_size": 32,
            "lr": 2e-3,
            "warmup_steps": 10,
            "eval_samples": 64,
            "eval_max_new_tokens": 12,
            "log_every": 20,
            "progress_bar": False,
            "tensorboard": False,
            "cpu": True,
            "seed": SEED,
        },
    }
    for section, values in over.items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **values}
        else:
            data[section] = values
    return RunConfig.model_validate(data)


BRIDGES = {
    "clipcap_mlp": {"type": "clipcap", "mapping": "mlp", "prefix_length": 10},
    "clipcap_transformer": {
        "type": "clipcap", "mapping": "transformer", "prefix_length": 4, "clip_length": 4,
        "num_layers": 2, "num_heads": 2,
    },
    "qformer": {
        "type": "qformer", "num_query_tokens": 8, "hidden_size": 64, "num_layers": 2,
        "num_heads": 2, "intermediate_size": 128, "dropout": 0.0,
    },
    "frozen": {"type": "frozen", "prefix_length": 2},
}


def frozen_digest(vlm: Any) -> str:
    from socratic.adapters.train import param_digest

    return param_digest({n: p for n, p in vlm.named_parameters() if not p.requires_grad})


@pytest.fixture(scope="session")
def trained(tiny: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each bridge trained once (120 steps, batch 32) on the shapes data: name -> result with
    the in-memory model, the parameters the optimizer held and digests of the frozen weights
    before / after training."""
    from socratic.adapters.runs import build_bridge_run

    out: dict[str, Any] = {}
    for name, bridge in BRIDGES.items():
        d = tmp_path_factory.mktemp(f"run-{name}")
        cfg = run_config(tiny, d, bridge)
        trainer, vlm = build_bridge_run(cfg)
        before = frozen_digest(vlm)
        ids = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
        optimized = sorted(n for n, p in vlm.named_parameters() if id(p) in ids)
        metrics = trainer.fit()
        out[name] = SimpleNamespace(
            dir=d,
            bridge_dir=d / "bridge",
            metrics=metrics,
            cfg=cfg,
            vlm=vlm,
            optimized=optimized,
            frozen_before=before,
            frozen_after=frozen_digest(vlm),
        )
    return out


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
