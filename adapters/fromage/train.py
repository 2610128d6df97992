"""Train FROMAGe (``socratic train`` for ``task: fromage``) on the shared
:class:`~socratic.adapters.train.Trainer`: caption data as for ``task: bridge`` (JSONL / CSV /
COCO), pooled image features computed once by the frozen encoder (``FeatureCache``), checkpoints
with the trainable weights only, exact resume. After every optimizer step the ``[RET]`` embedding
is scaled back to the mean norm of the frozen embeddings, as in the reference code.

Evaluation on the held-out pairs: greedy captions (exact match, BLEU-4) and text-to-image
retrieval by ``[RET]`` among the held-out images (recall@1 / @5, chance ``1/N``).

Example:
    >>> cfg = load_training_config("examples/train_fromage.yaml")   # doctest: +SKIP
    >>> train_fromage(cfg)["ret_r1"]                                # doctest: +SKIP
    0.9
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..common.images import open_rgb
from ..data import FeatureCache, check_images, read_captions
from ..metrics import caption_metrics
from .config import FromageConfig
from .io import save_fromage
from .model import FromageModel

__all__ = ["FeatureSet", "build_fromage_run", "retrieval_recall", "train_fromage"]


class FeatureSet:
    """Caption records with the pooled features of their images (one row per distinct image).

    Example:
        >>> from socratic.adapters.data import CaptionRecord
        >>> ds = FeatureSet([CaptionRecord("a.png", "a cat", ["a cat"])], np.zeros((1, 4), np.float32))
        >>> ds[0]["caption"], ds[0]["features"].shape
        ('a cat', (4,))
    """

    def __init__(self, records: list[Any], features: np.ndarray) -> None:
        self.records = records
        self.images = sorted({r.image for r in records})
        self.row_of = {p: i for i, p in enumerate(self.images)}
        self.features = features

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.records[i]
        return {"features": np.array(self.features[self.row_of[rec.image]]), "caption": rec.caption}

    def references(self) -> list[list[str]]:
        """Every distinct image's captions (row order of ``features``)."""
        refs: dict[str, list[str]] = {}
        for r in self.records:
            refs.setdefault(r.image, r.references or [r.caption])
        return [refs[p] for p in self.images]


def _features(model: FromageModel, paths: list[str], cache_dir: str, acc: Any) -> np.ndarray:
    cache = FeatureCache(cache_dir)
    enc = model.vision
    name = re.sub(r"[^\w.-]+", "_", f"{enc.cfg.backend}-{Path(enc.cfg.model).name}")[:60]
    key = f"{name}-{model.base_models['vision']['fingerprint']}"

    def encode(chunk: Any) -> np.ndarray:
        return model.encode_images(model.preprocess([open_rgb(p) for p in chunk])).cpu().numpy()

    with acc.main_process_first():
        return cache.get_or_compute(key, "pooled", paths, encode)


def _dataset(cfg: FromageConfig, path: str, splits: list[str], model: FromageModel, acc: Any) -> FeatureSet:
    d = cfg.data
    records, report = check_images(
        read_captions(
            path,
            d.format,
            image_root=d.image_root,
            splits=splits,
            image_column=d.image_column,
            caption_column=d.caption_column,
            max_samples=d.max_samples,
        )
    )
    if report.skipped and acc.is_main_process:
        print(f"[{path}] {report}", flush=True)
    if not records:
        from socratic.errors import DataError

        raise DataError(f"{path}: no readable images ({report})")
    cache = d.feature_cache or str(Path(cfg.train.output_dir) / "feature_cache")
    paths = sorted({r.image for r in records})
    return FeatureSet(records, _features(model, paths, cache, acc))


@torch.no_grad()
def retrieval_recall(
    model: FromageModel,
    captions: list[str],
    features: torch.Tensor,
    image_captions: list[str],
    ks: tuple[int, ...] = (1, 5),
) -> dict[str, float]:
    """Text-to-image recall@k by ``[RET]``: a query hits when one of its ``k`` nearest images
    has the query's caption (exact text). Also the chance level of recall@1."""
    images = model.image_embeddings(features)
    texts = torch.cat([model.text_embeddings(captions[s : s + 128]) for s in range(0, len(captions), 128)])
    ranked = (texts @ images.t()).argsort(dim=-1, descending=True).cpu()
    out: dict[str, float] = {}
    for k in ks:
        hits = [any(image_captions[j] == c for j in ranked[i, :k].tolist()) for i, c in enumerate(captions)]
        out[f"ret_r{k}"] = float(np.mean(hits))
    matches = [sum(ic == c for ic in image_captions) for c in captions]
    out["ret_r1_chance"] = float(np.mean(matches)) / len(image_captions)
    return out


def build_fromage_run(cfg: FromageConfig, accelerator: Any = None) -> tuple[Any, FromageModel]:
    """``(trainer, model)`` for a ``task: fromage`` config (nothing trained yet)."""
    from accelerate.utils import set_seed

    from ..train import Trainer, make_accelerator

    t = cfg.train
    acc = accelerator or make_accelerator(t)
    set_seed(t.seed)
    model = FromageModel.from_configs(
        cfg.vision, cfg.lm, cfg.fromage, max_text_tokens=cfg.data.max_text_tokens, seed=t.seed
    )
    model.to(acc.device)
    train_ds = _dataset(cfg, cfg.data.train, cfg.data.train_split, model, acc)
    val_ds = _dataset(cfg, cfg.data.val, cfg.data.val_split, model, acc) if cfg.data.val else None
    out = Path(t.output_dir)

    def evaluate(m: Any) -> dict[str, float]:
        if val_ds is None:
            return {}
        n = min(cfg.eval.max_images, len(val_ds.images))
        feats = torch.from_numpy(np.array(val_ds.features[:n]))
        refs = val_ds.references()[:n]
        hyps: list[str] = []
        for s in range(0, n, t.batch_size):
            hyps += m.caption(features=feats[s : s + t.batch_size], max_new_tokens=cfg.eval.max_new_tokens)
        metrics = caption_metrics(refs, hyps)
        metrics.update(retrieval_recall(m, [r[0] for r in refs], feats, [r[0] for r in refs]))
        return metrics

    def save(m: Any, step: int) -> None:
        save_fromage(m, out / "model", extra={"trained_steps": step})

    trainer = Trainer(model, train_ds, model.collate, t, evaluate=evaluate, save=save, accelerator=acc)
    if cfg.fromage.renormalize_ret:
        inner = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
        inner.register_step_post_hook(lambda *_: model.renormalize_ret_())
    return trainer, model


def train_fromage(cfg: FromageConfig, *, stop_after: int | None = None) -> dict[str, Any]:
    """Train per ``cfg``; returns the final metrics (the model is in ``OUTPUT_DIR/model``)."""
    trainer, _ = build_fromage_run(cfg)
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
