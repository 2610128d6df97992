"""Run BLIP-2 stage 1 (``task: qformer_stage1``) on the project's Trainer, save the result as a
``qformer/`` folder, and load it back.

The image encoder is frozen, so its patch tokens are computed once through the feature cache.
Every ``eval_every`` steps (and at the end) the held-out pairs are scored: each loss on the
held-out batch (fixed hard-negative draws), image->text and text->image Recall@1 from the ITC
similarity, and the exact match / BLEU-4 of greedy ITG captions.

``OUTPUT_DIR/qformer/`` holds ``qformer_stage1.json`` (sizes, objectives, token ids, the vision
config with absolute paths and its weight fingerprint), ``model.safetensors`` (every stage-1
weight) and ``tokenizer/``. Stage 2 reads it through ``bridge.stage1_checkpoint``.

Example:
    >>> from socratic.adapters.tasks import load_training_config       # doctest: +SKIP
    >>> metrics = train_stage1(load_training_config("examples/train_qformer_stage1.yaml"))  # doctest: +SKIP
    >>> model, tok = load_stage1("examples/runs/qformer-stage1/qformer")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import _abs
from .config import QFormerStage1Config
from .model import QFormerStage1
from .text import load_bert_tokenizer

__all__ = ["FORMAT", "STAGE1_CONFIG", "STAGE1_WEIGHTS", "build_stage1", "load_stage1",
           "read_stage1_config", "save_stage1", "train_stage1"]

FORMAT = "socratic-qformer-stage1"
STAGE1_CONFIG = "qformer_stage1.json"
STAGE1_WEIGHTS = "model.safetensors"


def build_stage1(cfg: QFormerStage1Config, tokenizer: Any, vision_dim: int) -> tuple[QFormerStage1, dict]:
    """A fresh stage-1 model for ``cfg`` (BERT-initialised when ``qformer.bert_path`` is set);
    returns it with the BERT report (``{}`` without BERT)."""
    from .bert import bert_config, init_from_bert

    obj = cfg.objectives
    max_pos = obj.max_text_length
    if cfg.qformer.bert_path:
        max_pos = int(bert_config(cfg.qformer.bert_path).max_position_embeddings)
    model = QFormerStage1(
        cfg.qformer, vision_dim, vocab_size=len(tokenizer), pad_id=tokenizer.pad_token_id,
        cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id, bos_id=tokenizer.bos_token_id,
        losses=tuple(obj.losses), embed_dim=obj.embed_dim, max_positions=max(max_pos, obj.max_text_length),
        label_smoothing=obj.label_smoothing, init_temp=obj.init_temp, temp_clamp=obj.temp_clamp)
    report = init_from_bert(model, cfg.qformer.bert_path) if cfg.qformer.bert_path else {}
    return model, report


def _collate(tokenizer: Any, max_len: int):
    def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        enc = tokenizer([i["caption"] for i in items], padding="longest", truncation=True,
                        max_length=max_len, return_tensors="pt")
        feats = torch.stack([torch.as_tensor(np.asarray(i["features"])) for i in items])
        return {"features": feats, "text_ids": enc["input_ids"], "text_mask": enc["attention_mask"]}
    return collate


def evaluate_stage1(model: QFormerStage1, tokenizer: Any, feats: torch.Tensor, captions: list[str],
                    max_len: int, max_new_tokens: int = 24) -> dict[str, float]:
    """Held-out scores: each loss (hard negatives drawn with a fixed generator), Recall@1 both
    ways from the ITC similarity (pair i is image i with caption i), and greedy ITG captions'
    exact match and BLEU-4."""
    from ..metrics import caption_metrics

    batch = _collate(tokenizer, max_len)([{"features": f, "caption": c} for f, c in zip(feats, captions,
                                                                                        strict=True)])
    dev = next(model.parameters()).device
    batch = {k: v.to(dev) for k, v in batch.items()}
    gen = torch.Generator(device=dev).manual_seed(0)
    out = model(**batch, generator=gen)
    sim = model.similarity(batch["features"], batch["text_ids"], batch["text_mask"])
    target = torch.arange(sim.shape[0], device=sim.device)
    scores = {f"val_{k}": float(v) for k, v in out.items()}
    scores["i2t_r1"] = float((sim.argmax(1) == target).float().mean())
    scores["t2i_r1"] = float((sim.argmax(0) == target).float().mean())
    hyps = tokenizer.batch_decode(model.generate_ids(batch["features"], max_new_tokens))
    norm = [" ".join(tokenizer.tokenize(c)) for c in captions]  # BERT's lower-cased word pieces
    scores.update(caption_metrics([[n] for n in norm], [" ".join(tokenizer.tokenize(h)) for h in hyps]))
    return scores


def save_stage1(model: QFormerStage1, tokenizer: Any, cfg: QFormerStage1Config, vision: dict[str, Any],
                path: str | os.PathLike[str], step: int) -> Path:
    """Write the ``qformer/`` folder (atomically: a temporary folder renamed)."""
    import shutil

    from safetensors.torch import save_file

    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(model.state_for_checkpoint(), str(tmp / STAGE1_WEIGHTS), metadata={"format": FORMAT})
    tokenizer.save_pretrained(str(tmp / "tokenizer"))
    vis = cfg.vision.model_copy(update={"model": _abs(cfg.vision.model),
                                        "pretrained": _abs(cfg.vision.pretrained),
                                        "model_config_path": _abs(cfg.vision.model_config_path)})
    meta = {
        "format": FORMAT, "version": 1, "trained_steps": step,
        "qformer": cfg.qformer.model_copy(update={"bert_path": _abs(cfg.qformer.bert_path)}).model_dump(),
        "objectives": cfg.objectives.model_dump(mode="json"),
        "vision": vis.model_dump(mode="json"), "vision_fingerprint": vision["fingerprint"],
        "vision_dim": int(model.ln_vision.normalized_shape[0]),
        "vocab_size": len(tokenizer), "max_positions": model.qformer.config.max_position_embeddings,
    }
    (tmp / STAGE1_CONFIG).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


def read_stage1_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of a ``qformer/`` folder; a folder that is not one is a clear error."""
    from ..io import BridgeLoadError

    p = Path(path)
    f = p / STAGE1_CONFIG
    if not f.is_file() or not (p / STAGE1_WEIGHTS).is_file():
        raise BridgeLoadError(f"{p}: not a Q-Former stage-1 checkpoint (needs {STAGE1_CONFIG} and "
                              f"{STAGE1_WEIGHTS}; 'socratic train' with task qformer_stage1 writes "
                              "OUTPUT_DIR/qformer)")
    meta = json.loads(f.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise BridgeLoadError(f"{f}: not a Q-Former stage-1 config (format {meta.get('format')!r})")
    return meta


def load_stage1(path: str | os.PathLike[str], device: str | torch.device = "cpu"
                ) -> tuple[QFormerStage1, Any]:
    """``(model, tokenizer)`` from a ``qformer/`` folder, in eval mode."""
    from safetensors.torch import load_file

    from ..config import QFormerArch
    from .config import Stage1Objectives

    meta = read_stage1_config(path)
    tok = load_bert_tokenizer(Path(path) / "tokenizer")
    arch, obj = QFormerArch(**meta["qformer"]), Stage1Objectives(**meta["objectives"])
    model = QFormerStage1(
        arch, meta["vision_dim"], vocab_size=meta["vocab_size"], pad_id=tok.pad_token_id,
        cls_id=tok.cls_token_id, sep_id=tok.sep_token_id, bos_id=tok.bos_token_id,
        losses=tuple(obj.losses), embed_dim=obj.embed_dim, max_positions=meta["max_positions"],
        label_smoothing=obj.label_smoothing, init_temp=obj.init_temp, temp_clamp=obj.temp_clamp)
    model.load_state_dict(load_file(str(Path(path) / STAGE1_WEIGHTS)))
    return model.to(device).eval(), tok


def train_stage1(cfg: QFormerStage1Config, *, stop_after: int | None = None) -> dict[str, Any]:
    """Train stage 1 per ``cfg``; returns the final metrics (``OUTPUT_DIR/qformer`` is the result)."""
    from accelerate.utils import set_seed

    from ..data import CaptionDataset
    from ..runs import _log, _records, encoded_features
    from ..train import Trainer, make_accelerator
    from ..vision import VisionEncoder

    t = cfg.train
    acc = make_accelerator(t)
    out = Path(t.output_dir)
    set_seed(t.seed)
    tok = load_bert_tokenizer(cfg.tokenizer_path)
    enc = VisionEncoder(cfg.vision).to(acc.device).eval()
    enc.requires_grad_(False)
    vision = enc.describe()
    torch.manual_seed(t.seed)
    model, report = build_stage1(cfg, tok, enc.dim("tokens"))
    if report:
        _log(acc, f"[qformer] initialised from BERT {cfg.qformer.bert_path}: {report['copied']} "
                  f"tensors copied, {len(report['new'])} new (cross-attention, projections, heads)")
    model.to(acc.device)

    def features(recs: Any) -> CaptionDataset:
        images = sorted({r.image for r in recs})
        feats = encoded_features(enc, "tokens", vision["fingerprint"], acc.device, images, cfg.data,
                                 t.output_dir, acc)
        return CaptionDataset(recs, features=feats)

    train_recs, _ = _records(cfg, cfg.data.train, cfg.data.train_split, acc, out, "train")
    train_ds = features(train_recs)
    val_ds = None
    if cfg.data.val:
        val_ds = features(_records(cfg, cfg.data.val, cfg.data.val_split, acc, out, "val")[0])
    max_len = cfg.objectives.max_text_length

    def evaluate(m: Any) -> dict[str, float]:
        if val_ds is None:
            return {}
        images = val_ds.unique_images()[: t.eval_samples]
        if len(images) < 2:
            return {}
        feats = torch.as_tensor(np.asarray(val_ds.features[[val_ds.row_of[p] for p, _ in images]]))
        return evaluate_stage1(m, tok, feats, [refs[0] for _, refs in images], max_len,
                               t.eval_max_new_tokens)

    def save(m: Any, step: int) -> None:
        save_stage1(m, tok, cfg, vision, out / "qformer", step)

    trainer = Trainer(model, train_ds, _collate(tok, max_len), t, evaluate=evaluate, save=save,
                      accelerator=acc)
    if trainer.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "run_config.json").write_text(json.dumps(cfg.model_dump(mode="json"), indent=2))
    return trainer.fit(stop_after=stop_after)
