"""Contrastive tuning (CLIP / LiT) on HF Accelerate: ``train_contrastive(config) -> result``
(``socratic train`` for ``task: contrastive``).

The optimisation loop is :class:`socratic.adapters.train.Trainer` (AdamW without weight decay on
biases, norms and the temperature; warmup + cosine; gradient clipping; bf16 autocast on GPU;
atomic checkpoints and exact resume; DDP under ``torchrun``, where CLIP's loss gathers the
negatives of every rank). The trained model is saved as an open_clip folder
``OUTPUT_DIR/model`` (see :mod:`socratic.adapters.contrastive.towers`).

Example:
    >>> from socratic.adapters.tasks import load_training_config
    >>> cfg = load_training_config("examples/train_contrastive_lu.yaml")        # doctest: +SKIP
    >>> train_contrastive(cfg)["zero_shot_acc"]                                   # doctest: +SKIP
    0.97
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import ContrastiveConfig, ContrastiveEval
from .data import PairDataset, Pairs, collate_pairs, load_pairs
from .model import ContrastiveModel
from .towers import BuiltTowers, build_towers, load_tower, save_open_clip, tower_state

__all__ = ["build_run", "caption_accuracy", "train_contrastive", "zero_shot_accuracy"]


def _class_labels(captions: list[str], cfg: ContrastiveEval) -> tuple[list[str], list[int]]:
    """Class names and the label of each caption (-1: no class matches)."""
    classes = cfg.classes or sorted({c.removeprefix("a ").removeprefix("an ") for c in captions})
    labels = []
    for cap in captions:
        if cfg.match == "exact":
            bare = cap.removeprefix("a ").removeprefix("an ")
            labels.append(classes.index(bare) if bare in classes else -1)
        else:
            hits = [i for i, c in enumerate(classes) if c in cap]
            labels.append(hits[0] if len(hits) == 1 else -1)
    return classes, labels


@torch.no_grad()
def zero_shot_accuracy(
    clip: nn.Module, built: BuiltTowers, pairs: Pairs, cfg: ContrastiveEval
) -> dict[str, float]:
    """Top-1 zero-shot accuracy of ``clip`` on held-out pairs (classes from the captions),
    with prompt ensembling over ``cfg.templates``; also the chance level ``1 / classes``."""
    classes, labels = _class_labels(pairs.captions, cfg)
    keep = [i for i, y in enumerate(labels) if y >= 0][: cfg.max_images]
    if not keep or len(classes) < 2:
        return {}
    dev = next(clip.parameters()).device
    prompts = [t.format(c) for c in classes for t in cfg.templates]
    txt = clip.encode_text(built.tokenizer(prompts).to(dev), normalize=True).float()
    txt = torch.nn.functional.normalize(txt.view(len(classes), len(cfg.templates), -1).mean(1), dim=-1)
    correct = 0
    for start in range(0, len(keep), 256):
        idx = keep[start : start + 256]
        pix = torch.stack([built.preprocess(_open(pairs.images[i])) for i in idx]).to(dev)
        img = clip.encode_image(pix, normalize=True).float()
        pred = (img @ txt.T).argmax(-1).cpu()
        correct += int((pred == torch.tensor([labels[i] for i in idx])).sum())
    return {"zero_shot_acc": correct / len(keep), "zero_shot_chance": 1.0 / len(classes),
            "zero_shot_images": float(len(keep))}


@torch.no_grad()
def caption_accuracy(coca: nn.Module, built: BuiltTowers, pairs: Pairs, max_images: int) -> dict[str, float]:
    """Greedy CoCa captions of held-out images: exact match with their caption."""
    from socratic.vision.base import CaptionOptions
    from socratic.vision.coca import coca_captions

    n = min(len(pairs.images), max_images)
    dev = next(coca.parameters()).device
    opts = CaptionOptions(strategy="greedy", max_new_tokens=12)
    from ..metrics import exact_match

    hyps: list[str] = []
    for start in range(0, n, 128):
        chunk = range(start, min(n, start + 128))
        pix = torch.stack([built.preprocess(_open(pairs.images[i])) for i in chunk])
        hyps += [c[0] for c in coca_captions(coca, pix.to(dev), opts)]
    return {"caption_exact_match": exact_match([[c] for c in pairs.captions[:n]], hyps)}


def _open(image: Any) -> Any:
    if isinstance(image, str):
        from PIL import Image

        with Image.open(image) as im:
            return im.convert("RGB")
    return image


def _make_trainer(*args: Any, **kwargs: Any) -> Any:
    """The shared :class:`socratic.adapters.train.Trainer` (imported lazily)."""
    from ..train import Trainer

    return Trainer(*args, **kwargs)


def _optimized_names(optimizer: Any, clip: nn.Module) -> list[str]:
    """Names (in the open_clip model) of the parameters the optimizer updates."""
    inner = getattr(optimizer, "optimizer", optimizer)
    ids = {id(p) for g in inner.param_groups for p in g["params"]}
    return sorted(n for n, p in clip.named_parameters() if id(p) in ids)


def build_run(cfg: ContrastiveConfig) -> tuple[BuiltTowers, ContrastiveModel]:
    """The towers (random, then loaded from checkpoints per ``mode``) and the trainable wrapper."""
    out = Path(cfg.train.output_dir)
    built = build_towers(
        cfg.arch, image_timm=cfg.image_timm, name=cfg.name, seed=cfg.train.seed, workdir=out / "arch"
    )
    if cfg.image_checkpoint:
        load_tower(built.model, "image", cfg.image_checkpoint)
    if cfg.text_checkpoint:
        load_tower(built.model, "text", cfg.text_checkpoint)
    with torch.no_grad():
        built.model.logit_scale.fill_(cfg.loss.init_logit_scale)
    wrapped = ContrastiveModel(
        built.model,
        image_locked=cfg.image_locked,
        text_locked=cfg.text_locked,
        learn_logit_scale=cfg.loss.learn_logit_scale,
        local_loss=cfg.loss.local_loss,
        max_scale=cfg.loss.max_logit_scale,
        coca_weights=(cfg.loss.clip_weight, cfg.loss.caption_weight) if cfg.loss.kind == "coca" else None,
    )
    if cfg.loss.kind == "coca" and type(built.model).__name__ != "CoCa":
        from socratic.errors import TrainingError

        raise TrainingError(f"loss.kind: coca needs a CoCa architecture (a 'multimodal_cfg'); {cfg.arch}"
                            " is a CLIP")
    return built, wrapped


def train_contrastive(cfg: ContrastiveConfig, *, accelerator: Any = None) -> dict[str, Any]:
    """Train per ``cfg``; returns the trainer's result plus ``model_dir``, ``arch``, the number
    of trainable parameters and the zero-shot metrics on the held-out pairs (when there are)."""
    from socratic.errors import TrainingError

    built, wrapped = build_run(cfg)
    train_pairs, val_pairs = load_pairs(cfg.data, seed=cfg.train.seed)
    dataset = PairDataset(train_pairs, built.preprocess, built.tokenizer)  # cached when it fits
    model_dir = Path(cfg.train.output_dir) / "model"

    def evaluate(model: nn.Module) -> dict[str, float]:
        if val_pairs is None:
            return {}
        metrics = zero_shot_accuracy(model.clip, built, val_pairs, cfg.eval)  # type: ignore[arg-type]
        if cfg.loss.kind == "coca":
            metrics.update(caption_accuracy(model.clip, built, val_pairs, cfg.eval.max_images))
        return metrics

    def save(model: nn.Module, step: int) -> None:
        save_open_clip(built, model_dir, weights_format=cfg.weights_format)

    trainer = _make_trainer(wrapped, dataset, collate_pairs, cfg.train, evaluate=evaluate, save=save,
                      accelerator=accelerator)
    inner = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    inner.register_step_post_hook(lambda *_: wrapped.clamp_())
    locked = {t: tower_state(built.model, t) for t, on in
              (("image", cfg.image_locked), ("text", cfg.text_locked)) if on}
    result = trainer.fit()
    for tower, before in locked.items():  # a locked tower must come out exactly as it went in
        after = tower_state(built.model, tower)
        if any(not torch.equal(before[k], after[k].to(before[k].device)) for k in before):
            raise TrainingError(f"the locked {tower} tower changed during training")
    result.update(
        model_dir=str(model_dir),
        arch=built.arch,
        mode=cfg.mode,
        trainable_params=sum(p.numel() for p in trainer.params),
        optimized_params=_optimized_names(trainer.optimizer, wrapped.clip),
        logit_scale=float(built.model.logit_scale.detach().exp()),
    )
    return result
