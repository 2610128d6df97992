"""Stand-ins for pretrained models in the shapes world (``socratic.adapters.synthetic``), trained
in seconds: a tiny LM that knows the caption language and reads a soft prefix, and a timm image
tower that recognises colours, shapes and relations. Bridges and demos need both: a random LM
ignores any prefix, and a random tiny encoder keeps too little of the image to caption it.

Example:
    >>> import tempfile
    >>> from socratic.adapters.synthetic import all_captions, make_shapes_dataset
    >>> from socratic.testing import make_tiny_lm, train_tokenizer
    >>> lm = make_tiny_lm(tempfile.mkdtemp(), tokenizer=train_tokenizer(all_captions(2)))
    >>> pretrain_lm(lm, make_shapes_dataset(64, seed=0), steps=5) < 10
    True
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _attributes(samples: Sequence[Any]) -> tuple[list[list[int]], list[int]]:
    """Class index of each attribute slot (colour, shape per object, then the relation) of
    each sample, and the number of classes per slot."""
    from socratic.adapters.synthetic import COLORS, RELATIONS, SHAPES

    colors, n_obj = list(COLORS), max(len(s.objects) for s in samples)
    sizes = [len(colors), len(SHAPES)] * n_obj + ([len(RELATIONS)] if n_obj > 1 else [])
    rows = []
    for s in samples:
        row = [i for o in s.objects for i in (colors.index(o.color), SHAPES.index(o.shape))]
        row += [-1] * (2 * n_obj - len(row))
        rows.append(row + ([RELATIONS.index(s.relation) if s.relation else -1] if n_obj > 1 else []))
    return rows, sizes


def pretrain_lm(
    model_dir: str | os.PathLike[str],
    samples: Sequence[Any],
    *,
    steps: int = 400,
    batch_size: int = 32,
    lr: float = 3e-3,
    max_prefix: int = 10,
    seed: int = 0,
) -> float:
    """Train the causal LM saved in ``model_dir`` to write each shapes sample's caption after a
    *soft prefix* (2 to ``max_prefix`` embeddings made from the true attributes by a throw-away
    linear map), save it back and return the last loss. The map is discarded: a bridge must
    still learn, from scratch, to turn images into a prefix the LM reads."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).train()
    width = model.get_input_embeddings().embedding_dim
    rows, sizes = _attributes(samples)
    offsets = [sum(sizes[:j]) for j in range(len(sizes))]
    attrs = torch.zeros(len(rows), sum(sizes))  # one-hot of every slot
    for i, row in enumerate(rows):
        for off, c in zip(offsets, row, strict=True):
            if c >= 0:
                attrs[i, off + c] = 1
    caps = [tok(s.caption, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for s in samples]
    proj = torch.nn.Linear(attrs.shape[1], max_prefix * width)
    opt = torch.optim.AdamW([*model.parameters(), *proj.parameters()], lr=lr)
    emb, pad, loss = model.get_input_embeddings(), tok.pad_token_id, torch.tensor(float("nan"))
    for _ in range(steps):
        idx = rng.sample(range(len(samples)), min(batch_size, len(samples)))
        b, k = len(idx), rng.randint(2, max_prefix)
        batch = [caps[i] for i in idx]
        w = max(map(len, batch))
        ids = torch.tensor([r + [pad] * (w - len(r)) for r in batch])
        mask = torch.tensor([[1] * len(r) + [0] * (w - len(r)) for r in batch])
        prefix = proj(attrs[idx]).view(b, max_prefix, width)[:, max_prefix - k :]
        labels = torch.cat([torch.full((b, k), -100), ids.masked_fill(mask == 0, -100)], 1)
        loss = model(inputs_embeds=torch.cat([prefix, emb(ids)], 1), labels=labels,
                     attention_mask=torch.cat([torch.ones(b, k, dtype=torch.long), mask], 1)).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval().save_pretrained(str(model_dir))
    return float(loss.detach())


def pretrain_vision(
    cfg: Any,
    samples: Sequence[Any],
    out_file: str | os.PathLike[str],
    *,
    steps: int = 200,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
) -> Any:
    """Train the timm tower of ``cfg`` (a ``VisionConfig(backend="timm")``) to classify every
    attribute of the shapes ``samples``, save its weights to ``out_file`` (safetensors) and
    return ``cfg`` pointing at them (``pretrained=out_file``)."""
    import torch
    from safetensors.torch import save_file

    from socratic.adapters.vision import VisionEncoder

    if cfg.backend != "timm":
        raise ValueError("pretrain_vision supports timm towers")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    enc = VisionEncoder(cfg).train()
    rows, sizes = _attributes(samples)
    heads = torch.nn.ModuleList(torch.nn.Linear(enc.pooled_dim, n) for n in sizes)
    opt = torch.optim.AdamW([*enc.parameters(), *heads.parameters()], lr=lr)
    pixels, y = enc.preprocess([s.image for s in samples]), torch.tensor(rows)
    for _ in range(steps):
        idx = torch.tensor(rng.sample(range(len(samples)), min(batch_size, len(samples))))
        pooled = enc(pixels[idx])["pooled"]
        loss = sum(torch.nn.functional.cross_entropy(h(pooled), y[idx, j], ignore_index=-1)
                   for j, h in enumerate(heads))
        opt.zero_grad()
        loss.backward()
        opt.step()
    Path(out_file).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in enc.visual.state_dict().items()}, str(out_file))
    return cfg.model_copy(update={"pretrained": str(out_file)})
