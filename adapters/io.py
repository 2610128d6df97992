"""Save and load trained bridges, peft style.

A bridge directory holds ``bridge_config.json`` (bridge, vision and LM configs, the prompt, and
the base models it was trained against: their paths and weight fingerprints) and
``bridge.safetensors`` (the trainable weights only: the bridge, plus the vision encoder for
Frozen and the LM when it was fully tuned). With LoRA / prefix tuning the LM's adapter is a
standard peft folder ``adapter/``. Loading rebuilds the base models from the recorded local
paths; a base model whose weights differ from the recorded ones is a clear error.

Example:
    >>> save_bridge(vlm, "runs/clipcap/bridge")            # doctest: +SKIP
    >>> vlm2 = load_bridge("runs/clipcap/bridge")         # doctest: +SKIP
    >>> vlm2.generate([image])                            # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from .config import LMConfig, VisionConfig, bridge_config_from_dict
from .vision import BaseModelError

__all__ = ["BRIDGE_CONFIG", "BRIDGE_WEIGHTS", "BridgeLoadError", "load_bridge", "save_bridge"]

BRIDGE_CONFIG = "bridge_config.json"
BRIDGE_WEIGHTS = "bridge.safetensors"
ADAPTER_DIR = "adapter"
FORMAT = "socratic-bridge"


class BridgeLoadError(BaseModelError):
    """A bridge directory cannot be loaded (missing files, mismatched base model ...)."""


def _abs(path: str | None) -> str | None:
    if not path:
        return path
    if path.startswith("local-dir:"):
        return "local-dir:" + os.path.abspath(path[len("local-dir:") :])
    return os.path.abspath(path) if os.path.exists(path) else path


def _saved_weights(vlm: Any) -> dict[str, torch.Tensor]:
    state = vlm.trainable_state_dict()
    if vlm.lm_cfg.tune in ("lora", "prefix"):  # the LM's part lives in the peft folder
        state = {k: v for k, v in state.items() if not k.startswith("lm.")}
    return {k: v.detach().contiguous().cpu() for k, v in state.items()}


def save_bridge(
    vlm: Any, path: str | os.PathLike[str], extra: dict[str, Any] | None = None
) -> Path:
    """Write ``vlm``'s trainable weights and configs to ``path`` (replaced atomically)."""
    from safetensors.torch import save_file

    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    vision = vlm.vision_cfg.model_copy(
        update={
            "model": _abs(vlm.vision_cfg.model),
            "pretrained": _abs(vlm.vision_cfg.pretrained),
            "model_config_path": _abs(vlm.vision_cfg.model_config_path),
        }
    )
    lm = vlm.lm_cfg.model_copy(
        update={"path": _abs(vlm.lm_cfg.path), "tokenizer": _abs(vlm.lm_cfg.tokenizer)}
    )
    weights = _saved_weights(vlm)
    config = {
        "format": FORMAT,
        "version": 1,
        "bridge": vlm.bridge_cfg.model_dump(mode="json"),
        "vision": vision.model_dump(mode="json"),
        "lm": lm.model_dump(mode="json"),
        "seq2seq": vlm.seq2seq,
        "prompt": vlm.prompt,
        "max_text_tokens": vlm.max_text_tokens,
        "base_models": vlm.base_models,
        "vision_trainable": vlm.vision_trainable,
        "weights": sorted(weights),
        **(extra or {}),
    }
    save_file(weights, str(tmp / BRIDGE_WEIGHTS), metadata={"format": FORMAT})
    if vlm.lm_cfg.tune in ("lora", "prefix"):
        vlm.lm.save_pretrained(str(tmp / ADAPTER_DIR))
    (tmp / BRIDGE_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


def read_bridge_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    cfg_file = p / BRIDGE_CONFIG
    if not cfg_file.is_file():
        raise BridgeLoadError(f"{p}: not a bridge directory (no {BRIDGE_CONFIG})")
    data = json.loads(cfg_file.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise BridgeLoadError(f"{cfg_file}: not a socratic bridge config (format {data.get('format')!r})")
    return data


def _check_base(kind: str, recorded: dict[str, Any], actual: dict[str, Any], where: Path) -> None:
    want, got = recorded.get("fingerprint"), actual.get("fingerprint")
    if want and got and want != got:
        name = recorded.get("path") or recorded.get("model")
        raise BridgeLoadError(
            f"{where}: the bridge was trained against {kind} '{name}' (weights fingerprint {want}), "
            f"but the {kind} loaded from '{actual.get('path') or actual.get('model')}' has "
            f"fingerprint {got}: a different or modified base model. Point the bridge at the "
            "base model it was trained with."
        )


def load_bridge(
    path: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    *,
    lm_path: str | None = None,
    vision: dict[str, Any] | None = None,
    check_base_models: bool = True,
) -> Any:
    """Rebuild a :class:`VisionLanguageModel` from a bridge directory, in eval mode.

    ``lm_path`` / ``vision`` (config fields) point at moved base models; their weights must
    still match the recorded fingerprints (unless ``check_base_models=False``).
    """
    from safetensors.torch import load_file

    from .bridges import build_bridge
    from .lm import describe_lm, load_lm
    from .vision import VisionEncoder
    from .vlm import VisionLanguageModel

    p = Path(path)
    data = read_bridge_config(p)
    bridge_cfg = bridge_config_from_dict(data["bridge"])
    vision_cfg = VisionConfig(**{**data["vision"], **(vision or {})})
    lm_cfg = LMConfig(**data["lm"])
    if lm_path:
        lm_cfg = lm_cfg.model_copy(update={"path": lm_path, "tokenizer": None})
    enc = VisionEncoder(vision_cfg)
    lm, tok, seq2seq = load_lm(lm_cfg)
    actual = {"vision": enc.describe(), "lm": describe_lm(lm, lm_cfg)}
    if check_base_models:
        recorded = data.get("base_models", {})
        for kind in ("vision", "lm"):
            if kind in recorded:
                _check_base(kind if kind == "lm" else "vision encoder", recorded[kind], actual[kind], p)
    if lm_cfg.tune in ("lora", "prefix"):
        from peft import PeftModel

        adapter = p / ADAPTER_DIR
        if not adapter.is_dir():
            raise BridgeLoadError(f"{p}: lm.tune is {lm_cfg.tune} but there is no {ADAPTER_DIR}/")
        lm = PeftModel.from_pretrained(lm, str(adapter), is_trainable=False)
    lm_dim = lm.get_input_embeddings().embedding_dim
    bridge = build_bridge(bridge_cfg, enc.dim(bridge_cfg.feature_kind), lm_dim, vocab_size=len(tok))
    vlm = VisionLanguageModel(
        enc,
        bridge,
        lm,
        tok,
        vision_cfg=vision_cfg,
        bridge_cfg=bridge_cfg,
        lm_cfg=lm_cfg,
        seq2seq=seq2seq,
        prompt=data.get("prompt"),
        max_text_tokens=int(data.get("max_text_tokens", 48)),
        base_models=data.get("base_models") or actual,
    )
    weights_file = p / BRIDGE_WEIGHTS
    if not weights_file.is_file():
        raise BridgeLoadError(f"{p}: missing {BRIDGE_WEIGHTS}")
    state = load_file(str(weights_file))
    named = vlm.state_dict(keep_vars=True)
    unknown = [k for k in state if k not in named]
    if unknown:
        raise BridgeLoadError(f"{weights_file}: weights not in this model: {unknown[:3]}")
    with torch.no_grad():
        for k, v in state.items():
            if named[k].shape != v.shape:
                raise BridgeLoadError(
                    f"{weights_file}: {k} has shape {tuple(v.shape)}, model expects "
                    f"{tuple(named[k].shape)}"
                )
            named[k].copy_(v)
    vlm.requires_grad_(False)
    vlm.to(device)
    vlm.eval()
    return vlm
