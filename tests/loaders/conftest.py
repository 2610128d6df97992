"""Tiny local models for the loader tests, one per family, built once per session (no downloads).

LMs come from :mod:`socratic.testing`; the vision models are built here from tiny
configs: an open_clip export folder (``local-dir:``) plus a bare architecture JSON and checkpoint,
a transformers CLIP and SigLIP, and the three captioner kinds (BLIP, BLIP-2, GIT). Tokenizers are
real (CLIP BPE from the open_clip wheel) or built here (a tiny BERT WordPiece vocabulary).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

WORDS = ["a", "the", "photo", "of", "cat", "dog", "red", "blue", "on", "grass", "sky", "is"]
OPEN_CLIP_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
VISION = {"image_size": 32, "patch_size": 8, "hidden_size": 32, "intermediate_size": 64,
          "num_hidden_layers": 1, "num_attention_heads": 2}
TEXT = {"vocab_size": 49408, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
        "num_attention_heads": 2, "max_position_embeddings": 16}


@pytest.fixture(scope="session")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("loader-models")


@pytest.fixture(scope="session")
def lms(root: Path) -> SimpleNamespace:
    """Tiny GPT-2, Llama and T5 folders (tokenizer with a chat template) and a LoRA for GPT-2."""
    from socratic.testing import make_lora_adapter, make_tiny_lm

    gpt2 = make_tiny_lm(root / "gpt2", "gpt2")
    return SimpleNamespace(
        gpt2=gpt2,
        llama=make_tiny_lm(root / "llama", "llama"),
        t5=make_tiny_lm(root / "t5", "t5"),
        lora=make_lora_adapter(gpt2, root / "gpt2-lora"),
    )


@pytest.fixture(scope="session")
def open_clip_models(root: Path) -> SimpleNamespace:
    """A tiny open_clip model three ways: an export folder (``local-dir:``), a bare JSON
    architecture, and that architecture's weights as a checkpoint file."""
    import open_clip
    import torch

    export = root / "open_clip_export"
    export.mkdir()
    (export / "open_clip_config.json").write_text(json.dumps({"model_cfg": OPEN_CLIP_CFG}))
    arch = root / "loaders-tiny-clip.json"
    arch.write_text(json.dumps(OPEN_CLIP_CFG))
    torch.manual_seed(0)
    state = open_clip.CLIP(**OPEN_CLIP_CFG).state_dict()
    torch.save(state, export / "open_clip_pytorch_model.bin")
    torch.save(state, root / "tiny_open_clip.pt")
    return SimpleNamespace(export=export, arch_file=arch, checkpoint=root / "tiny_open_clip.pt")


def _clip_tokenizer(max_length: int = 77):
    from open_clip.tokenizer import SimpleTokenizer
    from transformers import CLIPTokenizer

    bpe = SimpleTokenizer()
    rename = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {rename.get(k, k): v for k, v in bpe.encoder.items()}
    merges = [m for m, _ in sorted(bpe.bpe_ranks.items(), key=lambda kv: kv[1])]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def _bert_tokenizer(extra: list[str] = ()):
    from transformers import BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *extra, *WORDS]
    return BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}), len(vocab)


@pytest.fixture(scope="session")
def hf_clips(root: Path) -> SimpleNamespace:
    """A tiny transformers CLIPModel and SiglipModel with their processors."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
        SiglipProcessor,
    )

    torch.manual_seed(1)
    CLIPModel(CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=24)).save_pretrained(
        root / "clip")
    CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32),
                  tokenizer=_clip_tokenizer()).save_pretrained(root / "clip")
    SiglipModel(SiglipConfig(text_config=TEXT, vision_config=VISION)).save_pretrained(root / "siglip")
    SiglipProcessor(image_processor=SiglipImageProcessor(size={"height": 32, "width": 32}),
                    tokenizer=_clip_tokenizer(16)).save_pretrained(root / "siglip")
    return SimpleNamespace(clip=root / "clip", siglip=root / "siglip")


@pytest.fixture(scope="session")
def captioners(root: Path) -> SimpleNamespace:
    """Tiny BLIP, BLIP-2 (GPT-2 text model) and GIT captioners with their processors."""
    import torch
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
        CLIPImageProcessor,
        GitConfig,
        GitForCausalLM,
        GitProcessor,
    )

    from socratic.testing import train_tokenizer

    torch.manual_seed(3)
    blip_proc = BlipImageProcessor(size={"height": 32, "width": 32})
    tok, n = _bert_tokenizer(["[DEC]"])
    tok.add_special_tokens({"bos_token": "[DEC]"})
    text = {"vocab_size": n, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "encoder_hidden_size": 32, "max_position_embeddings": 32,
            "pad_token_id": 0, "bos_token_id": 5, "eos_token_id": 3, "sep_token_id": 3}
    BlipForConditionalGeneration(BlipConfig(text_config=text, vision_config=VISION, projection_dim=32)
                                 ).save_pretrained(root / "blip")
    BlipProcessor(image_processor=blip_proc, tokenizer=tok).save_pretrained(root / "blip")

    gpt_tok = train_tokenizer(out_dir=root / "blip2-tok")
    blip2_proc = Blip2Processor(image_processor=blip_proc, tokenizer=gpt_tok, num_query_tokens=4)
    gpt = {"model_type": "gpt2", "vocab_size": len(gpt_tok), "n_embd": 32, "n_layer": 1, "n_head": 2,
           "n_positions": 64, "bos_token_id": gpt_tok.bos_token_id,
           "eos_token_id": gpt_tok.eos_token_id, "pad_token_id": gpt_tok.pad_token_id}
    qformer = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
               "intermediate_size": 64, "encoder_hidden_size": 32, "vocab_size": 100}
    Blip2ForConditionalGeneration(Blip2Config(
        vision_config=VISION, qformer_config=qformer, text_config=gpt, num_query_tokens=4,
        image_token_index=gpt_tok.convert_tokens_to_ids("<image>"))).save_pretrained(root / "blip2")
    blip2_proc.save_pretrained(root / "blip2")

    tok, n = _bert_tokenizer()
    GitForCausalLM(GitConfig(vision_config=VISION, vocab_size=n, hidden_size=32, num_hidden_layers=1,
                             num_attention_heads=2, intermediate_size=64, max_position_embeddings=32,
                             bos_token_id=2, eos_token_id=3, pad_token_id=0)).save_pretrained(root / "git")
    GitProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32),
                 tokenizer=tok).save_pretrained(root / "git")
    return SimpleNamespace(blip=root / "blip", blip2=root / "blip2", git=root / "git")


@pytest.fixture(scope="session")
def image(root: Path) -> Path:
    from PIL import Image

    path = root / "red.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(path)
    return path
