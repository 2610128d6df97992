"""Evaluation helpers: caption metrics, classification and retrieval scores, readers, plots.

Importing this package is cheap: submodules load on first use of one of their names, numpy
only inside functions that need it and matplotlib only when a plot is drawn.

Example:
    >>> from socratic.eval import caption_scores, classification_report, recall_at_k
    >>> round(caption_scores([["a dog runs"]], ["a dog runs"])["BLEU-1"], 6)
    1.0
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from socratic.eval.caption_metrics import (
        bleu,
        bleu_all,
        caption_scores,
        cider,
        rouge_l,
        tokenize,
    )
    from socratic.eval.classification import classification_report
    from socratic.eval.plots import (
        plot_descriptor_contributions,
        plot_per_class_accuracy,
        plot_retrieval_grid,
    )
    from socratic.eval.readers import (
        IMAGE_EXTENSIONS,
        DatasetError,
        image_folder_classes,
        read_dataset,
        read_image_folder,
        read_jsonl,
    )
    from socratic.eval.retrieval import best_ranks, coco_relevance, recall_at_k, retrieval_scores

_EXPORTS = {
    "caption_metrics": ("bleu", "bleu_all", "caption_scores", "cider", "rouge_l", "tokenize"),
    "classification": ("classification_report",),
    "plots": ("plot_descriptor_contributions", "plot_per_class_accuracy", "plot_retrieval_grid"),
    "readers": (
        "IMAGE_EXTENSIONS",
        "DatasetError",
        "image_folder_classes",
        "read_dataset",
        "read_image_folder",
        "read_jsonl",
    ),
    "retrieval": ("best_ranks", "coco_relevance", "recall_at_k", "retrieval_scores"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetError",
    "best_ranks",
    "bleu",
    "bleu_all",
    "caption_scores",
    "cider",
    "classification_report",
    "coco_relevance",
    "image_folder_classes",
    "plot_descriptor_contributions",
    "plot_per_class_accuracy",
    "plot_retrieval_grid",
    "read_dataset",
    "read_image_folder",
    "read_jsonl",
    "recall_at_k",
    "retrieval_scores",
    "rouge_l",
    "tokenize",
]


def __getattr__(name: str) -> Any:
    """Load the submodule that defines ``name`` on first access (PEP 562)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'socratic.eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"socratic.eval.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
