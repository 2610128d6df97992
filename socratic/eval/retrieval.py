"""Retrieval recall@K from a similarity matrix (text->image and image->text, as on COCO).

A query is a hit at K when one of its relevant items is among the K best-scored items. Ties are
counted pessimistically: the rank of a query is 1 + the number of non-relevant items that score
at least as high as its best relevant item. So a constant similarity matrix scores no better
than chance, and the result does not depend on the order of the items.

Example:
    >>> import numpy as np
    >>> sim = np.array([[0.9, 0.1], [0.8, 0.2]])  # 2 queries x 2 items
    >>> recall_at_k(sim, [0, 1], ks=(1, 2))
    {'R@1': 0.5, 'R@2': 1.0}
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["best_ranks", "coco_relevance", "recall_at_k", "retrieval_scores"]

Relevant = Sequence[int] | Sequence[Iterable[int]]


def _relevant_sets(relevant: Relevant, n_queries: int, n_items: int) -> list[set[int]]:
    if len(relevant) != n_queries:
        raise ValueError(
            f"{n_queries} queries in the similarity matrix but {len(relevant)} relevant"
        )
    sets: list[set[int]] = []
    for q, rel in enumerate(relevant):
        items = {operator.index(rel)} if hasattr(rel, "__index__") else set(rel)
        if not items:
            raise ValueError(f"query {q}: no relevant item")
        bad = [i for i in items if not 0 <= i < n_items]
        if bad:
            raise ValueError(f"query {q}: relevant item {bad[0]} outside 0..{n_items - 1}")
        sets.append(items)
    return sets


def best_ranks(similarity: np.ndarray, relevant: Relevant) -> np.ndarray:
    """Rank (1-based, ties pessimistic) of each query's best-ranked relevant item.

    Args:
        similarity: ``[queries x items]`` scores, higher is better; no NaN.
        relevant: per query one item index or a set of item indices.

    Example:
        >>> import numpy as np
        >>> best_ranks(np.array([[0.5, 0.5, 0.1], [0.1, 0.2, 0.3]]), [1, {0, 1}]).tolist()
        [2, 2]
    """
    import numpy as np

    sim = np.asarray(similarity, dtype=float)
    if sim.ndim != 2:
        raise ValueError(f"similarity must be 2-D [queries x items], got shape {sim.shape}")
    if np.isnan(sim).any():
        raise ValueError("similarity contains NaN")
    sets = _relevant_sets(relevant, sim.shape[0], sim.shape[1])
    ranks = np.empty(sim.shape[0], dtype=int)
    for q, items in enumerate(sets):
        row = sim[q]
        mask = np.zeros(row.shape[0], dtype=bool)
        mask[list(items)] = True
        best = row[mask].max()
        ranks[q] = 1 + int(np.count_nonzero(row[~mask] >= best))
    return ranks


def recall_at_k(
    similarity: np.ndarray, relevant: Relevant, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Fraction of queries with a relevant item in the top K, for each K: ``{"R@1": ...}``.

    Args:
        similarity: ``[queries x items]`` scores, higher is better. For text->image on COCO the
            queries are captions and the items images; for image->text the transpose.
        relevant: per query one item index (``list[int]``) or a set of indices
            (``list[set[int]]``, e.g. an image's five captions).
        ks: the cut-offs; a K above the number of items gives 1.0.

    Ties count pessimistically (see the module docstring).

    Example:
        >>> import numpy as np
        >>> sim = np.array([[0.1, 0.7, 0.3], [0.6, 0.6, 0.0]])
        >>> recall_at_k(sim, [{1, 2}, {1}], ks=(1, 2))  # query 2 ties with a wrong item
        {'R@1': 0.5, 'R@2': 1.0}
    """
    if any(k < 1 for k in ks):
        raise ValueError(f"every k must be at least 1, got {tuple(ks)}")
    ranks = best_ranks(similarity, relevant)
    if ranks.size == 0:
        raise ValueError("no queries")
    return {f"R@{k}": float((ranks <= k).mean()) for k in ks}


def coco_relevance(caption_to_image: Sequence[int]) -> tuple[list[int], list[set[int]]]:
    """Relevance lists for both directions from the image index of each caption.

    Returns ``(text_to_image, image_to_text)``: the relevant image of each caption, and the set
    of caption indices of each image (images numbered ``0..max``; every one needs a caption).

    Example:
        >>> coco_relevance([0, 0, 1, 1, 1])
        ([0, 0, 1, 1, 1], [{0, 1}, {2, 3, 4}])
    """
    t2i = [int(i) for i in caption_to_image]
    if not t2i:
        raise ValueError("no captions")
    if min(t2i) < 0:
        raise ValueError("image indices must be non-negative")
    i2t: list[set[int]] = [set() for _ in range(max(t2i) + 1)]
    for caption, image in enumerate(t2i):
        i2t[image].add(caption)
    missing = [i for i, caps in enumerate(i2t) if not caps]
    if missing:
        raise ValueError(f"image {missing[0]} has no caption")
    return t2i, i2t


def retrieval_scores(
    image_text_similarity: np.ndarray,
    caption_to_image: Sequence[int],
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """Image->text and text->image recall@K from one ``[images x captions]`` similarity matrix.

    Keys are ``"i2t R@K"`` and ``"t2i R@K"``; an image->text query is a hit when any of the
    image's captions is in the top K.

    Example:
        >>> import numpy as np
        >>> sim = np.array([[0.9, 0.8, 0.1], [0.2, 0.95, 0.7]])  # 2 images x 3 captions
        >>> retrieval_scores(sim, [0, 0, 1], ks=(1,))
        {'i2t R@1': 0.5, 't2i R@1': 0.6666666666666666}
    """
    import numpy as np

    sim = np.asarray(image_text_similarity, dtype=float)
    t2i, i2t = coco_relevance(caption_to_image)
    if sim.shape != (len(i2t), len(t2i)):
        raise ValueError(
            f"similarity shape {sim.shape} does not match {len(i2t)} images x {len(t2i)} captions"
        )
    scores = {f"i2t {k}": v for k, v in recall_at_k(sim, i2t, ks).items()}
    scores.update({f"t2i {k}": v for k, v in recall_at_k(sim.T, t2i, ks).items()})
    return scores
