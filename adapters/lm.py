"""Load a transformers LM (causal or seq2seq) with its tokenizer, and set how it is tuned:
frozen, fully trained, LoRA or prefix tuning through peft.

Example:
    >>> from socratic.adapters.config import LMConfig
    >>> lm, tok, seq2seq = load_lm(LMConfig(path="/models/tiny-gpt2"))      # doctest: +SKIP
    >>> lm = apply_tuning(lm, LMConfig(path="x", tune="lora"), seq2seq)   # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from .config import LMConfig
from .vision import BaseModelError, module_fingerprint

__all__ = ["apply_tuning", "base_model", "describe_lm", "load_lm", "peft_config"]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_lm(cfg: LMConfig) -> tuple[nn.Module, Any, bool]:
    """Load ``(model, tokenizer, is_seq2seq)`` from ``cfg.path``; a missing model gives one
    :class:`BaseModelError` that says how to point at a local copy."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    try:
        conf = AutoConfig.from_pretrained(cfg.path)
    except Exception as e:
        hint = "" if os.path.isdir(cfg.path) else " (not a local folder)"
        raise BaseModelError(
            f"cannot load LM '{cfg.path}'{hint}: {type(e).__name__}: {str(e)[:200]}. Offline, set "
            "lm.path to a local folder saved with save_pretrained()."
        ) from None
    seq2seq = cfg.kind == "seq2seq" or (
        cfg.kind == "auto" and bool(getattr(conf, "is_encoder_decoder", False))
    )
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    try:
        model = cls.from_pretrained(cfg.path, dtype=_DTYPES[cfg.dtype])
        tok = AutoTokenizer.from_pretrained(cfg.tokenizer or cfg.path)
    except Exception as e:
        raise BaseModelError(f"cannot load LM '{cfg.path}': {type(e).__name__}: {e}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok, seq2seq


def peft_config(cfg: LMConfig, seq2seq: bool) -> Any:
    """The peft config (LoRA or prefix tuning) described by ``cfg``."""
    from peft import LoraConfig, PrefixTuningConfig, TaskType

    task = TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM
    if cfg.tune == "lora":
        return LoraConfig(
            task_type=task,
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=cfg.lora.target_modules,
            bias=cfg.lora.bias,
        )
    if cfg.tune == "prefix":
        p = cfg.prefix_tuning
        kw: dict[str, Any] = {}
        if p.encoder_hidden_size:
            kw["encoder_hidden_size"] = p.encoder_hidden_size
        return PrefixTuningConfig(
            task_type=task,
            num_virtual_tokens=p.num_virtual_tokens,
            prefix_projection=p.prefix_projection,
            **kw,
        )
    raise ValueError(f"lm.tune {cfg.tune!r} is not a peft method")


def apply_tuning(model: nn.Module, cfg: LMConfig, seq2seq: bool) -> nn.Module:
    """Freeze the LM, leave it trainable, or wrap it with a peft adapter, per ``cfg.tune``."""
    if cfg.tune == "frozen":
        model.requires_grad_(False)
        model.eval()
        return model
    if cfg.tune == "full":
        model.requires_grad_(True)
        return model
    from peft import get_peft_model

    return get_peft_model(model, peft_config(cfg, seq2seq))


def base_model(model: nn.Module) -> nn.Module:
    """The underlying transformers model of a (possibly peft-wrapped) LM."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def describe_lm(model: nn.Module, cfg: LMConfig) -> dict[str, Any]:
    """What a saved bridge records about its LM (path, class, fingerprint of base weights)."""
    base = base_model(model)
    return {
        "path": cfg.path,
        "class": type(base).__name__,
        "model_type": getattr(base.config, "model_type", None),
        "fingerprint": module_fingerprint(base),
    }
