"""Caption metrics used during training: exact match and BLEU (from
``socratic.eval.caption_metrics`` when available, else a small corpus BLEU of our own).

Example:
    >>> exact_match([["a red circle"]], ["A red circle."])
    1.0
    >>> round(bleu([["a red circle above a blue square"]], ["a red circle above a blue square"]), 3)
    1.0
"""

from __future__ import annotations

import math
import re
from collections import Counter
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


def _own_bleu(references: Sequence[Sequence[str]], hypotheses: Sequence[str], n: int = 4) -> float:
    match, total = [0] * n, [0] * n
    hyp_len = ref_len = 0
    for refs, hyp in zip(references, hypotheses, strict=True):
        h = normalize(hyp).split()
        rs = [normalize(r).split() for r in refs]
        hyp_len += len(h)
        ref_len += min((abs(len(r) - len(h)), len(r)) for r in rs)[1] if rs else 0
        for k in range(1, n + 1):
            hc = Counter(tuple(h[i : i + k]) for i in range(len(h) - k + 1))
            best: Counter[tuple[str, ...]] = Counter()
            for r in rs:
                best |= Counter(tuple(r[i : i + k]) for i in range(len(r) - k + 1))
            match[k - 1] += sum(min(c, best[g]) for g, c in hc.items())
            total[k - 1] += max(len(h) - k + 1, 0)
    if hyp_len == 0 or min(match) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(match, total, strict=True)) / n
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / max(hyp_len, 1))
    return bp * math.exp(log_p)


def bleu(references: Sequence[Sequence[str]], hypotheses: Sequence[str], n: int = 4) -> float:
    """Corpus BLEU-n (0..1)."""
    try:
        from socratic.eval.caption_metrics import bleu as _bleu
    except ImportError:
        return _own_bleu(references, hypotheses, n)
    return float(_bleu([list(r) for r in references], list(hypotheses), n=n))


def caption_metrics(
    references: Sequence[Sequence[str]], hypotheses: Sequence[str]
) -> dict[str, float]:
    """``{"exact_match", "bleu4"}`` for a list of hypotheses."""
    return {
        "exact_match": exact_match(references, hypotheses),
        "bleu4": bleu(references, hypotheses, 4),
    }
