"""classification_report on hand-built cases."""

from __future__ import annotations

import pytest

from socratic.eval.classification import classification_report

CLASSES = ["cat", "dog", "bird"]


def test_single_label_predictions() -> None:
    labels = ["cat", "cat", "cat", "dog", "dog", "bird"]
    preds = ["cat", "dog", "cat", "dog", "cat", "cat"]
    r = classification_report(labels, preds, CLASSES)
    assert r["n"] == 6 and r["correct"] == 3
    assert r["top1"] == pytest.approx(3 / 6)
    assert r["top5"] is None  # nothing ranked
    assert r["per_class"] == pytest.approx({"cat": 2 / 3, "dog": 1 / 2, "bird": 0.0})
    assert r["mean_per_class"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert r["counts"] == {"cat": 3, "dog": 2, "bird": 1}
    assert r["confusion"]["classes"] == CLASSES
    # rows: true class, columns: predicted class, in CLASSES order
    assert r["confusion"]["matrix"] == [[2, 1, 0], [1, 1, 0], [1, 0, 0]]
    assert r["confusion"]["other"] == [0, 0, 0]


def test_ranked_predictions_top1_and_top5() -> None:
    classes = [f"c{i}" for i in range(7)]
    labels = ["c0", "c1", "c2", "c3"]
    preds = [
        ["c0", "c1", "c2", "c3", "c4", "c5"],  # top-1 hit
        ["c0", "c1", "c2", "c3", "c4", "c5"],  # rank 2: top-5 hit
        ["c6", "c5", "c4", "c3", "c1", "c2"],  # rank 6: miss
        ["c3"],  # a short list still counts
    ]
    r = classification_report(labels, preds, classes)
    assert r["top1"] == pytest.approx(2 / 4)
    assert r["top5"] == pytest.approx(3 / 4)
    assert r["confusion"]["matrix"][1][0] == 1  # c1 predicted (top-1) as c0
    assert r["confusion"]["matrix"][2][6] == 1
    assert r["per_class"]["c4"] is None  # no examples
    assert r["mean_per_class"] == pytest.approx((1 + 0 + 0 + 1) / 4)


def test_predictions_outside_classes_count_as_wrong_in_other_column() -> None:
    r = classification_report(["cat", "dog", "dog"], ["unknown", [], ["dog"]], CLASSES)
    assert r["top1"] == pytest.approx(1 / 3)
    assert r["confusion"]["other"] == [1, 1, 0]
    assert r["confusion"]["matrix"][1] == [0, 1, 0]
    assert r["counts"] == {"cat": 1, "dog": 2, "bird": 0}
    assert r["top5"] == pytest.approx(1 / 3)


def test_top5_not_top1_when_label_is_later_in_list() -> None:
    r = classification_report(["bird"], [["cat", "dog", "bird"]], CLASSES)
    assert (r["top1"], r["top5"]) == (0.0, 1.0)
    assert r["per_class"]["bird"] == 0.0


@pytest.mark.parametrize(
    ("labels", "preds", "classes", "message"),
    [
        (["cat"], ["cat", "dog"], CLASSES, "1 labels but 2 predictions"),
        ([], [], CLASSES, "no examples"),
        (["cat"], ["cat"], [], "classes is empty"),
        (["cat"], ["cat"], ["cat", "cat"], "duplicates"),
        (["cat", "horse"], ["cat", "cat"], CLASSES, "example 1: label 'horse'"),
    ],
)
def test_bad_inputs(labels, preds, classes, message) -> None:
    with pytest.raises(ValueError, match=message):
        classification_report(labels, preds, classes)


def test_string_predictions_rejected() -> None:
    with pytest.raises(TypeError):
        classification_report(["c"], "c", ["c"])
