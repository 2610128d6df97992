"""Few-shot episodes: seeded N-way K-shot sampling and similarity-based example selection.

An evaluation's shots and classes must be reproducible: :func:`sample_episode` draws the same
classes, support and query examples for the same seed whatever the order of the pool.

Example:
    >>> pool = [{"text": f"{c} {i}", "label": c} for c in "abcd" for i in range(5)]
    >>> ep = sample_episode(pool, n_way=2, k_shot=2, n_query=1, seed=0)
    >>> len(ep.classes), len(ep.support), len(ep.query)
    (2, 4, 2)
    >>> ep == sample_episode(list(reversed(pool)), n_way=2, k_shot=2, n_query=1, seed=0)
    True
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SocraticError


@dataclass(frozen=True)
class Episode:
    """The classes, support (shots) and query examples of one few-shot episode."""

    classes: list[str]
    support: list[dict[str, Any]]
    query: list[dict[str, Any]]


def _key(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def sample_episode(
    pool: Sequence[dict[str, Any]],
    *,
    n_way: int,
    k_shot: int,
    n_query: int = 1,
    seed: int = 0,
    label_key: str = "label",
) -> Episode:
    """Draw ``n_way`` classes, ``k_shot`` support and ``n_query`` query rows per class.

    Sampling is over the pool sorted canonically, so the episode depends only on the pool's
    content and the seed. Support rows are interleaved by class (a, b, a, b ...) so that no
    class sits last in every prompt.
    """
    by_class: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(pool, key=_key):
        if label_key not in row:
            raise SocraticError(f"episode pool row has no '{label_key}': {row!r:.80}")
        by_class.setdefault(str(row[label_key]), []).append(row)
    need = k_shot + n_query
    eligible = sorted(c for c, rows in by_class.items() if len(rows) >= need)
    if len(eligible) < n_way:
        raise SocraticError(
            f"cannot sample {n_way}-way {k_shot}-shot with {n_query} queries: only "
            f"{len(eligible)} classes have {need} examples"
        )
    rng = random.Random(seed)
    classes = sorted(rng.sample(eligible, n_way))
    support_by: dict[str, list[dict[str, Any]]] = {}
    query: list[dict[str, Any]] = []
    for c in classes:
        picked = rng.sample(by_class[c], need)
        support_by[c] = picked[:k_shot]
        query.extend(picked[k_shot:])
    support = [support_by[c][i] for i in range(k_shot) for c in classes]
    rng.shuffle(query)
    return Episode(classes, support, query)


_WORD = re.compile(r"\w+")


def _tfidf(docs: list[str]) -> list[dict[str, float]]:
    tokenised = [_WORD.findall(d.lower()) for d in docs]
    df = Counter(w for toks in tokenised for w in set(toks))
    n = len(docs)
    vecs = []
    for toks in tokenised:
        tf = Counter(toks)
        v = {w: c * (math.log((1 + n) / (1 + df[w])) + 1) for w, c in tf.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        vecs.append({w: x / norm for w, x in v.items()})
    return vecs


def select_similar(
    query: str,
    pool: Sequence[dict[str, Any]],
    k: int,
    *,
    text_key: str = "text",
    embed: Callable[[list[str]], Any] | None = None,
) -> list[dict[str, Any]]:
    """The ``k`` pool rows most similar to ``query`` (most similar last, nearest the question).

    ``embed`` maps texts to L2-normalised vectors (e.g. a CLIP model's ``embed_texts``); without
    it a TF-IDF cosine is used, which needs no model. Ties keep pool order.

    Example:
        >>> pool = [{"text": "a red apple"}, {"text": "a blue car"}, {"text": "green apple pie"}]
        >>> [r["text"] for r in select_similar("apple tart", pool, 2)]
        ['green apple pie', 'a red apple']
    """
    if k <= 0 or not pool:
        return []
    texts = [str(r[text_key]) for r in pool]
    if embed is not None:
        import numpy as np

        vecs = np.asarray(embed([query, *texts]), dtype=np.float32)
        sims = (vecs[1:] @ vecs[0]).tolist()
    else:
        vecs = _tfidf([query, *texts])
        q = vecs[0]
        sims = [sum(q.get(w, 0.0) * x for w, x in v.items()) for v in vecs[1:]]
    order = sorted(range(len(pool)), key=lambda i: (-sims[i], i))[:k]
    return [pool[i] for i in reversed(order)]
