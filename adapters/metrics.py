"""Caption metrics used during training: exact match and BLEU (``socratic.eval``'s).

Example:
    >>> exact_match([["a red circle"]], ["A red circle."])
    1.0
    >>> round(bleu([["a red circle above a blue square"]], ["a red circle above a blue square"]), 3)
    1.0
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["bleu", "caption_metrics", "exact_match", "normalize"]


def normalize(text: str) -> str:
    """Lower case, punctuation removed, single spaces."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def exact_match(references: Sequence[Sequence[str]], hypotheses: Sequence[str]) -> float:
    """Fraction of hypotheses equal (after :func:`normalize`) to one of their references."""
    if not hypotheses:
        return 0.0
    hits = sum(
        normalize(h) in {normalize(r) for r in refs}
        for refs, h in zip(references, hypotheses, strict=True)
    )
    return hits / len(hypotheses)


def bleu(references: Sequence[Sequence[str]], hypotheses: Sequence[str], n: int = 4) -> float:
    """Corpus BLEU-n (0..1), :func:`socratic.eval.caption_metrics.bleu`."""
    from socratic.eval.caption_metrics import bleu as corpus_bleu

    return float(corpus_bleu([list(r) for r in references], list(hypotheses), n=n))


def caption_metrics(
    references: Sequence[Sequence[str]], hypotheses: Sequence[str]
) -> dict[str, float]:
    """``{"exact_match", "bleu4"}`` for a list of hypotheses."""
    return {
        "exact_match": exact_match(references, hypotheses),
        "bleu4": bleu(references, hypotheses, 4),
    }
