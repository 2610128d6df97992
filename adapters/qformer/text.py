"""The Q-Former's text side: a BERT WordPiece tokenizer with BLIP-2's [DEC] token.

BLIP-2 tokenises text with ``bert-base-uncased`` and adds ``[DEC]`` as the beginning-of-
sequence token of the text decoder (ITG); text features are the output at ``[CLS]``.
:func:`load_bert_tokenizer` reads any local BERT tokenizer folder that way.
:func:`build_wordpiece_tokenizer` trains a small WordPiece vocabulary offline (``tokenizers``'
trainer) for tests and the offline demo, where no BERT vocabulary can be downloaded.

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = build_wordpiece_tokenizer(["a red circle", "a blue square"], d)
    >>> tok = load_bert_tokenizer(d)
    >>> tok.convert_ids_to_tokens(tok("a red circle")["input_ids"])
    ['[CLS]', 'a', 'red', 'circle', '[SEP]']
    >>> tok.bos_token
    '[DEC]'
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

__all__ = ["DEC_TOKEN", "build_wordpiece_tokenizer", "load_bert_tokenizer"]

DEC_TOKEN = "[DEC]"
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def load_bert_tokenizer(path: str | os.PathLike[str]) -> Any:
    """A BERT tokenizer from a local folder, with ``[DEC]`` added as ``bos_token`` when it has
    none (as LAVIS's ``init_tokenizer``). A folder that is not a BERT-style tokenizer (no
    [CLS] / [SEP] / [PAD]) is a clear error."""
    from transformers import AutoTokenizer

    from socratic.errors import ModelLoadError
    from socratic.loaders.hub import hf_errors
    from socratic.loaders.lock import load_lock

    with load_lock, hf_errors("the Q-Former's BERT tokenizer", str(path), key="qformer.tokenizer"):
        tok = AutoTokenizer.from_pretrained(str(path))
    if tok.cls_token_id is None or tok.sep_token_id is None or tok.pad_token_id is None:
        raise ModelLoadError(f"'{path}' is not a BERT-style tokenizer (it needs [CLS], [SEP] "
                             "and [PAD]); the Q-Former's text side uses BERT's WordPiece")
    if tok.bos_token is None:
        tok.add_special_tokens({"bos_token": DEC_TOKEN})
    return tok


def build_wordpiece_tokenizer(
    texts: Iterable[str], out_dir: str | os.PathLike[str], vocab_size: int = 1000
) -> Any:
    """Train a lower-casing BERT WordPiece tokenizer on ``texts`` and save it to ``out_dir``
    (``vocab.txt`` + tokenizer files, loadable by ``BertTokenizerFast``); returns it."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    wp = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wp.normalizer = normalizers.BertNormalizer(lowercase=True)
    wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wp.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=_SPECIAL,
                                        show_progress=False)
    wp.train_from_iterator(list(texts), trainer)
    cls, sep = wp.token_to_id("[CLS]"), wp.token_to_id("[SEP]")
    wp.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok = BertTokenizerFast(tokenizer_object=wp, unk_token="[UNK]", sep_token="[SEP]",
                            pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]",
                            do_lower_case=True)
    os.makedirs(out_dir, exist_ok=True)
    tok.save_pretrained(str(out_dir))
    return tok
