"""Train the Flamingo-style bridge (``socratic train`` for ``task: flamingo``) on the shared
:class:`~socratic.adapters.train.Trainer`, on interleaved image-text sequences; patch-token
features of the frozen encoder are computed once.

Evaluation (shapes): few-shot accuracy on held-out episodes for each number of shots in
``eval.shots`` (``fewshot_K_acc``; the query's answer differs from every shot's), and the gates'
``tanh`` values (``attn_gate_mean``, ``ff_gate_mean``: the mean absolute value over blocks).
With JSONL data: the validation loss.

Example:
    >>> cfg = load_training_config("examples/train_flamingo.yaml")    # doctest: +SKIP
    >>> train_flamingo(cfg)["fewshot_2_acc"]                          # doctest: +SKIP
    0.95
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..common.images import open_rgb
from .config import FlamingoConfig, FlamingoData
from .data import InterleavedSet, shapes_episodes, training_sequences
from .io import save_flamingo
from .model import FlamingoModel

__all__ = ["build_flamingo_run", "encode_all", "fewshot_accuracy", "train_flamingo"]


@torch.no_grad()
def encode_all(model: FlamingoModel, images: list[Any], batch_size: int = 128) -> np.ndarray:
    """Patch tokens ``[N, tokens, W]`` of PIL images or image paths."""
    rows = []
    for s in range(0, len(images), batch_size):
        pils = [open_rgb(im) for im in images[s : s + batch_size]]
        rows.append(model.encode_images(model.preprocess(pils)).cpu().numpy())
    return np.concatenate(rows)


def fewshot_accuracy(
    model: FlamingoModel,
    data: FlamingoData,
    shots: int,
    *,
    seed: int | None = None,
    max_new_tokens: int = 8,
    batch_size: int = 64,
) -> dict[str, float]:
    """Accuracy of the word generated after the query image of held-out shapes episodes with
    ``shots`` interleaved shots (``fewshot_K_acc``, and per task ``fewshot_K_<task>``)."""
    s = data.shapes
    images, episodes = shapes_episodes(s, shots, s.seed if seed is None else seed)
    feats = encode_all(model, images)
    preds: list[str] = []
    for start in range(0, len(episodes), batch_size):
        chunk = episodes[start : start + batch_size]
        ids = [model.sequence_ids([*e.texts[:-1], None])[0] for e in chunk]
        media = torch.from_numpy(np.stack([feats[e.rows] for e in chunk]))
        out = model.generate_ids(ids, media, max_new_tokens)
        preds += [model.tokenizer.decode(r, skip_special_tokens=True).strip() for r in out]
    right = [p == e.texts[-1] for p, e in zip(preds, episodes, strict=True)]
    result = {f"fewshot_{shots}_acc": float(np.mean(right))}
    for task in sorted({e.task for e in episodes}):
        hits = [r for r, e in zip(right, episodes, strict=True) if e.task == task]
        result[f"fewshot_{shots}_{task}"] = float(np.mean(hits))
    return result


def build_flamingo_run(cfg: FlamingoConfig, accelerator: Any = None) -> tuple[Any, FlamingoModel]:
    """``(trainer, model)`` for a ``task: flamingo`` config (nothing trained yet)."""
    from accelerate.utils import set_seed

    from ..train import Trainer, make_accelerator

    t = cfg.train
    acc = accelerator or make_accelerator(t)
    set_seed(t.seed)
    model = FlamingoModel.from_configs(
        cfg.vision, cfg.lm, cfg.flamingo, max_text_tokens=cfg.data.max_text_tokens, seed=t.seed
    )
    model.to(acc.device)
    images, sequences = training_sequences(cfg.data, t.seed)
    train_ds = InterleavedSet(sequences, encode_all(model, images))
    val_ds = None
    if cfg.data.source == "jsonl" and cfg.data.val:
        from .data import read_interleaved

        val_images, val_seqs = read_interleaved(cfg.data.val, cfg.data.image_root)
        val_ds = InterleavedSet(val_seqs, encode_all(model, val_images))
    out = Path(t.output_dir)

    def evaluate(m: Any) -> dict[str, float]:
        gates = np.abs(np.array(m.gates()))
        metrics = {"attn_gate_mean": float(gates[:, 0].mean()), "ff_gate_mean": float(gates[:, 1].mean())}
        if cfg.data.source == "shapes":
            for k in cfg.eval.shots:
                metrics.update(fewshot_accuracy(m, cfg.data, k, max_new_tokens=cfg.eval.max_new_tokens))
        elif val_ds is not None:
            items = [val_ds[i] for i in range(min(len(val_ds), 256))]
            losses = [
                float(m(**m.collate(items[s : s + t.batch_size]))["loss"])
                for s in range(0, len(items), t.batch_size)
            ]
            metrics["val_loss"] = float(np.mean(losses))
        return metrics

    def save(m: Any, step: int) -> None:
        save_flamingo(m, out / "model", extra={"trained_steps": step})

    trainer = Trainer(model, train_ds, model.collate, t, evaluate=evaluate, save=save, accelerator=acc)
    return trainer, model


def train_flamingo(cfg: FlamingoConfig, *, stop_after: int | None = None) -> dict[str, Any]:
    """Train per ``cfg``; returns the final metrics (the model is in ``OUTPUT_DIR/model``)."""
    trainer, _ = build_flamingo_run(cfg)
    if trainer.is_main:
        out = Path(cfg.train.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "run_config.json").write_text(json.dumps(cfg.model_dump(mode="json"), indent=2))
    result = trainer.fit(stop_after=stop_after)
    result.update(
        model_dir=str(Path(cfg.train.output_dir) / "model"),
        trainable_params=sum(p.numel() for p in trainer.params),
    )
    return result
