"""Recall@K on constructed similarity matrices, ties counted pessimistically."""

from __future__ import annotations

import numpy as np
import pytest

from socratic.eval.retrieval import best_ranks, coco_relevance, recall_at_k, retrieval_scores


def test_recall_with_one_relevant_item_per_query() -> None:
    # query q's relevant item is q, placed at position q of the ranking: its rank is q + 1
    n = 12
    scores = np.linspace(1.0, 0.0, n)  # strictly decreasing, no ties
    sim = np.empty((n, n))
    for q in range(n):
        others = [i for i in range(n) if i != q]
        ranking = [*others[:q], q, *others[q:]]
        sim[q, ranking] = scores
    assert best_ranks(sim, list(range(n))).tolist() == list(range(1, n + 1))
    assert recall_at_k(sim, list(range(n))) == pytest.approx({"R@1": 1 / 12, "R@5": 5 / 12, "R@10": 10 / 12})


def test_several_relevant_items_best_one_counts() -> None:
    sim = np.array(
        [
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],  # relevant {3, 5}: best rank 4
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # relevant {0, 5}: item 5 ranks 1
        ]
    )
    assert best_ranks(sim, [{3, 5}, {0, 5}]).tolist() == [4, 1]
    assert recall_at_k(sim, [{3, 5}, {0, 5}], ks=(1, 3, 4)) == {
        "R@1": 0.5,
        "R@3": 0.5,
        "R@4": 1.0,
    }


def test_ties_are_counted_pessimistically() -> None:
    sim = np.array([[0.5, 0.5, 0.5, 0.1]])
    # the relevant item ties with two others: rank 3 wherever it sits
    for relevant in (0, 1, 2):
        assert best_ranks(sim, [relevant]).tolist() == [3]
    # ties between relevant items do not push each other down
    assert best_ranks(sim, [{0, 1}]).tolist() == [2]
    assert recall_at_k(np.ones((4, 4)), [0, 1, 2, 3], ks=(1, 4)) == {"R@1": 0.0, "R@4": 1.0}


def test_k_larger_than_items_and_numpy_int_relevance() -> None:
    sim = np.array([[0.2, 0.1], [0.3, 0.4]])
    assert recall_at_k(sim, [np.int64(1), {1}], ks=(1, 10)) == {"R@1": 0.5, "R@10": 1.0}


def test_coco_relevance_and_both_directions() -> None:
    caption_to_image = [0, 0, 1, 1, 2]
    t2i, i2t = coco_relevance(caption_to_image)
    assert t2i == caption_to_image
    assert i2t == [{0, 1}, {2, 3}, {4}]
    # images x captions; image 1's captions are beaten by caption 4 for image 1
    sim = np.array(
        [
            [0.9, 0.1, 0.2, 0.0, 0.3],
            [0.0, 0.2, 0.5, 0.4, 0.6],
            [0.1, 0.0, 0.3, 0.1, 0.8],
        ]
    )
    scores = retrieval_scores(sim, caption_to_image, ks=(1, 2))
    # i2t ranks: image 0 -> 1, image 1 -> 2 (caption 4 first), image 2 -> 1
    # t2i ranks (columns): c0 -> 1, c1 -> 2 (0.2 vs 0.1, image 1 higher), c2 -> 1, c3 -> 1, c4 -> 1
    assert scores == pytest.approx({"i2t R@1": 2 / 3, "i2t R@2": 1.0, "t2i R@1": 4 / 5, "t2i R@2": 1.0})


@pytest.mark.parametrize(
    ("sim", "relevant", "message"),
    [
        (np.zeros(3), [0], "2-D"),
        (np.zeros((2, 3)), [0], "2 queries"),
        (np.zeros((1, 3)), [set()], "no relevant item"),
        (np.zeros((1, 3)), [3], "outside 0..2"),
        (np.array([[np.nan, 0.0]]), [0], "NaN"),
    ],
)
def test_bad_inputs(sim, relevant, message) -> None:
    with pytest.raises(ValueError, match=message):
        recall_at_k(sim, relevant)


def test_bad_k_and_relevance() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        recall_at_k(np.zeros((1, 2)), [0], ks=(0,))
    with pytest.raises(ValueError, match="image 1 has no caption"):
        coco_relevance([0, 2])
    with pytest.raises(ValueError, match="does not match 2 images x 3 captions"):
        retrieval_scores(np.zeros((3, 2)), [0, 0, 1])
