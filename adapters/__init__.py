"""socratic.adapters: train bridges from a vision encoder into a (frozen) LLM — ClipCap,
BLIP-2 Q-Former, Frozen — plus LoRA / prefix tuning of the LLM, and use them as captioners.

Importing this package is cheap (no torch); names are loaded on first use.

Example:
    >>> import socratic.adapters as A
    >>> A.ClipCapConfig(mapping="transformer").num_layers
    8
    >>> len(A.make_shapes_dataset(2, seed=0))
    2
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    # configs (no torch)
    "BridgeConfig": "config",
    "ClipCapConfig": "config",
    "QFormerConfig": "config",
    "QFormerStage1Config": "qformer.config", "load_stage1": "qformer.train",
    "FrozenConfig": "config",
    "VisionConfig": "config",
    "LMConfig": "config",
    "LoraSettings": "config",
    "PrefixTuningSettings": "config",
    "DataConfig": "config",
    "TrainConfig": "config",
    "RunConfig": "config",
    "load_training_config": "tasks",
    "register_task": "tasks",
    "train": "tasks",
    # synthetic data (PIL only)
    "ShapeSample": "synthetic",
    "make_shapes_dataset": "synthetic",
    "make_shapes_splits": "synthetic",
    "write_shapes_jsonl": "synthetic",
    # models and training (torch)
    "Bridge": "bridges",
    "register_bridge": "bridges",
    "build_bridge": "bridges",
    "VisionEncoder": "vision",
    "VisionLanguageModel": "vlm",
    "TextLM": "lora",
    "Trainer": "train",
    "CaptionDataset": "data",
    "FeatureCache": "data",
    "read_captions": "data",
    "save_bridge": "io",
    "load_bridge": "io",
    "BridgeLoadError": "io",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'socratic.adapters' has no attribute {name!r}")
    from socratic.extras import require

    value = getattr(require(f"{__name__}.{module}", "train", f"socratic.adapters.{name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
