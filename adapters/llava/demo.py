"""Offline demo data for the LLaVA recipe: a tiny transformers CLIP, a tiny Llama pre-trained in
the shapes world (it knows the caption language and reads a soft prefix) with a plain chat
template, one-object shapes images, caption JSONL (stage 1) and LLaVA JSON conversations
(stage 2). ``examples/train_llava_stage1.yaml`` / ``_stage2.yaml`` read what this writes.

    python -m socratic.adapters.llava.demo examples/data/llava

Example:
    >>> d = prepare_llava_demo("/tmp/llava-demo")     # doctest: +SKIP
    >>> sorted(vars(d))                              # doctest: +SKIP
    ['chats', 'clip', 'dev_captions', 'dev_chats', 'held_out', 'lm', 'root', 'train', 'train_captions']
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

__all__ = ["QUESTIONS", "TEMPLATE", "prepare_llava_demo"]

#: the tiny LM's chat template: the user's text, a newline, the answer and a newline
TEMPLATE = ("{% for m in messages %}{% if m['role'] == 'user' %}{{ m['content'] | trim }}\n{% else %}"
            "{{ m['content'] }}\n{% endif %}{% endfor %}")
QUESTIONS = ["What is in the image?", "Describe what you see."]


def _chats(samples: list[Any], prefix: str, path: Path) -> str:
    records = []
    for k, s in enumerate(samples):
        turns = [{"from": "human", "value": f"<image>\n{QUESTIONS[k % 2]}"},
                 {"from": "gpt", "value": s.caption}]
        if k % 3 == 0:  # a second turn: its answer is learned too, the question is not
            turns += [{"from": "human", "value": "Is it a shape?"}, {"from": "gpt", "value": "yes"}]
        records.append({"id": k, "image": f"images/{prefix}{k:06d}.png", "conversations": turns})
    path.write_text(json.dumps(records, indent=1))
    return str(path)


def prepare_llava_demo(root: str | os.PathLike[str], n_train: int = 400, n_dev: int = 32,
                       lm_steps: int = 400) -> SimpleNamespace:
    """Write the demo models and data under ``root`` (about a minute on 2 cores)."""
    from socratic.testing import make_tiny_hf_clip, make_tiny_lm, pretrain_lm, train_tokenizer

    from ..synthetic import all_captions, make_shapes_dataset, make_shapes_splits, write_shapes_jsonl

    out = Path(root)
    tok = train_tokenizer([*all_captions(1), *all_captions(2), *QUESTIONS, "Is it a shape? yes"])
    tok.chat_template = TEMPLATE
    lm = make_tiny_lm(out / "llama", "llama", tokenizer=tok, width=64, init_std=0.02)
    pretrain_lm(lm, make_shapes_dataset(1000, seed=99, n_objects=1), steps=lm_steps)
    clip = make_tiny_hf_clip(out / "clip")
    train, held = make_shapes_splits(n_train, n_dev, seed=0, n_objects=1)
    data = out / "data"
    return SimpleNamespace(
        root=out, lm=str(lm), clip=str(clip), train=train, held_out=held,
        train_captions=str(write_shapes_jsonl(train, data, "train.jsonl", prefix="t")),
        dev_captions=str(write_shapes_jsonl(held, data, "val.jsonl", prefix="v")),
        chats=_chats(train, "t", data / "chat.json"), dev_chats=_chats(held, "v", data / "dev_chat.json"),
    )


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "examples/data/llava"
    print(prepare_llava_demo(target).root)
