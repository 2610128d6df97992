"""Hugging Face language models: a causal or seq2seq LM (encoder-decoder configs are seq2seq) with
its tokenizer and an optional peft adapter, for the ``hf`` LLM backend and adapters training.

Example:
    >>> lm = load_hf_lm("./models/tiny-llama", device="cpu", padding_side="auto")  # doctest: +SKIP
    >>> lm.seq2seq, lm.tokenizer.padding_side, lm.has_chat_template               # doctest: +SKIP
    (False, 'left', True)
    >>> load_hf_lm("./models/nope")
    Traceback (most recent call last):
    socratic.errors.ModelLoadError: cannot load hf model: local directory not found: ./models/nope
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ModelLoadError
from .device import resolve_device, torch_dtype
from .hub import check_local, hf_errors
from .lock import heavy_import, load_lock

#: written beside a trained adapter: how its prompts were formatted during training
PROMPT_FORMAT_FILE = "socratic_prompt_format.json"


@dataclass(frozen=True)
class PromptFormat:
    """How prompts were turned into tokens while an adapter was trained, so that the ``hf``
    backend formats them the same way by default.

    Example:
        >>> PromptFormat(chat_template=False, add_special_tokens=False).to_json()
        '{"chat_template": false, "add_special_tokens": false}'
    """

    chat_template: bool
    add_special_tokens: bool

    def to_json(self) -> str:
        return json.dumps({"chat_template": self.chat_template,
                           "add_special_tokens": self.add_special_tokens})

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / PROMPT_FORMAT_FILE
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, folder: str | Path | None) -> PromptFormat | None:
        """The format recorded in an adapter folder, or ``None`` (not trained by socratic)."""
        path = Path(folder).expanduser() / PROMPT_FORMAT_FILE if folder else None
        if path is None or not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(bool(data["chat_template"]), bool(data["add_special_tokens"]))


@dataclass
class HFLanguageModel:
    """A loaded LM (peft-wrapped with an adapter), its tokenizer, its kind and its device.

    Example:
        >>> HFLanguageModel(model=None, tokenizer=None, seq2seq=True, device="cpu").has_chat_template
        False
    """

    model: Any
    tokenizer: Any
    seq2seq: bool
    device: str
    #: how the adapter's prompts were formatted in training (None: no record)
    prompt_format: PromptFormat | None = None

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def load_hf_lm(
    path: str, *, what: str = "hf model", key: str = "model", tokenizer: str | None = None,
    kind: Literal["auto", "causal", "seq2seq"] = "auto", revision: str | None = None,
    dtype: str = "auto", device: str | None = None,
    padding_side: Literal["auto", "left", "right"] | None = None, adapter: str | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> HFLanguageModel:
    """Load the LM at ``path`` (local directory or hub id) under the load lock. ``what`` / ``key``
    name it and its config key in messages; ``device=None`` leaves it on the CPU (for a trainer);
    the tokenizer gets a pad token (eos, else unk); ``padding_side="auto"``: left for causal LMs,
    right for seq2seq (as batched generation needs). ``model_kwargs`` go to ``from_pretrained``
    (e.g. a bitsandbytes ``quantization_config`` and its ``device_map``)."""
    check_local(path, what)
    with load_lock:
        transformers = heavy_import("transformers", what=f"{what} '{path}'")
        target = resolve_device(device, what) if device else None
        with hf_errors(what, path, key=key):
            config = transformers.AutoConfig.from_pretrained(path, revision=revision)
            seq2seq = kind == "seq2seq" or (kind == "auto" and bool(getattr(config, "is_encoder_decoder", 0)))
            side = ("right" if seq2seq else "left") if padding_side == "auto" else padding_side
            tok = transformers.AutoTokenizer.from_pretrained(
                tokenizer or path, revision=revision, **({"padding_side": side} if side else {})
            )
            cls = transformers.AutoModelForSeq2SeqLM if seq2seq else transformers.AutoModelForCausalLM
            model = cls.from_pretrained(path, revision=revision, config=config,
                                        dtype=torch_dtype(dtype, target or "cpu"), **(model_kwargs or {}))
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        if adapter:
            if not (Path(adapter).expanduser() / "adapter_config.json").is_file():
                raise ModelLoadError(f"cannot load {what}: adapter '{adapter}' is not a peft adapter "
                                     "directory (no adapter_config.json)")
            peft = heavy_import("peft", "train", f"the peft adapter '{adapter}'")
            with hf_errors(f"{what} adapter", adapter):
                model = peft.PeftModel.from_pretrained(model, str(Path(adapter).expanduser()))
        if target:
            model.to(target)
        model.eval()
    return HFLanguageModel(model, tok, seq2seq, target or "cpu", PromptFormat.read(adapter))
