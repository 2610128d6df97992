"""Build and run a whole ``socratic train`` run from a :class:`RunConfig`.

``task: bridge``: vision encoder + bridge + LM trained on captions; the result is a bridge
directory ``OUTPUT_DIR/bridge`` (a captioner model for graphs). ``task: lora``: LoRA / prefix
tuning of the LM on prompt/completion JSONL; the result is a peft adapter folder
``OUTPUT_DIR/adapter``. Checkpoints, ``train_log.csv``, ``eval_log.csv`` and TensorBoard events
go to ``OUTPUT_DIR`` as well.

Example:
    >>> cfg = RunConfig.from_yaml("examples/train_clipcap.yaml")  # doctest: +SKIP
    >>> run(cfg)["exact_match"]                                  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import RunConfig
from .data import (
    CaptionDataset,
    FeatureCache,
    TextPairDataset,
    check_images,
    read_captions,
    read_prompt_completion,
)
from .distributed import make_strategy
from .eval_loop import make_eval_loop
from .metrics import caption_metrics
from .train import Trainer, make_accelerator

__all__ = ["build_bridge_run", "build_lora_run", "run"]


def _log(acc: Any, msg: str) -> None:
    if acc.is_main_process:
        print(msg, flush=True)


def _records(cfg: Any, path: str, splits: list[str], acc: Any, out: Path, tag: str) -> Any:
    """Caption records of ``path`` (``cfg.data`` settings), unreadable images skipped and reported."""
    d = cfg.data
    recs = read_captions(
        path,
        d.format,
        image_root=d.image_root,
        splits=splits,
        image_column=d.image_column,
        caption_column=d.caption_column,
        max_samples=d.max_samples,
    )
    ok, report = check_images(recs)
    if report.skipped:
        _log(acc, f"[{tag}] {report}")
        if acc.is_main_process:
            out.mkdir(parents=True, exist_ok=True)
            with open(out / "skipped_images.txt", "a", encoding="utf-8") as f:
                f.write(f"[{tag}] {report}\n")
    if not ok:
        from .data import DataError

        raise DataError(f"{path}: no readable images ({report})")
    return ok, report


def encoded_features(enc: Any, kind: str, fingerprint: str, device: Any, paths: list[str],
                     data: Any, output_dir: str, acc: Any) -> np.ndarray:
    """Features of a frozen encoder ``enc`` (``kind``: pooled | tokens) for image ``paths``,
    through the feature cache (``data.feature_cache``, default ``OUTPUT_DIR/feature_cache``)."""
    from .data import _open_image

    cache = FeatureCache(data.feature_cache or str(Path(output_dir) / "feature_cache"))
    name = re.sub(r"[^\w.-]+", "_", f"{enc.cfg.backend}-{Path(enc.cfg.model).name}")[:60]

    def encode(chunk: Any) -> np.ndarray:
        px = enc.preprocess([_open_image(p) for p in chunk]).to(device)
        with torch.no_grad():
            return enc(px)[kind].float().cpu().numpy()

    with acc.main_process_first():
        return cache.get_or_compute(f"{name}-{fingerprint}", kind, paths, encode)


def _features(vlm: Any, ds_images: list[str], cfg: RunConfig, acc: Any) -> np.ndarray:
    return encoded_features(vlm.vision, vlm.feature_kind, vlm.base_models["vision"]["fingerprint"],
                            vlm.device, ds_images, cfg.data, cfg.train.output_dir, acc)


def build_bridge_run(cfg: RunConfig, accelerator: Any = None) -> tuple[Trainer, Any]:
    """``(trainer, vlm)`` for a ``task: bridge`` config (nothing trained yet)."""
    from accelerate.utils import set_seed

    from .io import save_bridge
    from .vlm import VisionLanguageModel

    t = cfg.train
    strategy = make_strategy(cfg.distributed, t.mixed_precision)
    acc = accelerator or make_accelerator(t, strategy)
    out = Path(t.output_dir)
    set_seed(t.seed)
    assert cfg.vision is not None and cfg.bridge is not None
    vlm = VisionLanguageModel.from_configs(
        cfg.vision,
        cfg.bridge,
        cfg.lm,
        prompt=cfg.data.prompt,
        max_text_tokens=cfg.data.max_text_tokens,
        seed=t.seed,
    )
    vlm.to(acc.device)
    train_recs, _ = _records(cfg, cfg.data.train, cfg.data.train_split, acc, out, "train")
    val_recs = None
    if cfg.data.val:
        val_recs, _ = _records(cfg, cfg.data.val, cfg.data.val_split, acc, out, "val")
    use_features = (not vlm.vision_trainable) and cfg.data.precompute_features

    def dataset(recs: Any) -> CaptionDataset:
        ds = CaptionDataset(recs, preprocess=vlm.preprocess)
        if use_features:
            ds = CaptionDataset(recs, features=_features(vlm, ds.images, cfg, acc))
        return ds

    train_ds = dataset(train_recs)
    val_ds = dataset(val_recs) if val_recs else None

    def evaluate(model: Any) -> dict[str, float]:
        if val_ds is None:
            return {}
        n = t.eval_samples
        losses = []
        items = [val_ds[i] for i in range(min(n, len(val_ds)))]
        for s in range(0, len(items), t.batch_size):
            batch = model.collate(items[s : s + t.batch_size])
            losses.append(float(model(**batch)["lm_loss"]))
        images = val_ds.unique_images()[:n]
        hyps: list[str] = []
        for s in range(0, len(images), t.batch_size):
            chunk = images[s : s + t.batch_size]
            if val_ds.features is not None:
                rows = [val_ds.row_of[p] for p, _ in chunk]
                feats = torch.as_tensor(np.asarray(val_ds.features[rows]))
                outs = model.generate(features=feats, max_new_tokens=t.eval_max_new_tokens)
            else:
                from .data import _open_image

                outs = model.generate(
                    [_open_image(p) for p, _ in chunk], max_new_tokens=t.eval_max_new_tokens
                )
            hyps += [o[0] for o in outs]
        metrics = caption_metrics([refs for _, refs in images], hyps)
        return {"val_loss": float(np.mean(losses)), **metrics}

    def save(model: Any, step: int) -> None:
        save_bridge(model, out / "bridge", extra={"trained_steps": step})

    trainer = Trainer(
        vlm, train_ds, vlm.collate, t, evaluate=evaluate, save=save, accelerator=acc,
        strategy=strategy, eval_loop=make_eval_loop(cfg),
    )
    return trainer, vlm


def build_lora_run(cfg: RunConfig, accelerator: Any = None) -> tuple[Trainer, Any]:
    """``(trainer, text_lm)`` for a ``task: lora`` config."""
    from accelerate.utils import set_seed

    from .lora import TextLM

    t = cfg.train
    strategy = make_strategy(cfg.distributed, t.mixed_precision)
    acc = accelerator or make_accelerator(t, strategy)
    set_seed(t.seed)
    d = cfg.data
    model = TextLM(cfg.lm, max_tokens=d.max_text_tokens)
    model.to(acc.device)
    train_ds = TextPairDataset(
        read_prompt_completion(d.train, d.prompt_field, d.completion_field, d.max_samples)
    )
    val_pairs = (
        read_prompt_completion(d.val, d.prompt_field, d.completion_field, d.max_samples)
        if d.val
        else None
    )

    def evaluate(m: Any) -> dict[str, float]:
        if not val_pairs:
            return {}
        pairs = val_pairs[: t.eval_samples]
        batch = m.collate([{"prompt": p, "completion": c} for p, c in pairs])
        loss = float(m(**batch)["loss"])
        hyps = m.generate([p for p, _ in pairs], max_new_tokens=t.eval_max_new_tokens)
        metrics = caption_metrics([[c] for _, c in pairs], hyps)
        return {"val_loss": loss, **metrics}

    def save(m: Any, step: int) -> None:
        m.save_adapter(Path(t.output_dir) / "adapter")

    trainer = Trainer(model, train_ds, model.collate, t, evaluate=evaluate, save=save, accelerator=acc,
                      strategy=strategy, eval_loop=make_eval_loop(cfg))
    return trainer, model


def run(cfg: RunConfig, *, stop_after: int | None = None) -> dict[str, Any]:
    """Train per ``cfg``; returns the final metrics (also in OUTPUT_DIR/trainer_state.json)."""
    build = build_bridge_run if cfg.task == "bridge" else build_lora_run
    trainer, model = build(cfg)
    out = Path(cfg.train.output_dir)
    if trainer.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "run_config.json").write_text(json.dumps(cfg.model_dump(mode="json"), indent=2))
    result = trainer.fit(stop_after=stop_after)
    saved = out / ("bridge" if cfg.task == "bridge" else "adapter")
    if trainer.is_main and "digest" in result and saved.is_dir():  # a finished run: its model card
        from .lm import describe_lm
        from .model_card import write_model_card

        base = model.base_models if cfg.task == "bridge" else {"lm": describe_lm(model.lm, cfg.lm)}
        write_model_card(saved, kind=cfg.task, config=cfg.model_dump(mode="json"), result=result,
                         base_models=base)
    return result
