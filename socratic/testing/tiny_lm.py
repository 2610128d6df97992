"""Tiny language models saved like real ones: GPT-2 / Llama (causal) and T5 (seq2seq), and a
LoRA adapter for them. Seeded random weights, about a second to build, no downloads; the
folder holds the model and its tokenizer, so ``from_pretrained(folder)`` loads it offline.

Example:
    >>> import tempfile
    >>> from transformers import AutoModelForCausalLM, AutoTokenizer
    >>> path = make_tiny_lm(tempfile.mkdtemp(), "llama")
    >>> tok = AutoTokenizer.from_pretrained(path)
    >>> model = AutoModelForCausalLM.from_pretrained(path)
    >>> out = model.generate(**tok("a photo of", return_tensors="pt"), max_new_tokens=4,
    ...                      do_sample=False)
    >>> out.shape[1] > 3
    True
    >>> adapter = make_lora_adapter(path, tempfile.mkdtemp())
    >>> (adapter / "adapter_config.json").is_file()
    True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

Arch = Literal["gpt2", "llama", "t5"]


def make_tiny_lm(
    out_dir: str | os.PathLike[str],
    arch: Arch = "gpt2",
    *,
    tokenizer: Any | None = None,
    width: int = 32,
    layers: int = 2,
    heads: int = 2,
    init_std: float = 0.2,
    seed: int = 0,
) -> Path:
    """Build a ``gpt2`` / ``llama`` / ``t5`` model of ``width`` x ``layers`` and save it with
    its tokenizer (default: :func:`~socratic.testing.tokenizer.train_tokenizer` on its built-in
    corpus) to ``out_dir``; returns the folder. ``init_std`` (causal models) is large so that a
    random model already says varied things (T5 gets an untied output layer for the same
    reason); pass the usual 0.02 for a model you will train (see ``pretrain_lm``)."""
    import torch
    import transformers as hf

    from .tokenizer import train_tokenizer

    tok = tokenizer if tokenizer is not None else train_tokenizer()
    ids = {"vocab_size": len(tok), "pad_token_id": tok.pad_token_id, "eos_token_id": tok.eos_token_id}
    causal = {**ids, "bos_token_id": tok.bos_token_id, "initializer_range": init_std}
    torch.manual_seed(seed)
    model: Any
    if arch == "gpt2":
        model = hf.GPT2LMHeadModel(
            hf.GPT2Config(n_embd=width, n_layer=layers, n_head=heads, n_positions=256, **causal)
        )
    elif arch == "llama":
        model = hf.LlamaForCausalLM(hf.LlamaConfig(
            hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers,
            num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=256,
            **causal,
        ))
    elif arch == "t5":
        model = hf.T5ForConditionalGeneration(hf.T5Config(
            d_model=width, d_kv=width // heads, d_ff=2 * width, num_layers=layers, num_heads=heads,
            decoder_start_token_id=tok.pad_token_id, tie_word_embeddings=False, **ids,
        ))
        # transformers ties T5's output layer to the embeddings whatever the config says; with
        # tied random weights the decoder start (= pad) wins every step: untie it by hand
        model.config.tie_word_embeddings = False
        model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight))
    else:
        raise ValueError(f"unknown tiny arch {arch!r}: gpt2, llama or t5")
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    out = Path(out_dir)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


def make_lora_adapter(
    model_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], seed: int = 1
) -> Path:
    """Save a LoRA adapter (rank 4, random non-zero B so it changes outputs) for the causal
    model in ``model_dir`` to ``out_dir``; returns ``out_dir``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(model_dir))
    targets = ["c_attn"] if base.config.model_type == "gpt2" else ["q_proj", "v_proj"]
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=16, target_modules=targets, init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(str(out_dir))
    return Path(out_dir)
