"""Few-shot task induction in the shapes world, for the Frozen test.

A frozen LM can only be prompted with interleaved images and text if it reads its context; a
real 7B LM learned that in pretraining, our tiny stand-in learns it here, before any bridge sees
it: :func:`pretrain_fewshot` continues the LM's soft-prefix pretraining (as
``socratic.testing.pretrain_lm``, prefixes from a throw-away linear map, here of a pretrained
image encoder's features) with episodes ``[p1] is red [p2] is blue [q] is`` -> ``green``: the
words after the shots say which attribute (colour or shape of the first-named object) is asked
for, and the answer is the query image's. Caption batches are mixed in so the LM stays a
captioner. The map is discarded: the Frozen bridge is then trained on captions only, as in the
paper, and its few-shot use of the context is what the test measures.

Why not the paper's fast binding (shots name new words for images; the query must get the word
of its matching shot)? It needs the LM to match images in context; our 2-layer, 64-wide LM did
not learn that (loss stayed at ln 2, "one of the two words", after 300-800 steps of batch 32-128
binding episodes), which is beyond a test's time budget. Here the shots' images are not needed
(their words are); the context's text and the query image are.

An episode's answer therefore needs both the shots (which attribute) and the query image (its
value): without the shots the LM captions (" a ..."), with shots of the other kind it names the
other attribute.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

ATTRIBUTES = ("color", "shape")


def word(sample: Any, attribute: str) -> str:
    """The answer word of ``sample`` for ``attribute`` (of its first-named object)."""
    return getattr(sample.objects[0], attribute)


def episode(shots: Sequence[Any], query: Any, attribute: str) -> tuple[list[Any], str]:
    """``(segments for generate_interleaved, expected first word)``:
    ``[shot, " is red", shot, " is blue", query, " is"]`` -> ``"green"``."""
    segments: list[Any] = []
    for s in shots:
        segments += [s.image, " is " + word(s, attribute)]
    return [*segments, query.image, " is"], word(query, attribute)


def pretrain_fewshot(model_dir: str, samples: Sequence[Any], *, steps: int = 200, batch_size: int = 32,
                     lr: float = 3e-3, prefix: int = 2, seed: int = 0, features: Any = None) -> float:
    """Continue training the causal LM in ``model_dir`` on caption and task-induction episodes
    (half of each batch each); save it back and return the last loss."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from socratic.testing.pretrain import _attributes

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).train()
    emb = model.get_input_embeddings()
    width = emb.embedding_dim
    rows, sizes = _attributes(samples)
    offsets = [sum(sizes[:j]) for j in range(len(sizes))]
    attrs = torch.zeros(len(rows), sum(sizes))
    for i, row in enumerate(rows):
        for off, c in zip(offsets, row, strict=True):
            if c >= 0:
                attrs[i, off + c] = 1
    if features is not None:  # image features (e.g. a pretrained encoder's) instead of attributes
        attrs = torch.as_tensor(features).float()
    proj = torch.nn.Linear(attrs.shape[1], prefix * width)
    opt = torch.optim.AdamW([*model.parameters(), *proj.parameters()], lr=lr)

    def ids(text: str) -> list[int]:
        return list(tok(text, add_special_tokens=False)["input_ids"])

    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        seqs, labels = [], []
        for j in range(batch_size):
            pick = rng.sample(range(len(samples)), 3)
            # any scale: a bridge trained later may feed the LM much larger vectors than this map
            pre = proj(attrs[pick]).view(3, prefix, width)
            if j % 2:  # a caption after one prefix
                cap = [*ids(samples[pick[0]].caption), tok.eos_token_id]
                parts, lab = [pre[0], emb(torch.tensor(cap))], [-100] * prefix + cap
            else:      # two shots and a query, all asking for one attribute
                attribute = rng.choice(ATTRIBUTES)
                parts, lab = [], []
                for n, i in enumerate(pick):
                    cue, w = ids(" is"), ids(" " + word(samples[i], attribute))
                    parts += [pre[n], emb(torch.tensor(cue + w))]
                    lab += [-100] * (prefix + len(cue)) + (w if n == 2 else [-100] * len(w))
            seqs.append(torch.cat(parts))
            labels.append(lab)
        n = max(len(x) for x in seqs)
        x = torch.stack([torch.cat([s, s.new_zeros(n - len(s), width)]) for s in seqs])
        mask = torch.tensor([[1] * len(s) + [0] * (n - len(s)) for s in seqs])
        lab = torch.tensor([la + [-100] * (n - len(la)) for la in labels])
        loss = model(inputs_embeds=x, attention_mask=mask, labels=lab).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval().save_pretrained(str(model_dir))
    return float(loss.detach())
