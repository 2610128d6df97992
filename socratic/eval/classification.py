"""Classification report: top-1 / top-5 accuracy, per-class accuracy, confusion matrix.

Pure Python. Predictions are either one label per example or a ranked list per example (best
first, e.g. the classes of a zero-shot CLIP classifier sorted by score). A prediction that is
not one of ``classes`` (an LLM answering "unknown", an empty list) counts as wrong and is tallied
in the confusion matrix's ``other`` column.

Example:
    >>> r = classification_report(["cat", "dog"], [["cat", "dog"], ["cat", "dog"]], ["cat", "dog"])
    >>> r["top1"], r["top5"]
    (0.5, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["classification_report"]


def _as_ranked(prediction: str | Sequence[str]) -> list[str]:
    return [prediction] if isinstance(prediction, str) else list(prediction)


def classification_report(
    labels: Sequence[str],
    predictions: Sequence[str] | Sequence[Sequence[str]],
    classes: Sequence[str],
) -> dict[str, Any]:
    """Accuracy figures and a confusion matrix for predicted labels against true labels.

    Args:
        labels: the true class of each example; each must be one of ``classes``.
        predictions: per example either one predicted class or a ranked list (best first).
        classes: every class, in the order used for ``per_class`` and the confusion matrix.

    Returns:
        A dict with

        * ``n``: number of examples; ``correct``: top-1 hits; ``counts``: examples per class.
        * ``top1``: top-1 accuracy. ``top5``: fraction whose label is among the first five
          predictions; ``None`` when every prediction is a single label (nothing ranked). A
          ranked list shorter than five counts a hit anywhere in it.
        * ``per_class``: class -> top-1 accuracy over the examples of that class (recall), or
          ``None`` for a class without examples.
        * ``mean_per_class``: mean of the ``per_class`` values that are not ``None``.
        * ``confusion``: ``{"classes": [...], "matrix": rows, "other": [...]}`` where
          ``matrix[i][j]`` counts examples of ``classes[i]`` predicted (top-1) as
          ``classes[j]`` and ``other[i]`` those predicted as something not in ``classes``.

    Raises:
        ValueError: on length mismatch, an empty or duplicated class list, no examples, or a
            label that is not one of ``classes``.

    Example:
        >>> r = classification_report(["a", "a", "b"], ["a", "b", "zebra"], ["a", "b"])
        >>> r["top1"], r["top5"], r["per_class"]
        (0.3333333333333333, None, {'a': 0.5, 'b': 0.0})
        >>> r["confusion"]["matrix"], r["confusion"]["other"]
        ([[1, 1], [0, 0]], [0, 1])
    """
    if isinstance(predictions, str) or isinstance(labels, str):
        raise TypeError("labels and predictions must be sequences, not a string")
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    if not labels:
        raise ValueError("no examples to score")
    class_list = list(classes)
    if not class_list:
        raise ValueError("classes is empty")
    index = {c: i for i, c in enumerate(class_list)}
    if len(index) != len(class_list):
        raise ValueError("classes contains duplicates")

    size = len(class_list)
    matrix = [[0] * size for _ in range(size)]
    other = [0] * size
    top1_hits = 0
    top5_hits = 0
    any_ranked = False
    for position, (label, prediction) in enumerate(zip(labels, predictions, strict=True)):
        if label not in index:
            raise ValueError(f"example {position}: label {label!r} is not one of classes")
        ranked = _as_ranked(prediction)
        any_ranked = any_ranked or not isinstance(prediction, str)
        row = index[label]
        first = ranked[0] if ranked else None
        if first is not None and first in index:
            matrix[row][index[first]] += 1
        else:
            other[row] += 1
        top1_hits += first == label
        top5_hits += label in ranked[:5]

    counts = {c: sum(matrix[i]) + other[i] for i, c in enumerate(class_list)}
    per_class = {
        c: (matrix[i][i] / counts[c] if counts[c] else None) for i, c in enumerate(class_list)
    }
    present = [v for v in per_class.values() if v is not None]
    n = len(labels)
    return {
        "n": n,
        "correct": top1_hits,
        "top1": top1_hits / n,
        "top5": top5_hits / n if any_ranked else None,
        "per_class": per_class,
        "mean_per_class": sum(present) / len(present),
        "counts": counts,
        "confusion": {"classes": class_list, "matrix": matrix, "other": other},
    }
