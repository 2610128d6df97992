"""Caption metrics as in the COCO caption evaluation: BLEU-1..4, ROUGE-L and CIDEr-D.

Pure Python (no Java, no numpy). The numbers match ``pycocoevalcap`` 1.2 (``Bleu``, ``Rouge``,
``Cider``) on the same tokenized text, quirks included, so that they can be compared with
published COCO results:

* BLEU is a corpus BLEU with the "closest" effective reference length (ties go to the shorter
  reference) and pycocoevalcap's smoothing constants (1e-15 / 1e-9): a corpus without a single
  matching 4-gram gets a BLEU-4 near 1e-4, not exactly 0.
* ROUGE-L takes the maximum precision and the maximum recall over an image's references
  separately (possibly from different references), then the F-measure with beta 1.2.
* CIDEr is CIDEr-D (pycocoevalcap's ``Cider``): tf-idf over the references of the corpus scored,
  n = 1..4, clipping, a Gaussian length penalty with sigma 6, times 10. As in pycocoevalcap, the
  "length" in the penalty is the number of bigrams of a sentence (its words minus one).

Every scorer takes ``references`` (one list of reference captions per image) and ``hypotheses``
(one caption per image, same order) and tokenizes them with :func:`tokenize` first, unless
``pretokenized=True`` (then the strings are only split on whitespace).

Example:
    >>> refs = [["A dog runs on the grass.", "a dog running"], ["Two cats sleep."]]
    >>> hyps = ["a dog runs", "two cats sleep"]
    >>> scores = caption_scores(refs, hyps)
    >>> sorted(scores)
    ['BLEU-1', 'BLEU-2', 'BLEU-3', 'BLEU-4', 'CIDEr', 'ROUGE-L']
    >>> round(scores["BLEU-1"], 4)
    1.0
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["bleu", "bleu_all", "caption_scores", "cider", "rouge_l", "tokenize"]

# Typographic quotes, dashes and the ellipsis become ASCII first, as PTB does.
_ASCII = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "--",
        "\u2026": "...",
    }
)
# Tokens made only of these characters are removed (COCO drops PTB's punctuation tokens).
_PUNCT_CHARS = frozenset(".,?!:;'\"`-()[]{}")
_CLITIC = r"'(?:s|re|ve|ll|d|m)\b"
_ABBREVIATION = r"(?:[^\W\d_]\.){2,}"  # t.v. e.g. u.s.a.
_TOKEN = re.compile(rf"{_CLITIC}|n't\b|{_ABBREVIATION}|\w+(?:[-'./+&]\w+)*|\S")


def tokenize(text: str) -> str:
    """Tokenize a caption roughly as COCO's PTB tokenizer does for plain sentences.

    Lowercases; maps typographic quotes, dashes and ellipses to ASCII; splits off the clitics
    ``'s 're 've 'll 'd 'm n't`` (``can't`` -> ``ca n't``, ``cannot`` -> ``can not``); keeps
    hyphenated words, decimals and abbreviations as one token (``black-and-white``, ``3.5``,
    ``t.v.``); drops punctuation tokens (``. , ? ! : ; - --`` quotes, brackets, ellipses); joins
    the tokens with single spaces. Other symbols (``$ % &``) stay as tokens, as in PTB. Unlike
    COCO's tokenizer, brackets are dropped (its lowercased ``-lrb-`` escapes slip past its
    punctuation filter) and only dotted letter sequences count as abbreviations (PTB also keeps
    e.g. ``m.`` from ``3.5 m. long``). Tokenizing twice gives the same text.

    Example:
        >>> tokenize("A man's dog, running -- fast! Isn't it \\"great\\"?")
        "a man 's dog running fast is n't it great"
        >>> tokenize("Two black-and-white cats (sleeping) on a 3.5 m sofa...")
        'two black-and-white cats sleeping on a 3.5 m sofa'
    """
    text = text.lower().translate(_ASCII)
    text = re.sub(r"\bcannot\b", "can not", text)
    text = re.sub(r"(\w)n't\b", r"\1 n't", text)
    text = re.sub(rf"(\w){_CLITIC}", lambda m: m.group(1) + " " + m.group(0)[1:], text)
    tokens = _TOKEN.findall(text)
    return " ".join(t for t in tokens if not all(c in _PUNCT_CHARS for c in t))


_Gram = tuple[str, ...]
_Refs = list[list[list[str]]]  # per image, per reference, the tokens
_Hyps = list[list[str]]  # per image, the hypothesis tokens


def _prepare(
    references: Sequence[Sequence[str]], hypotheses: Sequence[str], pretokenized: bool
) -> tuple[_Refs, _Hyps]:
    """Check the corpus shape and return (refs, hyps) as lists of token lists."""
    if isinstance(hypotheses, str):
        raise TypeError("hypotheses must be a list of strings (one per image), not a string")
    if len(references) != len(hypotheses):
        raise ValueError(
            f"{len(references)} reference lists but {len(hypotheses)} hypotheses; "
            "give one list of references and one hypothesis per image"
        )
    if not hypotheses:
        raise ValueError("empty corpus: no hypotheses to score")
    split = str.split if pretokenized else (lambda s: tokenize(s).split())
    refs: _Refs = []
    for i, image_refs in enumerate(references):
        if isinstance(image_refs, str) or not image_refs:
            raise ValueError(f"image {i}: references must be a non-empty list of strings")
        refs.append([split(r) for r in image_refs])
    return refs, [split(h) for h in hypotheses]


def _ngrams(words: Sequence[str], n: int) -> Counter[_Gram]:
    """Counts of all k-grams of ``words`` for k = 1..n."""
    return Counter(
        tuple(words[i : i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1)
    )


# ---------------------------------------------------------------- BLEU


def bleu_all(
    references: Sequence[Sequence[str]],
    hypotheses: Sequence[str],
    n: int = 4,
    *,
    pretokenized: bool = False,
) -> list[float]:
    """Corpus BLEU-1..BLEU-n (COCO's BLEU: closest reference length, pycocoevalcap smoothing).

    Clipped n-gram matches and hypothesis n-gram counts are summed over the corpus; BLEU-k is the
    geometric mean of the precisions 1..k times the brevity penalty ``exp(1 - r/c)`` when the
    total hypothesis length ``c`` is below the total effective reference length ``r`` (for each
    image the reference length closest to the hypothesis length, the shorter one on a tie).

    Example:
        >>> [round(b, 6) for b in bleu_all([["the cat sat on a mat"]], ["the cat sat on a mat"])]
        [1.0, 1.0, 1.0, 1.0]
        >>> [round(b, 4) for b in bleu_all([["a b c d"]], ["a b"], n=2)]  # brevity: exp(1 - 4/2)
        [0.3679, 0.3679]
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return _bleu_tokens(*_prepare(references, hypotheses, pretokenized), n)


def _bleu_tokens(refs: _Refs, hyps: _Hyps, n: int) -> list[float]:
    tiny, small = 1e-15, 1e-9  # pycocoevalcap's constants, kept for identical numbers
    correct = [0] * n
    guess = [0] * n
    test_len = 0
    ref_len = 0
    for image_refs, hyp in zip(refs, hyps, strict=True):
        max_counts: dict[_Gram, int] = {}
        for ref in image_refs:
            for gram, count in _ngrams(ref, n).items():
                max_counts[gram] = max(max_counts.get(gram, 0), count)
        for gram, count in _ngrams(hyp, n).items():
            correct[len(gram) - 1] += min(max_counts.get(gram, 0), count)
        for k in range(n):
            guess[k] += max(0, len(hyp) - k)
        test_len += len(hyp)
        ref_len += min((abs(len(r) - len(hyp)), len(r)) for r in image_refs)[1]
    scores: list[float] = []
    product = 1.0
    for k in range(n):
        product *= (correct[k] + tiny) / (guess[k] + small)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (test_len + tiny) / (ref_len + small)
    if ratio < 1:
        penalty = math.exp(1 - 1 / ratio)
        scores = [s * penalty for s in scores]
    return scores


def bleu(
    references: Sequence[Sequence[str]],
    hypotheses: Sequence[str],
    n: int = 4,
    *,
    pretokenized: bool = False,
) -> float:
    """Corpus BLEU-n (default BLEU-4); see :func:`bleu_all`.

    Example:
        >>> round(bleu([["a dog runs fast"]], ["a dog runs fast"]), 6)
        1.0
        >>> round(bleu([["a b c d"]], ["a b c x"], n=1), 4)
        0.75
    """
    return bleu_all(references, hypotheses, n, pretokenized=pretokenized)[-1]


# ---------------------------------------------------------------- ROUGE-L


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (O(len(a) * len(b)))."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(
    references: Sequence[Sequence[str]],
    hypotheses: Sequence[str],
    *,
    beta: float = 1.2,
    pretokenized: bool = False,
) -> float:
    """ROUGE-L F-measure (beta 1.2) per image, averaged over the corpus, as in pycocoevalcap.

    Per image: precision ``LCS/len(hyp)`` and recall ``LCS/len(ref)`` are each maximised over the
    references, then ``F = (1 + b^2) P R / (R + b^2 P)`` (0 when either is 0). An empty
    hypothesis scores 0 (pycocoevalcap would give an empty hypothesis 1 against an empty
    reference; this function gives 0).

    Example:
        >>> round(rouge_l([["a b c d"]], ["a b c d"]), 6)
        1.0
        >>> round(rouge_l([["a b c d"]], ["a b"]), 4)  # P = 1, R = 0.5: 2.44 * 0.5 / 1.94
        0.6289
    """
    return _rouge_tokens(*_prepare(references, hypotheses, pretokenized), beta)


def _rouge_tokens(refs: _Refs, hyps: _Hyps, beta: float = 1.2) -> float:
    total = 0.0
    for image_refs, hyp in zip(refs, hyps, strict=True):
        if not hyp:
            continue
        lcs = [_lcs_length(ref, hyp) for ref in image_refs]
        precision = max(x / len(hyp) for x in lcs)
        recall = max(x / len(ref) if ref else 0.0 for x, ref in zip(lcs, image_refs, strict=True))
        if precision and recall:
            total += (1 + beta**2) * precision * recall / (recall + beta**2 * precision)
    return total / len(hyps)


# ---------------------------------------------------------------- CIDEr-D


def _tfidf(
    counts: Counter[_Gram], doc_freq: Counter[_Gram], log_n_images: float, n: int
) -> tuple[list[dict[_Gram, float]], list[float], int]:
    """tf-idf vectors per n-gram order, their norms and the sentence's bigram count."""
    vectors: list[dict[tuple[str, ...], float]] = [{} for _ in range(n)]
    norms = [0.0] * n
    for gram, tf in counts.items():
        k = len(gram) - 1
        weight = tf * (log_n_images - math.log(max(1.0, doc_freq[gram])))
        vectors[k][gram] = weight
        norms[k] += weight * weight
    bigrams = sum(tf for gram, tf in counts.items() if len(gram) == 2)
    return vectors, [math.sqrt(x) for x in norms], bigrams


def cider(
    references: Sequence[Sequence[str]],
    hypotheses: Sequence[str],
    *,
    n: int = 4,
    sigma: float = 6.0,
    pretokenized: bool = False,
) -> float:
    """Corpus CIDEr-D as pycocoevalcap's ``Cider`` (the number COCO papers report as CIDEr).

    Document frequencies come from the references of the corpus being scored (so the score of
    one image depends on the others). For each image and each reference: per n-gram order, the
    cosine of tf-idf vectors with the hypothesis weights clipped to the reference weights, times
    ``exp(-delta^2 / (2 sigma^2))`` where delta is the difference of bigram counts; averaged over
    orders 1..n and references, times 10; the corpus score is the mean over images. A corpus of
    one image always scores 0 (every idf is ``log(1/1)``).

    Example:
        >>> refs = [["a dog runs"], ["a cat sleeps"], ["two birds fly"]]
        >>> round(cider(refs, ["a dog runs", "a cat sleeps", "two birds fly"]), 4)  # no 4-grams
        7.5
        >>> cider(refs, ["red car", "blue sky", "green tree"])
        0.0
    """
    return _cider_tokens(*_prepare(references, hypotheses, pretokenized), n, sigma)


def _cider_tokens(refs: _Refs, hyps: _Hyps, n: int = 4, sigma: float = 6.0) -> float:
    ref_counts = [[_ngrams(r, n) for r in image_refs] for image_refs in refs]
    doc_freq: Counter[_Gram] = Counter()
    for image_counts in ref_counts:
        doc_freq.update({gram for counts in image_counts for gram in counts})
    log_n_images = math.log(len(refs))
    penalty_scale = 2 * sigma**2
    total = 0.0
    for image_counts, hyp in zip(ref_counts, hyps, strict=True):
        vec_h, norm_h, len_h = _tfidf(_ngrams(hyp, n), doc_freq, log_n_images, n)
        image_score = 0.0
        for counts in image_counts:
            vec_r, norm_r, len_r = _tfidf(counts, doc_freq, log_n_images, n)
            penalty = math.exp(-((len_h - len_r) ** 2) / penalty_scale)
            for k in range(n):
                ref_vec = vec_r[k]
                dot = sum(
                    min(w, ref_vec.get(g, 0.0)) * ref_vec.get(g, 0.0) for g, w in vec_h[k].items()
                )
                if norm_h[k] and norm_r[k]:
                    dot /= norm_h[k] * norm_r[k]
                image_score += dot * penalty
        total += image_score / n / len(image_counts) * 10.0
    return total / len(hyps)


# ---------------------------------------------------------------- all together


def caption_scores(
    references: Sequence[Sequence[str]],
    hypotheses: Sequence[str],
    *,
    pretokenized: bool = False,
) -> dict[str, float | None]:
    """BLEU-1..4, ROUGE-L and CIDEr (CIDEr-D) of a corpus, keyed as in COCO result tables.
    BLEU-k is ``None`` (not meaningful) when no hypothesis has k words: the number would be
    only the smoothing constant (``bleu_all`` keeps pycocoevalcap's value).

    Example:
        >>> s = caption_scores([["a dog runs"], ["a cat sleeps"]], ["a dog runs", "a cat"])
        >>> list(s)
        ['BLEU-1', 'BLEU-2', 'BLEU-3', 'BLEU-4', 'ROUGE-L', 'CIDEr']
        >>> round(s["ROUGE-L"], 4)  # image 2: P = 1, R = 2/3
        0.8861
        >>> caption_scores([["red"], ["blue"]], ["red", "green"])["BLEU-2"] is None  # one-word answers
        True
    """
    refs, hyps = _prepare(references, hypotheses, pretokenized)
    longest = max((len(h) for h in hyps), default=0)
    scores: dict[str, float | None] = {
        # BLEU-k of hypotheses without a single k-gram is only pycocoevalcap's smoothing constant
        # (1e-15 / 1e-9 to the power 1/k): reported as None, "not meaningful"
        f"BLEU-{k}": v if longest >= k else None
        for k, v in enumerate(_bleu_tokens(refs, hyps, 4), start=1)
    }
    scores["ROUGE-L"] = _rouge_tokens(refs, hyps)
    scores["CIDEr"] = _cider_tokens(refs, hyps)
    return scores
