"""Prepare the offline shapes demo used by ``examples/train_*.yaml``.

``socratic demo --prepare-data ROOT`` (e.g. ``examples/data/shapes``) writes synthetic
train / val caption sets (JSONL + PNG) and tiny base models trained for a few seconds (a BPE
tokenizer, a GPT-2 and a T5 LM, a timm CNN encoder, an open_clip ViT, and a random 64-wide BERT
with a WordPiece vocabulary for the Q-Former's text side) under ``ROOT/models``.
Then ``socratic train examples/train_clipcap.yaml`` runs offline in about a minute on a CPU.

Example:
    >>> prepare_shapes_demo("examples/data/shapes")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["prepare_shapes_demo"]


def prepare_shapes_demo(root: str = "examples/data/shapes", quick: bool = False) -> Path:
    from ..testing import make_tiny_lm, make_tiny_open_clip, pretrain_lm, pretrain_vision, train_tokenizer
    from .config import VisionConfig
    from .synthetic import all_captions, make_shapes_dataset, make_shapes_splits, write_shapes_jsonl

    out = Path(root)
    models = out / "models"
    train, val = make_shapes_splits(200 if quick else 2000, 32 if quick else 200, seed=0)
    write_shapes_jsonl(train, out, "train.jsonl", prefix="train")
    write_shapes_jsonl(val, out, "val.jsonl", prefix="val")
    rows = [{"prompt": s.caption + ". colour:", "completion": " " + s.objects[0].color}
            for s in train]
    (out / "qa_train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    vrows = [{"prompt": s.caption + ". colour:", "completion": " " + s.objects[0].color}
             for s in val]
    (out / "qa_val.jsonl").write_text("\n".join(json.dumps(r) for r in vrows) + "\n")
    tok = train_tokenizer(all_captions(2) + all_captions(1) + ["a picture of", "colour:"], chat_template=None)
    make_tiny_lm(models / "gpt2", "gpt2", tokenizer=tok, width=64, init_std=0.02)
    pretrain_lm(models / "gpt2", make_shapes_dataset(2000, seed=99), steps=40 if quick else 400)
    make_tiny_lm(models / "t5", "t5", tokenizer=tok, width=64)
    pretrain_vision(
        VisionConfig(backend="timm", model="test_resnet", image_size=32),
        make_shapes_dataset(1000, seed=7),
        models / "cnn.safetensors",
        steps=20 if quick else 150,
    )
    make_tiny_open_clip(models / "clip", embed_dim=64)
    _tiny_bert(models / "bert", all_captions(2) + all_captions(1))
    return out


def _tiny_bert(path: Path, texts: list[str]) -> None:
    """A WordPiece tokenizer on ``texts`` and a random BERT (64 wide, 2 layers) in one folder."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from .qformer.text import build_wordpiece_tokenizer

    tok = build_wordpiece_tokenizer(texts, path)
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2,
                               num_attention_heads=2, intermediate_size=128,
                               max_position_embeddings=64)).save_pretrained(str(path))

