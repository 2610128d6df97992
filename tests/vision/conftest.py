"""Tiny vision models built once per test session (no downloads): open_clip, HF CLIP / SigLIP,
BLIP captioning. Weights are random but seeded; the tokenizers are real (CLIP BPE from the
open_clip wheel) or built here (a small BERT WordPiece vocabulary for BLIP)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

TINY_OPEN_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
TINY_ARCH = "socratic-tiny-vit"

BLIP_WORDS = [
    "a", "an", "the", "photo", "picture", "of", "cat", "dog", "bird", "man", "woman", "person",
    "sitting", "on", "in", "with", "and", "red", "blue", "green", "small", "large", "table",
    "grass", "tree", "sky", "water", "street", "car", "house", "is", "are", "two", "one", "near",
]


@pytest.fixture(scope="session")
def vision_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vision-models")


@pytest.fixture(scope="session")
def tiny_open_clip(vision_tmp: Path) -> dict:
    """Register a tiny open_clip architecture and save seeded random weights as a checkpoint."""
    import open_clip
    import torch

    cfg_dir = vision_tmp / "open_clip_configs"
    cfg_dir.mkdir()
    (cfg_dir / f"{TINY_ARCH}.json").write_text(json.dumps(TINY_OPEN_CLIP))
    open_clip.add_model_config(cfg_dir / f"{TINY_ARCH}.json")
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_ARCH)
    with torch.no_grad():  # a scale other than the init value, so tests can see it is read
        model.logit_scale.fill_(float(np.log(42.0)))
    ckpt = vision_tmp / "tiny_open_clip.pt"
    torch.save(model.state_dict(), ckpt)
    return {"arch": TINY_ARCH, "checkpoint": str(ckpt), "config": TINY_OPEN_CLIP}


def clip_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's BPE vocabulary and merges from open_clip's bundled file, with transformers' names
    for the special tokens (so ids match open_clip's tokenizer exactly)."""
    from open_clip.tokenizer import SimpleTokenizer

    tok = SimpleTokenizer()
    rename = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {rename.get(k, k): v for k, v in tok.encoder.items()}
    merges = [m for m, _ in sorted(tok.bpe_ranks.items(), key=lambda kv: kv[1])]
    return vocab, merges


@pytest.fixture(scope="session")
def clip_tokenizer() -> object:
    """transformers' CLIPTokenizer (5.x takes the vocabulary and merges directly)."""
    from transformers import CLIPTokenizer

    vocab, merges = clip_bpe()
    return CLIPTokenizer(vocab=vocab, merges=merges)


def _vision_text_configs(prefix: str) -> tuple[dict, dict]:
    text = {
        "vocab_size": 49408,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": 77,
    }
    vision = {
        "image_size": 32,
        "patch_size": 8,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
    }
    return text, vision


@pytest.fixture(scope="session")
def tiny_hf_clip(vision_tmp: Path, clip_tokenizer: object) -> Path:
    """A tiny transformers CLIPModel + CLIPProcessor saved with save_pretrained."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    text, vision = _vision_text_configs("clip")
    torch.manual_seed(1)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=24))
    with torch.no_grad():
        model.logit_scale.fill_(float(np.log(30.0)))
    tok = clip_tokenizer
    proc = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32),
        tokenizer=tok,
    )
    out = vision_tmp / "hf_clip"
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_siglip(vision_tmp: Path, clip_tokenizer: object) -> Path:
    """A tiny SiglipModel (sigmoid scores) with a CLIP BPE tokenizer (sentencepiece is absent)."""
    import torch
    from transformers import (
        CLIPTokenizer,
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
        SiglipProcessor,
    )

    text, vision = _vision_text_configs("siglip")
    text["max_position_embeddings"] = 16
    torch.manual_seed(2)
    model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
    with torch.no_grad():
        model.logit_scale.fill_(float(np.log(10.0)))
        model.logit_bias.fill_(-3.0)
    vocab, merges = clip_bpe()
    tok = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=16)
    proc = SiglipProcessor(
        image_processor=SiglipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok
    )
    out = vision_tmp / "siglip"
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_blip(vision_tmp: Path) -> Path:
    """A tiny BlipForConditionalGeneration + BlipProcessor (BERT WordPiece vocab written here)."""
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    out = vision_tmp / "blip"
    out.mkdir()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    vocab = special + BLIP_WORDS
    ids = {t: i for i, t in enumerate(vocab)}
    tok = BertTokenizer(vocab=ids, do_lower_case=True)
    tok.add_special_tokens({"bos_token": "[DEC]"})
    text = {
        "vocab_size": len(vocab),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "encoder_hidden_size": 32,
        "max_position_embeddings": 64,
        "pad_token_id": ids["[PAD]"],
        "bos_token_id": ids["[DEC]"],
        "eos_token_id": ids["[SEP]"],
        "sep_token_id": ids["[SEP]"],
    }
    vision = {
        "image_size": 32,
        "patch_size": 8,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
    }
    torch.manual_seed(3)
    model = BlipForConditionalGeneration(
        BlipConfig(text_config=text, vision_config=vision, projection_dim=32)
    )
    proc = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok
    )
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def real_images(vision_tmp: Path) -> list[Path]:
    """Nine real photos from scikit-image, saved as PNG/JPEG files of different sizes."""
    from PIL import Image
    from skimage import data

    names = ["astronaut", "camera", "cat", "coffee", "coins", "rocket", "hubble_deep_field",
             "immunohistochemistry", "retina"]
    out = vision_tmp / "images"
    out.mkdir()
    paths = []
    for i, name in enumerate(names):
        arr = getattr(data, name)()
        im = Image.fromarray(arr)
        im.thumbnail((96, 96))
        p = out / f"{i:02d}_{name}.{'jpg' if i % 2 else 'png'}"
        im.save(p)
        paths.append(p)
    return paths


@pytest.fixture(scope="session")
def tiny_git(vision_tmp: Path) -> Path:
    """A tiny GitForCausalLM + GitProcessor (decoder-only captioner; prompts continue [CLS])."""
    import torch
    from transformers import (
        BertTokenizer,
        CLIPImageProcessor,
        GitConfig,
        GitForCausalLM,
        GitProcessor,
    )

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *BLIP_WORDS]
    tok = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)})
    vision = {"image_size": 32, "patch_size": 8, "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 1, "num_attention_heads": 2}
    cfg = GitConfig(vision_config=vision, vocab_size=len(vocab), hidden_size=32,
                    num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                    max_position_embeddings=64, bos_token_id=2, eos_token_id=3, pad_token_id=0)
    torch.manual_seed(4)
    out = vision_tmp / "git"
    GitForCausalLM(cfg).save_pretrained(out)
    proc = GitProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32),
                        tokenizer=tok)
    proc.save_pretrained(out)
    return out
