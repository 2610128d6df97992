"""Masked-autoencoder pretraining (``socratic train`` for ``task: mae``) on the shared
:class:`~socratic.adapters.train.Trainer`, then a linear probe of the encoder (and of a random
encoder of the same shape), and the encoder exported as an open_clip image tower.

Evaluation: the reconstruction loss on held-out images with a fixed masking (``val_loss``), next
to the loss of predicting, at each masked position, the mean training target there
(``val_loss_prior``: what a model that ignores the visible patches achieves), and at the end the
linear-probe accuracies (``probe_acc``, ``probe_acc_random``: the same probe on a randomly
initialised encoder of the same shape).

Example:
    >>> cfg = load_training_config("examples/train_mae.yaml")   # doctest: +SKIP
    >>> train_mae(cfg)["probe_acc"]                             # doctest: +SKIP
    0.9
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..common.images import LabelledImages, load_labelled, open_rgb
from .config import MAEConfig
from .export import export_open_clip
from .model import MaskedAutoencoder, preprocess
from .probe import linear_probe

__all__ = ["evaluate_encoder", "pooled_features", "probe_encoder", "train_mae"]


def _pixels(data: LabelledImages, cfg: MAEConfig) -> torch.Tensor:
    return torch.cat(
        [
            preprocess([open_rgb(im) for im in data.images[s : s + 256]], cfg.model)
            for s in range(0, len(data.images), 256)
        ]
    )


@torch.no_grad()
def pooled_features(mae: MaskedAutoencoder, pixels: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The encoder's pooled output ``[N, hidden]`` (all patches visible; ``model.pool``)."""
    was = mae.training
    mae.eval()
    dev = next(mae.parameters()).device
    out = torch.cat(
        [
            mae.pooled(pixels[s : s + batch_size].to(dev)).cpu()
            for s in range(0, len(pixels), batch_size)
        ]
    )
    mae.train(was)
    return out


def probe_encoder(
    mae: MaskedAutoencoder,
    cfg: MAEConfig,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    classes: int,
) -> dict[str, float]:
    """Linear-probe accuracy of ``mae``'s encoder (see :func:`~.probe.linear_probe`) on the first
    ``probe.labels`` training images (all when unset)."""
    p = cfg.probe
    x, y = train if p.labels is None else (train[0][: p.labels], train[1][: p.labels])
    return linear_probe(
        pooled_features(mae, x),
        y,
        pooled_features(mae, val[0]),
        val[1],
        classes,
        steps=p.steps,
        lr=p.lr,
        batch_size=p.batch_size,
        weight_decay=p.weight_decay,
        seed=cfg.train.seed,
    )


def evaluate_encoder(
    mae: MaskedAutoencoder,
    cfg: MAEConfig,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    classes: int,
) -> dict[str, float]:
    """The linear probe and the fine-tuning evaluation of ``mae`` and, when asked, of the same
    encoder at its random initialisation (``*_random``)."""
    from .finetune import finetune_encoder

    random = MaskedAutoencoder(cfg.model, seed=cfg.train.seed)  # what pretraining started from
    out: dict[str, float] = {"probe_acc": probe_encoder(mae, cfg, train, val, classes)["probe_acc"]}
    if cfg.probe.compare_random:
        out["probe_acc_random"] = probe_encoder(random, cfg, train, val, classes)["probe_acc"]
    ft, seeds = cfg.finetune, range(cfg.train.seed, cfg.train.seed + cfg.finetune.repeats)
    if not ft.steps:
        return out
    encoders = {"finetune_acc": mae, **({"finetune_acc_random": random} if ft.compare_random else {})}
    for key, encoder in encoders.items():  # the mean over ``repeats`` seeds
        accs = [finetune_encoder(encoder, train, val, classes, ft, seed=s) for s in seeds]
        out[key] = sum(accs) / len(accs)
    return out


def train_mae(cfg: MAEConfig) -> dict[str, Any]:
    """Pretrain, evaluate and export per ``cfg``; returns the metrics (the evaluation also in
    ``evaluation.json``)."""
    from accelerate.utils import set_seed

    from ..train import Trainer

    t = cfg.train
    out = Path(t.output_dir)
    set_seed(t.seed)
    train_set, val_set = load_labelled(cfg.data)
    train_px = _pixels(train_set, cfg)
    val_px = _pixels(val_set, cfg) if val_set is not None else None
    labels = torch.tensor(train_set.labels)
    mae = MaskedAutoencoder(cfg.model, seed=t.seed)
    noise = torch.rand(
        1 if val_px is None else len(val_px),
        (cfg.model.image_size // cfg.model.patch_size) ** 2,
        generator=torch.Generator().manual_seed(1234),
    )

    prior_loss = None
    if val_px is not None:  # the loss of predicting each position's mean training target
        prior = torch.cat([mae.targets(train_px[s : s + 256]) for s in range(0, len(train_px), 256)]).mean(0)
        parts = [
            mae.prior_loss(val_px[s : s + 256], noise[s : s + 256], prior) for s in range(0, len(val_px), 256)
        ]
        prior_loss = sum(parts) / len(parts)

    def evaluate(m: Any) -> dict[str, float]:
        if val_px is None:
            return {}
        dev = next(m.parameters()).device
        losses = [
            float(m(val_px[s : s + 256].to(dev), noise=noise[s : s + 256].to(dev))["loss"])
            for s in range(0, len(val_px), 256)
        ]
        return {"val_loss": sum(losses) / len(losses), "val_loss_prior": prior_loss}

    def save(m: Any, step: int) -> None:
        m.save_pretrained(str(out / "model"))
        export_open_clip(m, out / "open_clip", seed=t.seed)

    items = [{"pixel_values": p} for p in train_px]
    trainer = Trainer(
        mae,
        items,
        lambda b: {"pixel_values": torch.stack([i["pixel_values"] for i in b])},
        t,
        evaluate=evaluate,
        save=save,
    )
    result = trainer.fit()
    if val_set is not None and trainer.is_main:
        val = (val_px, torch.tensor(val_set.labels))
        result.update(evaluate_encoder(mae, cfg, (train_px, labels), val, len(train_set.classes)))
        result["eval_classes"] = len(train_set.classes)
        keys = ("probe", "finetune", "eval_", "val_loss")
        (out / "evaluation.json").write_text(
            json.dumps({k: v for k, v in result.items() if k.startswith(keys)}, indent=2) + "\n"
        )
    result.update(
        model_dir=str(out / "model"),
        open_clip_dir=str(out / "open_clip"),
        first_loss=trainer.history[0]["loss"] if trainer.history else None,
    )
    return result
