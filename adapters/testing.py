"""Tiny offline base models for tests, smoke runs, benchmarks and demos.

Nothing here downloads: a byte-level BPE tokenizer is trained on the fly with ``tokenizers``,
GPT-2 / Llama / T5 models are built from tiny configs (and optionally pre-trained for a few
seconds on caption text, so that a *frozen* LM already knows the caption language), and a tiny
open_clip ViT is written as an open_clip ``local-dir:`` folder.

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> tok = train_tokenizer(["a red circle", "a blue square"], d + "/tok")
    >>> tok("a red circle")["input_ids"] == tok("a red circle")["input_ids"]
    True
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "make_tiny_lm",
    "make_tiny_open_clip",
    "pretrain_lm",
    "pretrain_vision",
    "train_tokenizer",
]

SPECIALS = ["<pad>", "</s>", "<unk>"]


def train_tokenizer(
    texts: Sequence[str], out_dir: str | os.PathLike[str] | None = None, vocab_size: int = 400
) -> Any:
    """Train a byte-level BPE (``<pad>`` = 0, ``</s>`` = 1 = bos = eos, ``<unk>`` = 2) and
    return a ``PreTrainedTokenizerFast``; saved to ``out_dir`` when given."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(list(texts), trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        pad_token="<pad>",
        eos_token="</s>",
        bos_token="</s>",
        unk_token="<unk>",
    )
    if out_dir is not None:
        tok.save_pretrained(str(out_dir))
    return tok


def make_tiny_lm(
    out_dir: str | os.PathLike[str],
    tokenizer: Any,
    arch: str = "gpt2",
    *,
    width: int = 64,
    layers: int = 2,
    heads: int = 2,
    seed: int = 0,
) -> Any:
    """Build a tiny ``gpt2`` / ``llama`` / ``t5`` model for ``tokenizer`` and save model and
    tokenizer to ``out_dir`` (a folder ``from_pretrained`` reads offline). Returns the model."""
    import torch
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        T5Config,
        T5ForConditionalGeneration,
    )

    torch.manual_seed(seed)
    v = len(tokenizer)
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    if arch == "gpt2":
        cfg = GPT2Config(
            vocab_size=v, n_positions=128, n_embd=width, n_layer=layers, n_head=heads,
            bos_token_id=eos, eos_token_id=eos, pad_token_id=pad,
        )
        model = GPT2LMHeadModel(cfg)
    elif arch == "llama":
        cfg = LlamaConfig(
            vocab_size=v, hidden_size=width, intermediate_size=2 * width,
            num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
            max_position_embeddings=128, bos_token_id=eos, eos_token_id=eos, pad_token_id=pad,
        )
        model = LlamaForCausalLM(cfg)
    elif arch == "t5":
        cfg = T5Config(
            vocab_size=v, d_model=width, d_kv=width // heads, d_ff=2 * width,
            num_layers=layers, num_decoder_layers=layers, num_heads=heads,
            pad_token_id=pad, eos_token_id=eos, decoder_start_token_id=pad,
        )
        model = T5ForConditionalGeneration(cfg)
    else:
        raise ValueError(f"unknown tiny arch {arch!r}: gpt2, llama or t5")
    model.generation_config.pad_token_id = pad
    model.generation_config.eos_token_id = eos
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return model


def pretrain_lm(
    model_dir: str | os.PathLike[str],
    samples: Sequence[Any],
    *,
    steps: int = 400,
    batch_size: int = 32,
    lr: float = 3e-3,
    max_prefix: int = 10,
    seed: int = 0,
) -> float:
    """Pre-train a saved tiny causal LM to caption synthetic shapes samples from a *soft
    prefix* (2 to ``max_prefix`` embeddings made from the true attributes by a throw-away
    linear map) and save it back; returns the last loss.

    This stands in for a pretrained LM: a tiny LM trained on caption text alone ignores any
    prefix (its attention never learned to read context), so no bridge could steer it. After
    this the LM knows the caption language and reads prefix embeddings; the attribute map is
    discarded, so a bridge still has to learn, from scratch, to turn images into a prefix.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .synthetic import COLORS, RELATIONS, SHAPES

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    model.train()
    width = model.get_input_embeddings().embedding_dim
    colors, shapes = list(COLORS), list(SHAPES)
    n_attr = 2 * (len(colors) + len(shapes)) + len(RELATIONS)
    rows = []
    for s in samples:
        v = torch.zeros(n_attr)
        for k, o in enumerate(s.objects):
            base = k * (len(colors) + len(shapes))
            v[base + colors.index(o.color)] = 1
            v[base + len(colors) + shapes.index(o.shape)] = 1
        if s.relation:
            v[-len(RELATIONS) + RELATIONS.index(s.relation)] = 1
        rows.append(v)
    attrs = torch.stack(rows)
    caps = [tok(s.caption, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for s in samples]
    proj = torch.nn.Linear(n_attr, max_prefix * width)
    opt = torch.optim.AdamW(list(model.parameters()) + list(proj.parameters()), lr=lr)
    emb = model.get_input_embeddings()
    pad = tok.pad_token_id
    loss_value = float("nan")
    for _ in range(steps):
        idx = rng.sample(range(len(samples)), min(batch_size, len(samples)))
        b, k = len(idx), rng.randint(2, max_prefix)
        batch = [caps[i] for i in idx]
        w = max(map(len, batch))
        ids = torch.tensor([r + [pad] * (w - len(r)) for r in batch])
        mask = torch.tensor([[1] * len(r) + [0] * (w - len(r)) for r in batch])
        prefix = proj(attrs[idx]).view(b, max_prefix, width)[:, max_prefix - k :]
        embeds = torch.cat([prefix, emb(ids)], 1)
        full_mask = torch.cat([torch.ones(b, k, dtype=torch.long), mask], 1)
        labels = torch.cat([torch.full((b, k), -100), ids.masked_fill(mask == 0, -100)], 1)
        loss = model(inputs_embeds=embeds, attention_mask=full_mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_value = float(loss.detach())
    model.eval()
    model.save_pretrained(str(model_dir))
    return loss_value


def make_tiny_open_clip(
    out_dir: str | os.PathLike[str],
    *,
    image_size: int = 32,
    patch_size: int = 8,
    width: int = 64,
    layers: int = 2,
    embed_dim: int = 64,
    seed: int = 0,
) -> str:
    """Write a tiny open_clip ViT as a ``local-dir:`` folder (config + safetensors weights);
    returns the model name to use, ``"local-dir:<out_dir>"``."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    model_cfg = {
        "embed_dim": embed_dim,
        "vision_cfg": {
            "image_size": image_size,
            "layers": layers,
            "width": width,
            "patch_size": patch_size,
            "head_width": 32,
        },
        "text_cfg": {"context_length": 16, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg_file = out / "open_clip_config.json"
    cfg_file.write_text(
        json.dumps(
            {
                "model_cfg": model_cfg,
                "preprocess_cfg": {
                    "size": image_size,
                    "mean": [0.48145466, 0.4578275, 0.40821073],
                    "std": [0.26862954, 0.26130258, 0.27577711],
                },
            }
        )
    )
    torch.manual_seed(seed)
    model = open_clip.CLIP(**model_cfg)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "open_clip_model.safetensors"))
    return f"local-dir:{out}"



def pretrain_vision(
    cfg: Any,
    samples: Sequence[Any],
    out_file: str | os.PathLike[str],
    *,
    steps: int = 200,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
) -> Any:
    """Train a timm visual tower (``VisionConfig(backend="timm")``) to recognise the attributes
    of synthetic shapes samples (colour and kind of each object, their relation), save its
    weights to ``out_file`` (safetensors) and return the config that loads them.

    A stand-in for a pretrained image encoder: a random tiny encoder keeps too little of the
    image for a frozen-encoder bridge to caption it exactly.
    """
    import torch
    from safetensors.torch import save_file

    from .synthetic import COLORS, RELATIONS, SHAPES
    from .vision import VisionEncoder

    if cfg.backend != "timm":
        raise ValueError("pretrain_vision supports timm towers")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    enc = VisionEncoder(cfg)
    enc.train()
    colors, shapes = list(COLORS), list(SHAPES)
    n_obj = len(samples[0].objects)
    sizes = [len(colors), len(shapes)] * n_obj + ([len(RELATIONS)] if n_obj > 1 else [])
    heads = torch.nn.ModuleList(torch.nn.Linear(enc.pooled_dim, n) for n in sizes)
    opt = torch.optim.AdamW(list(enc.parameters()) + list(heads.parameters()), lr=lr)
    pixels = enc.preprocess([s.image for s in samples])
    rows = []
    for s in samples:
        row = []
        for o in s.objects:
            row += [colors.index(o.color), shapes.index(o.shape)]
        if n_obj > 1:
            row.append(RELATIONS.index(s.relation))
        rows.append(row)
    y = torch.tensor(rows)
    for _ in range(steps):
        idx = torch.tensor(rng.sample(range(len(samples)), min(batch_size, len(samples))))
        pooled = enc(pixels[idx])["pooled"]
        loss = sum(
            torch.nn.functional.cross_entropy(h(pooled), y[idx, j]) for j, h in enumerate(heads)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    state = {k: v.detach().contiguous() for k, v in enc.visual.state_dict().items()}
    Path(out_file).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out_file))
    return cfg.model_copy(update={"pretrained": str(out_file)})
