"""LLaVA data: caption pairs (stage 1) and the LLaVA JSON conversation format (stage 2), laid
out by the LM's chat template with the loss on the assistant turns only.

A LLaVA JSON record: ``{"id": ..., "image": "coco/0001.jpg", "conversations": [{"from": "human",
"value": "<image>\\nWhat is this?"}, {"from": "gpt", "value": "A red circle."}, ...]}``.

Example:
    >>> messages = conversation_messages([{"from": "human", "value": "<image>\\nWhat?"},
    ...                                   {"from": "gpt", "value": "a red circle"}])
    >>> [m["role"] for m in messages]
    ['user', 'assistant']
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from socratic.errors import DataError

__all__ = ["IMAGE_TOKEN", "conversation_messages", "encode_conversation", "read_captions_as_chats",
           "read_llava_json"]

IMAGE_TOKEN = "<image>"
_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def conversation_messages(turns: list[dict[str, Any]], where: str = "") -> list[dict[str, str]]:
    """LLaVA ``conversations`` -> chat messages (``human`` -> user, ``gpt`` -> assistant)."""
    out = []
    for k, t in enumerate(turns):
        role = _ROLES.get(str(t.get("from")))
        if role is None or not isinstance(t.get("value"), str):
            raise DataError(f"{where}: turn {k}: expected {{from: human|gpt, value: text}}, got "
                            f"{json.dumps(t)[:80]}")
        out.append({"role": role, "content": t["value"]})
    if not any(m["role"] == "assistant" for m in out):
        raise DataError(f"{where}: no gpt turn to learn from")
    if sum(m["content"].count(IMAGE_TOKEN) for m in out) != 1:
        raise DataError(f"{where}: expected exactly one {IMAGE_TOKEN} placeholder in the conversation")
    return out


def _root(path: str, image_root: str | None) -> Path:
    return Path(image_root) if image_root else Path(path).parent


def read_llava_json(path: str | os.PathLike[str], image_root: str | None = None,
                    max_samples: int | None = None) -> list[dict[str, Any]]:
    """``[{"image": absolute path, "messages": [...]}, ...]`` from a LLaVA JSON list (or JSONL)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{p}: cannot read ({exc.strerror})") from None
    try:
        records = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise DataError(f"{p}:{exc.lineno}: not JSON ({exc.msg})") from None
    root = _root(str(p), image_root)
    out = []
    for i, r in enumerate(records[:max_samples] if max_samples else records):
        where = f"{p}: record {i}"
        if not isinstance(r, dict) or "image" not in r or "conversations" not in r:
            raise DataError(f"{where}: expected {{image, conversations}}")
        messages = conversation_messages(r["conversations"], where)
        out.append({"image": str(root / r["image"]), "messages": messages})
    return out


def read_captions_as_chats(path: str | os.PathLike[str], prompt: str, image_root: str | None = None,
                           image_column: str = "image", caption_column: str = "caption",
                           max_samples: int | None = None) -> list[dict[str, Any]]:
    """Caption JSONL as one-turn conversations: ``<image>\\n{prompt}`` -> caption (stage 1)."""
    from socratic.datasets import read_records

    root = _root(str(path), image_root)
    out = []
    for row in read_records(str(path)):
        if max_samples and len(out) >= max_samples:
            break
        try:
            image, caption = row[image_column], row[caption_column]
        except KeyError as exc:
            raise DataError(f"{path}: a row has no {exc.args[0]!r} column") from None
        out.append({"image": str(root / image), "messages": [
            {"role": "user", "content": f"{IMAGE_TOKEN}\n{prompt}"},
            {"role": "assistant", "content": str(caption)}]})
    return out


def encode_conversation(tokenizer: Any, messages: list[dict[str, str]], n_image_tokens: int,
                        max_tokens: int) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)`` of a conversation laid out by the tokenizer's chat template, the
    ``<image>`` placeholder repeated ``n_image_tokens`` times (as the transformers LLaVA
    processor does), labels -100 except on the assistant turns' text."""
    def expand(s: str) -> str:
        return s.replace(IMAGE_TOKEN, IMAGE_TOKEN * n_image_tokens)

    def render(msgs: list[dict[str, str]], prompt: bool = False) -> str:
        return expand(tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=prompt))

    text = render(messages)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before, upto = render(messages[:i], True), render(messages[: i + 1])
        if not text.startswith(upto) or not upto.startswith(before):
            raise DataError("the LM's chat template does not lay out turns as a growing prefix")
        spans.append((len(before), len(upto)))
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, labels = list(enc["input_ids"]), []
    for tok_id, (a, b) in zip(ids, enc["offset_mapping"], strict=True):  # overlaps an answer
        labels.append(tok_id if any(a < e_ and b > s_ for s_, e_ in spans) else -100)
    if tokenizer.eos_token_id is not None and (not ids or ids[-1] != tokenizer.eos_token_id):
        ids.append(tokenizer.eos_token_id)
        labels.append(tokenizer.eos_token_id)  # the model learns to stop after its answer
    if ids.count(tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)) != n_image_tokens:
        raise DataError(f"the conversation does not hold the {n_image_tokens} image tokens it should")
    if len(ids) > max_tokens + n_image_tokens:
        ids, labels = ids[: max_tokens + n_image_tokens], labels[: max_tokens + n_image_tokens]
    return ids, labels
