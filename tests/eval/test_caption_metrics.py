"""Caption metrics: agreement with pycocoevalcap, hand-computed cases, the tokenizer."""

from __future__ import annotations

import contextlib
import io
import math
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from socratic.eval.caption_metrics import bleu, bleu_all, caption_scores, cider, rouge_l, tokenize

# (plain caption, COCO tokenization: Stanford PTBTokenizer -preserveLines -lowerCase, then
# pycocoevalcap's punctuation filter), produced once with pycocoevalcap 1.2's jar.
PTB_CASES = [
    ("A man riding a wave on top of a surfboard.", "a man riding a wave on top of a surfboard"),
    ("A group of people standing around a kitchen.", "a group of people standing around a kitchen"),
    ("Two dogs playing with a frisbee in the park!", "two dogs playing with a frisbee in the park"),
    ("A woman's hand holding a cell phone.", "a woman 's hand holding a cell phone"),
    (
        "The cat is sleeping on the laptop's keyboard.",
        "the cat is sleeping on the laptop 's keyboard",
    ),
    (
        "Isn't that a black-and-white photo of a train?",
        "is n't that a black-and-white photo of a train",
    ),
    ("A plate with broccoli, carrots, and rice.", "a plate with broccoli carrots and rice"),
    (
        "A young boy swinging a bat at a baseball; the catcher waits.",
        "a young boy swinging a bat at a baseball the catcher waits",
    ),
    (
        "There's a clock tower in the middle of the city.",
        "there 's a clock tower in the middle of the city",
    ),
    (
        "Kids don't like vegetables, they won't eat them.",
        "kids do n't like vegetables they wo n't eat them",
    ),
    ('A bus that says "downtown" on the front.', "a bus that says downtown on the front"),
    (
        "A close up of a pizza with cheese and pepperoni...",
        "a close up of a pizza with cheese and pepperoni",
    ),
    (
        "An old-fashioned red fire hydrant on a sidewalk",
        "an old-fashioned red fire hydrant on a sidewalk",
    ),
    (
        "A man in a suit and tie: looking at the camera",
        "a man in a suit and tie looking at the camera",
    ),
    ("a giraffe standing next to a tree in a zoo", "a giraffe standing next to a tree in a zoo"),
    (
        "Three zebras grazing in the grass - near a river.",
        "three zebras grazing in the grass near a river",
    ),
    ("A man with a 3.5 inch knife cuts a cake", "a man with a 3.5 inch knife cuts a cake"),
    ("The women's restroom sign is blue & white", "the women 's restroom sign is blue & white"),
    ("A dog that can't catch a frisbee.", "a dog that ca n't catch a frisbee"),
    ("Two people cannot fit on this bench.", "two people can not fit on this bench"),
    ("A baby elephant walking with its mother", "a baby elephant walking with its mother"),
    (
        "I'm looking at a giraffe, you're looking at a zebra, we've seen it all.",
        "i 'm looking at a giraffe you 're looking at a zebra we 've seen it all",
    ),
    (
        "People's bags sit on the airport's conveyor belt.",
        "people 's bags sit on the airport 's conveyor belt",
    ),
    (
        "A vase filled with yellow flowers on a wooden table",
        "a vase filled with yellow flowers on a wooden table",
    ),
    ("A man is holding an umbrella--in the rain.", "a man is holding an umbrella in the rain"),
    (
        "A skateboarder does a trick at the skate park",
        "a skateboarder does a trick at the skate park",
    ),
    (
        "A teddy bear sitting on a bed ' next to a pillow",
        "a teddy bear sitting on a bed next to a pillow",
    ),
    ("A room with a t.v., a couch and a lamp.", "a room with a t.v. a couch and a lamp"),
    ("The bathroom has a toilet, sink, and mirror.", "the bathroom has a toilet sink and mirror"),
    ("It's a sunny day at the beach", "it 's a sunny day at the beach"),
    (
        "A man\u2019s dog isn\u2019t here \u201cquoted\u201d \u2014 ok\u2026 caf\u00e9 na\u00efve",
        "a man 's dog is n't here quoted ok caf\u00e9 na\u00efve",
    ),
    ("Cats\u2019 toys", "cats toys"),
]

COCO_PUNCTUATION = {
    "''",
    "'",
    "``",
    "`",
    "-LRB-",
    "-RRB-",
    "-LCB-",
    "-RCB-",
    ".",
    "?",
    "!",
    ",",
    ":",
    "-",
    "--",
    "...",
    ";",
}


# ---------------------------------------------------------------- agreement with pycocoevalcap

VOCAB = ("a", "the", "dog", "cat", "man", "woman", "red", "blue", "runs", "sits", "on", "in")
VOCAB += ("grass", "table", "with", "ball")


def _coco(refs: list[list[str]], hyps: list[str]) -> list[float]:
    """BLEU-1..4, ROUGE-L, CIDEr from pycocoevalcap's own classes (no Java tokenizer)."""
    from pycocoevalcap.bleu.bleu import Bleu as bleu_cls
    from pycocoevalcap.cider.cider import Cider as cider_cls
    from pycocoevalcap.rouge.rouge import Rouge as rouge_cls
    gts = {i: list(r) for i, r in enumerate(refs)}
    res = {i: [h] for i, h in enumerate(hyps)}
    with contextlib.redirect_stdout(io.StringIO()):
        b, _ = bleu_cls(4).compute_score(gts, res, verbose=0)
    r, _ = rouge_cls().compute_score(gts, res)
    c, _ = cider_cls().compute_score(gts, res)
    return [*b, float(r), float(c)]


def _ours(refs: list[list[str]], hyps: list[str]) -> list[float]:
    return list(caption_scores(refs, hyps, pretokenized=True).values())


HANDMADE_CORPUS = (
    [
        [
            "a man riding a wave on top of a surfboard",
            "a surfer rides a big wave",
            "a person on a surfboard riding a wave in the ocean",
        ],
        ["two dogs play with a frisbee in the park", "dogs playing frisbee"],
        [
            "a plate of food with broccoli and rice",
            "a plate with broccoli carrots and rice",
            "broccoli and rice on a white plate",
            "a healthy meal on a plate",
            "food on a plate",
        ],
        ["a red fire hydrant on a sidewalk"],
        ["a cat sleeping on a laptop keyboard", "the cat is asleep on the laptop"],
        ["a clock tower in the middle of the city", "a tall clock tower"],
    ],
    [
        "a man riding a wave on a surfboard",  # close paraphrase
        "a dog",  # much shorter than every reference
        "a plate of food with broccoli and rice and carrots and a fork and a knife on a table",
        "zebras grazing near a river",  # no n-gram overlap beyond "a"
        "cat cat cat cat cat cat",  # repeated word: clipping matters
        "the the the the",  # only a word that is frequent in the corpus
    ],
)


def test_matches_pycocoevalcap_on_handmade_corpus() -> None:
    refs, hyps = HANDMADE_CORPUS
    ours, coco = _ours(refs, hyps), _coco(refs, hyps)
    assert ours == pytest.approx(coco, abs=1e-9)
    assert 0 < ours[0] < 1 and ours[5] > 0  # a non-trivial corpus


@pytest.mark.parametrize("seed", range(12))
def test_matches_pycocoevalcap_on_random_corpora(seed: int) -> None:
    rng = random.Random(seed)
    vocab = VOCAB

    def sentence(lo: int, hi: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(lo, hi)))

    n_images = rng.randint(2, 15)
    refs = [[sentence(1, 12) for _ in range(rng.randint(1, 5))] for _ in range(n_images)]
    hyps = [sentence(1, 16) for _ in range(n_images)]
    assert _ours(refs, hyps) == pytest.approx(_coco(refs, hyps), abs=1e-9)


def test_matches_pycocoevalcap_when_nothing_overlaps() -> None:
    refs = [["a b c d e"], ["f g h"], ["i j k l"]]
    hyps = ["v w x y z", "u t", "s r q p o n"]
    ours, coco = _ours(refs, hyps), _coco(refs, hyps)
    assert ours == pytest.approx(coco, abs=1e-12)
    assert ours[0] < 1e-9 and ours[4:] == [0.0, 0.0]


# ---------------------------------------------------------------- BLEU by hand


def test_bleu_clips_counts_by_the_max_over_references() -> None:
    refs = [["the cat is on the mat", "there is a cat on the mat"]]
    # "the" appears at most twice in one reference: 2 of 7 unigrams count; closest ref len 7
    assert bleu(refs, ["the the the the the the the"], n=1) == pytest.approx(2 / 7)


def test_bleu_closest_reference_length_prefers_the_shorter_on_a_tie() -> None:
    # hypothesis of 5 words; references of 4 and 6 words are equally close: 4 is used, no
    # brevity penalty (choosing 6 would multiply by exp(1 - 6/5))
    refs = [["a b c d", "a b c d e f"]]
    assert bleu(refs, ["a b c d x"], n=1) == pytest.approx(4 / 5)


def test_bleu_brevity_penalty_uses_corpus_lengths() -> None:
    refs = [["a b c d e f"], ["g h i j"]]
    hyps = ["a b c", "g h i j"]  # 7 hypothesis words against 10 reference words
    assert bleu(refs, hyps, n=1) == pytest.approx(math.exp(1 - 10 / 7))


def test_bleu_is_a_corpus_score_not_a_mean_of_sentence_scores() -> None:
    refs = [["a b"], ["w x y z"]]
    hyps = ["a b", "c d e f"]  # 2 of 6 unigrams match; mean of sentence BLEU-1 would be 0.5
    assert bleu(refs, hyps, n=1) == pytest.approx(1 / 3)


def test_bleu_geometric_mean_of_precisions() -> None:
    # p1 = 3/4, p2 = 2/3, p3 = 1/2, p4 = tiny (no matching 4-gram)
    scores = bleu_all([["a b c d"]], ["a b c x"])
    assert scores[:3] == pytest.approx([3 / 4, (3 / 4 * 2 / 3) ** 0.5, (3 / 4 * 2 / 3 * 1 / 2) ** (1 / 3)])
    # pycocoevalcap's smoothing: 1e-15 for the missing 4-gram match, so near 0 but not 0
    assert 0 < scores[3] < 1e-3
    assert bleu([["a b c d"]], ["a b c x"]) == scores[3]


def test_bleu_n_and_perfect_match() -> None:
    assert len(bleu_all([["a b c"]], ["a b c"], n=2)) == 2
    assert bleu_all([["a b c d e"]], ["a b c d e"]) == pytest.approx([1.0] * 4)
    with pytest.raises(ValueError, match="n must be"):
        bleu([["a"]], ["a"], n=0)


# ---------------------------------------------------------------- ROUGE-L by hand


def _f(p: float, r: float, beta: float = 1.2) -> float:
    return (1 + beta**2) * p * r / (r + beta**2 * p)


def test_rouge_l_single_reference() -> None:
    # LCS("a b c d e", "a c e x") = "a c e" = 3: P = 3/4, R = 3/5
    assert rouge_l([["a b c d e"]], ["a c e x"]) == pytest.approx(_f(3 / 4, 3 / 5))


def test_rouge_l_takes_max_precision_and_max_recall_separately() -> None:
    # ref 1: LCS 2, P = 1/2, R = 1; ref 2: LCS 4, P = 1, R = 1/2 -> P = R = 1 as in pycocoevalcap
    assert rouge_l([["a b", "a b c d e f g h"]], ["a b c d"]) == pytest.approx(1.0)


def test_rouge_l_averages_over_images_and_handles_empty_and_disjoint() -> None:
    refs = [["a b c d"], ["x y"], ["p q"]]
    hyps = ["a b", "", "r s"]
    assert rouge_l(refs, hyps) == pytest.approx(_f(1.0, 0.5) / 3)


def test_rouge_l_lcs_is_a_subsequence_not_a_substring() -> None:
    # LCS("a x b y c", "a b c") = 3 though no common substring is longer than 1
    assert rouge_l([["a x b y c"]], ["a b c"]) == pytest.approx(_f(1.0, 3 / 5))


# ---------------------------------------------------------------- CIDEr-D by hand


def test_cider_perfect_two_word_captions() -> None:
    # idf of every n-gram = log(2); unigram and bigram cosines are 1, no 3- or 4-grams: 10 * 2/4
    assert cider([["a b"], ["c d"]], ["a b", "c d"]) == pytest.approx(5.0)


def test_cider_extra_words_and_length_penalty() -> None:
    # image 1: hypothesis "a b x y" (unseen x, y get the idf of a one-image n-gram, log 2)
    #   unigram cosine 2 / (2 * sqrt 2), bigram cosine 1 / sqrt 3, penalty exp(-(3 - 1)^2 / 72)
    # image 2: perfect, 5.0
    image1 = (1 / math.sqrt(2) + 1 / math.sqrt(3)) / 4 * 10 * math.exp(-4 / 72)
    got = cider([["a b"], ["c d"]], ["a b x y", "c d"])
    assert got == pytest.approx((image1 + 5.0) / 2)


def test_cider_clips_repeated_words() -> None:
    # hypothesis "a a a b" vs reference "a b": the unigram "a" counts once in the dot product
    # (w = log 2 each): dot = w^2 (a, clipped) + w^2 (b); |h| = w sqrt(9 + 1), |r| = w sqrt 2
    # bigram: hypothesis {aa: 2, ab: 1}, reference {ab}: cosine 1 / sqrt 5; penalty delta = 3 - 1
    uni = 2 / (math.sqrt(10) * math.sqrt(2))
    bi = 1 / math.sqrt(5)
    image1 = (uni + bi) / 4 * 10 * math.exp(-4 / 72)
    assert cider([["a b"], ["c d"]], ["a a a b", "c d"]) == pytest.approx((image1 + 5.0) / 2)


def test_cider_single_image_corpus_is_zero_and_references_are_averaged() -> None:
    assert cider([["a b c"]], ["a b c"]) == 0.0
    # second reference shares nothing: image 1 score halves
    assert cider([["a b", "e f"], ["c d"]], ["a b", "c d"]) == pytest.approx((2.5 + 5.0) / 2)


# ---------------------------------------------------------------- tokenizer and inputs


@pytest.mark.parametrize(("raw", "expected"), PTB_CASES)
def test_tokenize_matches_coco_ptb_tokenization(raw: str, expected: str) -> None:
    assert tokenize(raw) == expected
    assert tokenize(expected) == expected  # idempotent


def test_tokenize_documented_differences_from_ptb() -> None:
    assert tokenize("A dog (brown) on a {mat}.") == "a dog brown on a mat"  # PTB: -lrb- etc.
    assert tokenize("   ") == ""


def test_tokenize_against_live_ptb_when_java_is_available() -> None:
    import pycocoevalcap.tokenizer.ptbtokenizer as ptb

    jar_dir = Path(ptb.__file__).parent
    jar = jar_dir / "stanford-corenlp-3.4.1.jar"
    if shutil.which("java") is None or not jar.exists():
        pytest.skip("needs java and pycocoevalcap's Stanford CoreNLP jar")
    sentences = [raw for raw, _ in PTB_CASES]
    cmd = [
        "java",
        "-cp",
        str(jar),
        "edu.stanford.nlp.process.PTBTokenizer",
        "-preserveLines",
        "-lowerCase",
        "-encoding",
        "utf-8",
    ]
    out = subprocess.run(
        cmd,
        input="\n".join(sentences),
        capture_output=True,
        encoding="utf-8",
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert len(out) == len(sentences)
    live = [" ".join(w for w in line.rstrip().split(" ") if w not in COCO_PUNCTUATION) for line in out]
    assert [tokenize(s) for s in sentences] == live


def test_scorers_tokenize_raw_captions_by_default() -> None:
    refs = [["A man's dog, running!", "The dog runs."], ["Two CATS sleep..."]]
    hyps = ["A dog runs.", "two cats, sleeping"]
    tokenized_refs = [[tokenize(r) for r in rs] for rs in refs]
    tokenized_hyps = [tokenize(h) for h in hyps]
    raw = caption_scores(refs, hyps)
    assert raw == caption_scores(tokenized_refs, tokenized_hyps, pretokenized=True)
    assert raw["BLEU-1"] != caption_scores(refs, hyps, pretokenized=True)["BLEU-1"]
    assert list(raw) == ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr"]


@pytest.mark.parametrize("scorer", [bleu, bleu_all, rouge_l, cider, caption_scores])
def test_bad_corpus_shapes_are_rejected(scorer) -> None:
    with pytest.raises(ValueError, match="2 reference lists but 1 hypotheses"):
        scorer([["a"], ["b"]], ["a"])
    with pytest.raises(ValueError, match="empty corpus"):
        scorer([], [])
    with pytest.raises(ValueError, match="image 1: references must be a non-empty list"):
        scorer([["a"], []], ["a", "b"])
    with pytest.raises(ValueError, match="image 0: references must be a non-empty list"):
        scorer(["a b"], ["a"])
    with pytest.raises(TypeError, match="not a string"):
        scorer([["a"]], "a")
