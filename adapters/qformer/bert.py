"""Initialise a Q-Former from a local BERT folder, as BLIP-2 does.

LAVIS builds its Q-Former with ``BertLMHeadModel.from_pretrained("bert-base-uncased")``: the
embeddings (word, position, LayerNorm), every layer's self-attention and feed-forward, and the
LM head (``cls.predictions``) come from BERT; BERT's token-type embeddings and pooler are not
used; the cross-attention layers are new; the queries' feed-forward weights (``*_query``) are
then copied from the text feed-forward ones; the word embeddings grow by one row for [DEC].
:func:`init_from_bert` does the same for our modules (transformers' ``Blip2QFormerModel``
names), and refuses a BERT whose sizes differ from the Q-Former's.

Example:
    >>> report = init_from_bert(model, "/models/bert-base-uncased")   # doctest: +SKIP
    >>> report["copied"], report["new"][:1]                          # doctest: +SKIP
    (201, ['qformer.encoder.layer.0.crossattention.attention.query.weight'])
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

__all__ = ["bert_config", "init_from_bert"]

#: our Blip2QFormerModel layer names <- BERT's (``encoder.layer.N.`` in both)
_LAYER = {
    "attention.attention.": "attention.self.",
    "attention.output.": "attention.output.",
    "intermediate.": "intermediate.",
    "output.": "output.",
    "intermediate_query.": "intermediate.",
    "output_query.": "output.",
}


def bert_config(path: str | os.PathLike[str]) -> Any:
    """The ``BertConfig`` of a local BERT folder (one clear error when it cannot be read)."""
    from transformers import AutoConfig

    from socratic.loaders.hub import hf_errors
    from socratic.loaders.lock import load_lock

    with load_lock, hf_errors("BERT (qformer.bert_path)", str(path), key="qformer.bert_path"):
        return AutoConfig.from_pretrained(str(path))


def check_sizes(arch: Any, cfg: Any, path: str | os.PathLike[str]) -> None:
    """Raise ValueError naming every size where the Q-Former and the BERT folder differ."""
    pairs = {"hidden_size": "hidden_size", "num_layers": "num_hidden_layers",
             "num_heads": "num_attention_heads", "intermediate_size": "intermediate_size"}
    diff = [f"{ours} {getattr(arch, ours)} vs BERT's {getattr(cfg, theirs, None)}"
            for ours, theirs in pairs.items() if getattr(arch, ours) != getattr(cfg, theirs, None)]
    if diff:
        raise ValueError(f"qformer.bert_path {path}: the Q-Former's sizes differ from this BERT's: "
                         + "; ".join(diff) + " (set the qformer sizes to BERT's)")


def _bert_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """BERT's weights by BertModel names (``embeddings.*``, ``encoder.*``) plus ``cls.*``."""
    from transformers import BertForMaskedLM

    from socratic.loaders.hub import hf_errors
    from socratic.loaders.lock import load_lock

    with load_lock, hf_errors("BERT (qformer.bert_path)", str(path), key="qformer.bert_path"):
        model = BertForMaskedLM.from_pretrained(str(path))
    state = {}
    for k, v in model.state_dict().items():
        state[k.removeprefix("bert.")] = v.detach()
    return state


def init_from_bert(model: nn.Module, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Copy BERT's weights into ``model``'s ``qformer`` (and, when present, ``text_embeddings``
    and ``itg_head``); return ``{"copied": n, "new": [names left as initialised]}``."""
    arch = model.arch if hasattr(model, "arch") else model.config
    check_sizes(arch, bert_config(path), path)
    bert = _bert_state(path)
    targets = dict(model.named_parameters())
    sources: dict[str, str] = {}
    for name in targets:
        if name.startswith("qformer.layernorm."):
            sources[name] = "embeddings.LayerNorm." + name.rsplit(".", 1)[1]
        elif name.startswith("qformer.encoder.layer."):
            idx, rest = name.removeprefix("qformer.encoder.layer.").split(".", 1)
            for ours, theirs in _LAYER.items():
                if rest.startswith(ours):
                    sources[name] = f"encoder.layer.{idx}.{theirs}{rest.removeprefix(ours)}"
                    break
        elif name.startswith("text_embeddings."):
            sources[name] = "embeddings." + name.removeprefix("text_embeddings.")
        elif name.startswith("itg_head."):
            sub = name.removeprefix("itg_head.")
            sources[name] = "cls.predictions.bias" if sub == "bias" else f"cls.predictions.transform.{sub}"
    copied = 0
    with torch.no_grad():
        for name, src in sources.items():
            if src not in bert:
                continue
            dst, val = targets[name], bert[src]
            if dst.shape == val.shape:
                dst.copy_(val)
            elif dst.ndim >= 1 and dst.shape[1:] == val.shape[1:] and dst.shape[0] > val.shape[0]:
                dst[: val.shape[0]].copy_(val)  # word embeddings / LM bias grown by [DEC]
            else:
                raise ValueError(f"qformer.bert_path {path}: {src} has shape {tuple(val.shape)}, "
                                 f"{name} needs {tuple(dst.shape)} (use BERT's own tokenizer)")
            copied += 1
    new = sorted(n for n in targets if n not in sources or sources[n] not in bert)
    return {"copied": copied, "new": new}
