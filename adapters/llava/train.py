"""Run one stage of the LLaVA recipe (``task: llava``) on the project's trainer.

Example:
    >>> run_llava(load_training_config("examples/train_llava_stage1.yaml"))  # doctest: +SKIP
    {'step': 400, 'exact_match': 0.9, ...}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..distributed import make_strategy
from ..eval_loop import make_eval_loop
from ..metrics import caption_metrics
from ..train import Trainer, make_accelerator
from .config import LlavaRunConfig
from .data import read_captions_as_chats, read_llava_json
from .export import export_llava
from .model import PROJECTOR, LlavaBridge

__all__ = ["build_llava_run", "read_stage_data", "run_llava"]


def read_stage_data(cfg: LlavaRunConfig, path: str) -> list[dict[str, Any]]:
    d = cfg.data
    if cfg.stage == 1:
        return read_captions_as_chats(path, d.stage1_prompt, d.image_root, d.image_column, d.caption_column,
                                      d.max_samples)
    return read_llava_json(path, d.image_root, d.max_samples)


def build_llava_run(cfg: LlavaRunConfig, accelerator: Any = None) -> tuple[Trainer, LlavaBridge]:
    """``(trainer, bridge)`` for one stage (nothing trained yet)."""
    from accelerate.utils import set_seed

    t = cfg.train
    strategy = make_strategy(cfg.distributed, t.mixed_precision)
    acc = accelerator or make_accelerator(t, strategy)
    set_seed(t.seed)
    bridge = LlavaBridge.from_config(cfg)
    bridge.to(acc.device)
    train_ds = read_stage_data(cfg, cfg.data.train)
    val = read_stage_data(cfg, cfg.data.val) if cfg.data.val else None
    out = Path(t.output_dir)

    def evaluate(model: LlavaBridge) -> dict[str, float]:
        """Loss on the dev conversations, and exact match of the answer to their first question."""
        if not val:
            return {}
        items = val[: t.eval_samples]
        losses = [float(model(**_to(model.collate(items[s : s + t.batch_size]), acc.device))["loss"])
                  for s in range(0, len(items), t.batch_size)]
        hyps, refs = [], []
        for item in items:
            question = item["messages"][0]["content"].replace("<image>", "").strip()
            hyps += model.generate([item["image"]], question, max_new_tokens=t.eval_max_new_tokens)
            refs.append([item["messages"][1]["content"]])
        return {"val_loss": sum(losses) / len(losses), **caption_metrics(refs, hyps)}

    def save(model: LlavaBridge, step: int) -> None:
        model.save_projector(out / PROJECTOR)
        export_llava(model, out / "llava")

    trainer = Trainer(bridge, train_ds, bridge.collate, t, evaluate=evaluate, save=save, accelerator=acc,
                      strategy=strategy, eval_loop=make_eval_loop(cfg))
    return trainer, bridge


def _to(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    return {k: v.to(device) for k, v in batch.items()}


def run_llava(cfg: LlavaRunConfig, *, stop_after: int | None = None) -> dict[str, Any]:
    """Train one stage per ``cfg``; returns the final metrics."""
    trainer, bridge = build_llava_run(cfg)
    out = Path(cfg.train.output_dir)
    if trainer.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "run_config.json").write_text(json.dumps(cfg.model_dump(mode="json"), indent=2))
    result = trainer.fit(stop_after=stop_after)
    if trainer.is_main and "digest" in result:
        write_card(bridge, cfg, result)
    return result


def write_card(bridge: LlavaBridge, cfg: LlavaRunConfig, result: dict[str, Any]) -> None:
    """The model card of the export ``OUTPUT_DIR/llava``."""
    from ..model_card import write_model_card
    from ..vision import module_fingerprint

    model = bridge.model.model
    base = {"lm": {"path": cfg.lm.path, "fingerprint": module_fingerprint(model.language_model)},
            "vision": {"path": cfg.vision.path, "fingerprint": module_fingerprint(model.vision_tower)}}
    write_model_card(Path(cfg.train.output_dir) / "llava", kind="llava", config=cfg.model_dump(mode="json"),
                     result=result, base_models=base)
