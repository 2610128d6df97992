"""Load a transformers LM (causal or seq2seq) with its tokenizer, and set how it is tuned:
frozen, fully trained, LoRA or prefix tuning through peft.

Example:
    >>> from socratic.adapters.config import LMConfig
    >>> lm, tok, seq2seq = load_lm(LMConfig(path="/models/tiny-gpt2"))      # doctest: +SKIP
    >>> lm = apply_tuning(lm, LMConfig(path="x", tune="lora"), seq2seq)   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from torch import nn

from socratic.loaders import load_hf_lm

from .config import LMConfig
from .vision import module_fingerprint

__all__ = ["apply_tuning", "base_model", "describe_lm", "load_lm", "peft_config"]


def load_lm(cfg: LMConfig) -> tuple[nn.Module, Any, bool]:
    """Load ``(model, tokenizer, is_seq2seq)`` from ``cfg.path`` on the CPU (see
    :func:`socratic.loaders.load_hf_lm`; a missing model gives one clear ModelLoadError)."""
    extra: dict[str, Any] = {}
    if cfg.quantization is not None:  # QLoRA: bitsandbytes on this process's GPU
        from .quantization import load_kwargs

        extra = load_kwargs(cfg.quantization)
    lm = load_hf_lm(cfg.path, what="LM", key="lm.path", tokenizer=cfg.tokenizer, kind=cfg.kind,
                    dtype=cfg.dtype, model_kwargs=extra)
    return lm.model, lm.tokenizer, lm.seq2seq


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
    if cfg.quantization is not None:  # peft's k-bit preparation (norms in fp32, input grads)
        from .quantization import prepare_for_kbit

        model = prepare_for_kbit(model)
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
