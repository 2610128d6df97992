"""Train prompt classifiers on a frozen ViT (``socratic train`` for ``task: pgn``): each method of
``methods`` (linear probe, fixed prompts, PGN) with the same budget on the shared
:class:`~socratic.adapters.train.Trainer`, then one comparison table.

Output: ``OUTPUT_DIR/<method>/model`` (saved models), ``OUTPUT_DIR/<method>/`` logs and
checkpoints, ``OUTPUT_DIR/comparison.json`` and ``comparison.md`` (held-out accuracy, trainable
parameters, training seconds).

Example:
    >>> cfg = load_training_config("examples/train_pgn.yaml")   # doctest: +SKIP
    >>> train_pgn(cfg)["pgn_acc"] > train_pgn(cfg)["fixed_acc"]   # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from ..common.images import LabelledImages, load_labelled, open_rgb
from .config import PGNConfig
from .io import save_pgn
from .model import PromptClassifier

__all__ = ["accuracy", "comparison_markdown", "pixel_dataset", "train_pgn"]


def pixel_dataset(model: PromptClassifier, data: LabelledImages) -> list[dict[str, Any]]:
    """Items ``{"pixel_values", "label"}`` (images preprocessed once; unknown labels dropped)."""
    items = []
    for s in range(0, len(data.images), 256):
        pixels = model.preprocess([open_rgb(im) for im in data.images[s : s + 256]])
        items += [
            {"pixel_values": p, "label": y}
            for p, y in zip(pixels, data.labels[s : s + 256], strict=True)
            if y >= 0
        ]
    return items


@torch.no_grad()
def accuracy(model: PromptClassifier, items: list[dict[str, Any]], batch_size: int = 256) -> float:
    right = 0
    for s in range(0, len(items), batch_size):
        batch = model.collate(items[s : s + batch_size])
        right += int((model.logits(batch["pixel_values"]).argmax(-1).cpu() == batch["labels"]).sum())
    return right / max(len(items), 1)


def comparison_markdown(rows: list[dict[str, Any]], task: str) -> str:
    """The comparison table as Markdown."""
    lines = [
        f"Frozen tower, task: {task}",
        "",
        "| method | held-out accuracy | trainable parameters | train seconds |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['method']} | {r['accuracy']:.3f} | {r['trainable_params']:,} | {r['seconds']:.1f} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def train_pgn(cfg: PGNConfig) -> dict[str, Any]:
    """Train every method of ``cfg.methods``; returns ``{<method>_acc, <method>_params, ...}``."""
    from accelerate.utils import set_seed

    from ..train import Trainer

    out = Path(cfg.train.output_dir)
    train_set, val_set = load_labelled(cfg.data)
    rows, result = [], {}
    train_items: list[dict[str, Any]] = []
    val_items: list[dict[str, Any]] = []
    for method in cfg.methods:
        set_seed(cfg.train.seed)
        model = PromptClassifier.from_config(
            cfg.vision, method, cfg.pgn, train_set.classes, seed=cfg.train.seed
        )
        if not train_items:  # the same tower and preprocessing for every method
            train_items = pixel_dataset(model, train_set)
            val_items = pixel_dataset(model, val_set) if val_set is not None else []
        t = cfg.train.model_copy(update={"output_dir": str(out / method)})
        trainer = Trainer(
            model,
            train_items,
            model.collate,
            t,
            evaluate=(lambda m, v=val_items: {"accuracy": accuracy(m, v)}) if val_items else None,
            save=lambda m, step, d=out / method / "model": save_pgn(m, d, extra={"trained_steps": step}),
        )
        start = time.perf_counter()
        metrics = trainer.fit()
        row = {
            "method": method,
            "accuracy": float(metrics.get("accuracy", float("nan"))),
            "trainable_params": model.trainable_parameters(),
            "seconds": time.perf_counter() - start,
            "train_loss": metrics.get("train_loss"),
        }
        rows.append(row)
        result.update({f"{method}_acc": row["accuracy"], f"{method}_params": row["trainable_params"]})
    if rows:
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.json").write_text(json.dumps(rows, indent=2) + "\n")
        (out / "comparison.md").write_text(comparison_markdown(rows, cfg.data.label))
    return {"step": cfg.train.max_steps, **result, "comparison": str(out / "comparison.md")}
