"""LoRA / prefix tuning of the LM itself on prompt/completion JSONL (causal or seq2seq).

The loss is on the completion only (prompt and padding labels are -100). The result is a
standard peft adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``) whose
``base_model_name_or_path`` is the base model's path, so
``PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), folder)`` (what the
``hf`` LLM backend does) loads the tuned model.

Example:
    >>> lm = TextLM(LMConfig(path="/models/flan-t5", tune="lora"))   # doctest: +SKIP
    >>> batch = lm.collate([{"prompt": "Q: 2+2?", "completion": " 4"}])  # doctest: +SKIP
    >>> lm(**batch)["loss"].backward()                                # doctest: +SKIP
    >>> lm.save_adapter("runs/lora/adapter")                          # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import LMConfig
from .lm import apply_tuning, load_lm

__all__ = ["TextLM"]


class TextLM(nn.Module):
    """An LM wrapped with a peft adapter, with a collate for prompt/completion pairs.

    Example:
        >>> lm = TextLM(LMConfig(path="/models/tiny-gpt2", tune="lora"))  # doctest: +SKIP
        >>> lm.generate(["Q: 2+2? A:"], max_new_tokens=3)                 # doctest: +SKIP
        [' 4']
    """

    def __init__(self, cfg: LMConfig, max_tokens: int = 256) -> None:
        super().__init__()
        if cfg.tune not in ("lora", "prefix"):
            raise ValueError("TextLM needs lm.tune: lora or prefix")
        base, tok, seq2seq = load_lm(cfg)
        self.cfg = cfg
        self.tokenizer = tok
        self.seq2seq = seq2seq
        self.max_tokens = max_tokens
        self.lm = apply_tuning(base, cfg, seq2seq)

    def collate(self, items: Sequence[dict[str, str]]) -> dict[str, torch.Tensor]:
        tok = self.tokenizer
        pad, eos = tok.pad_token_id, tok.eos_token_id
        n = self.max_tokens
        if self.seq2seq:
            enc = [list(tok(i["prompt"])["input_ids"])[:n] for i in items]
            lab = [list(tok(i["completion"])["input_ids"])[: n - 1] for i in items]
            lab = [r if r and r[-1] == eos else [*r, eos] for r in lab]
            we, wl = max(map(len, enc)), max(map(len, lab))
            return {
                "input_ids": torch.tensor([r + [pad] * (we - len(r)) for r in enc]),
                "attention_mask": torch.tensor([[1] * len(r) + [0] * (we - len(r)) for r in enc]),
                "labels": torch.tensor([r + [-100] * (wl - len(r)) for r in lab]),
            }
        rows, labels = [], []
        for i in items:
            p = list(tok(i["prompt"], add_special_tokens=False)["input_ids"])
            c = [*list(tok(i["completion"], add_special_tokens=False)["input_ids"]), eos]
            ids = (p + c)[:n]
            rows.append(ids)
            labels.append(([-100] * len(p) + c)[:n])
        w = max(map(len, rows))
        return {
            "input_ids": torch.tensor([r + [pad] * (w - len(r)) for r in rows]),
            "attention_mask": torch.tensor([[1] * len(r) + [0] * (w - len(r)) for r in rows]),
            "labels": torch.tensor([r + [-100] * (w - len(r)) for r in labels]),
        }

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        return {"loss": out.loss}

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], max_new_tokens: int = 32) -> list[str]:
        """Greedy completions (text after the prompt), one prompt at a time."""
        self.eval()
        tok = self.tokenizer
        outs = []
        for p in prompts:
            if self.seq2seq:
                enc = tok(p, return_tensors="pt")
            else:
                enc = tok(p, add_special_tokens=False, return_tensors="pt")
            ids = self.lm.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
            )
            new = ids[0] if self.seq2seq else ids[0, enc["input_ids"].shape[1] :]
            outs.append(tok.decode(new, skip_special_tokens=True))
        return outs

    def save_adapter(self, path: str | os.PathLike[str]) -> Path:
        """Write the standard peft adapter folder (plus the tokenizer, for convenience) and how
        prompts were formatted in training (raw text, no chat template; special tokens added for
        seq2seq only), which the ``hf`` backend then uses by default."""
        from socratic.loaders.hf_lm import PromptFormat

        out = Path(path)
        self.lm.save_pretrained(str(out))
        self.tokenizer.save_pretrained(str(out))
        PromptFormat(chat_template=False, add_special_tokens=self.seq2seq).save(out)
        return out

    def trainable_state_dict(self) -> dict[str, Any]:
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}
