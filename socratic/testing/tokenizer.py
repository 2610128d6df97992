"""One tokenizer for every tiny model: a byte-level BPE trained offline in a few milliseconds.

Special tokens, the usual Hugging Face layout: ``<pad>`` 0, ``<s>`` 1 (bos), ``</s>`` 2 (eos),
``<unk>`` 3. Nothing is added automatically when encoding (as with GPT-2): code that needs an
eos appends ``tokenizer.eos_token_id`` itself. A small chat template renders messages as
``<|role|> content`` lines, so chat requests and ``transformers serve`` work; pass
``chat_template=None`` for a base LM that reads plain prompts (socratic's ``hf`` backend then
sends chat messages as plain text, as with GPT-2).

Example:
    >>> tok = train_tokenizer(["a red circle", "a blue square"])
    >>> [tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id]
    [0, 1, 2, 3]
    >>> tok.decode(tok("a red circle")["input_ids"])
    'a red circle'
    >>> tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
    ...                         add_generation_prompt=True)
    '<|user|> hi\\n<|assistant|> '
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)

#: what the tokenizer learns from when no texts are given: captions, questions, chat turns
CORPUS = (
    "a photo of a cat sitting on a red chair",
    "a dog runs across the green grass in the park",
    "two birds fly over the blue sea at sunset",
    "the quick brown fox jumps over the lazy dog",
    "a man rides a bicycle down a busy city street",
    "question: what is two plus two? answer: four",
    "describe the image. the image shows a kitchen with a table",
    "<|user|> hello <|assistant|> hi there, how can I help?",
)


def train_tokenizer(
    texts: Iterable[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    vocab_size: int = 400,
    chat_template: str | None = CHAT_TEMPLATE,
) -> Any:
    """Train a byte-level BPE on ``texts`` (default :data:`CORPUS`) and return it as a
    ``PreTrainedTokenizerFast`` with :data:`SPECIAL_TOKENS` and ``chat_template``; also saved
    to ``out_dir`` when given. Any text encodes (byte level), unseen words just take more
    tokens; ``vocab_size`` caps the vocabulary (a small corpus gives fewer merges)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(CORPUS if texts is None else texts), trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, **SPECIAL_TOKENS)
    tok.chat_template = chat_template
    if out_dir is not None:
        tok.save_pretrained(str(out_dir))
    return tok
