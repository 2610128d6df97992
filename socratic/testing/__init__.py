"""Helpers for testing code built on socratic, offline (see docs/testing.md): a fault-injecting
OpenAI-compatible server, and tiny models built in about a second each (one BPE tokenizer, GPT-2
/ Llama / T5, open_clip and transformers CLIP / SigLIP, BLIP / GIT captioners, shapes-world
stand-ins for pretrained LMs and image towers, LLaVA / Qwen2-VL / BLIP-2 vision-language
models). Importing it is cheap; names load on first use.

Example:
    >>> from socratic.testing import FakeOpenAIServer, Fault
    >>> with FakeOpenAIServer(script=[Fault.status(429, retry_after=0.1)]) as server:
    ...     server.base_url.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "fake_openai": ("FakeOpenAIServer", "FakeOpenAIProcess", "Fault"),
    "tokenizer": ("train_tokenizer",),
    "tiny_lm": ("make_tiny_lm", "make_lora_adapter"),
    "tiny_clip": ("open_clip_arch", "write_open_clip_arch", "make_tiny_open_clip", "TinyOpenClip",
                  "clip_tokenizer", "make_tiny_hf_clip"),
    "tiny_captioner": ("make_tiny_captioner",),
    "tiny_vlm": ("make_tiny_vlm", "vlm_chat_template"),
    "pretrain": ("pretrain_lm", "pretrain_vision"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'socratic.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
