"""Image and text towers for contrastive tuning: build an open_clip model, load one tower from a
checkpoint, lock towers as in LiT, and save the result as an open_clip model folder.

The architecture is an open_clip name (built in, or registered with
``open_clip.add_model_config``), a JSON file (either a bare model config
``{"embed_dim", "vision_cfg", "text_cfg"}`` or an export ``{"model_cfg", "preprocess_cfg"}``),
or ``local-dir:PATH``. ``image_timm`` swaps the image tower for a timm model (open_clip's
``vision_cfg.timm_model_name``), so the result is still a plain open_clip model.

Saved folder (``save_open_clip``)::

    OUT/open_clip_config.json        {"model_cfg", "preprocess_cfg"}: open_clip's local-dir format
    OUT/<arch>.json                  the model config alone, for open_clip.add_model_config
    OUT/open_clip_pytorch_model.pth  the state_dict (torch.save), or open_clip_model.safetensors

and it loads with ``OpenClipModel(model="local-dir:OUT")``, or after
``open_clip.add_model_config("OUT/<arch>.json")`` with
``OpenClipModel(model="<arch>", pretrained="OUT/open_clip_pytorch_model.pth")``.

Example:
    >>> built = build_towers("path/to/tiny.json", seed=0)             # doctest: +SKIP
    >>> load_tower(built.model, "image", "runs/uu/model")              # doctest: +SKIP
    >>> lock_tower(built.model, "image")                               # doctest: +SKIP
    >>> save_open_clip(built, "runs/lu/model")                         # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from socratic.errors import ModelLoadError

__all__ = [
    "BuiltTowers",
    "TowerError",
    "build_towers",
    "load_tower",
    "lock_tower",
    "read_checkpoint",
    "register_saved_arch",
    "save_open_clip",
    "tower_of",
    "tower_state",
    "weights_file",
]

Tower = Literal["image", "text"]
_LOCAL = "local-dir:"
_WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
_SCALE_KEYS = ("logit_scale", "logit_bias")


class TowerError(ModelLoadError):
    """A tower cannot be built or loaded (unknown architecture, checkpoint that does not fit)."""


@dataclass
class BuiltTowers:
    """An open_clip model with what is needed to feed it and to save it.

    ``arch`` is the name the saved config is registered under; ``model_cfg`` the open_clip model
    config; ``preprocess`` the (deterministic) image transform; ``tokenizer`` open_clip's.
    """

    model: nn.Module
    arch: str
    model_cfg: dict[str, Any]
    preprocess_cfg: dict[str, Any]
    preprocess: Any
    tokenizer: Any


def _read_arch(arch: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(name, model_cfg, preprocess_cfg) of an architecture name, JSON file or local-dir."""
    import open_clip

    if arch.startswith(_LOCAL):
        path = Path(arch[len(_LOCAL) :]) / "open_clip_config.json"
        if not path.is_file():
            raise TowerError(f"architecture {arch}: no open_clip_config.json in that folder")
        name = Path(arch[len(_LOCAL) :]).name
    elif arch.endswith(".json"):
        path = Path(arch)
        if not path.is_file():
            raise TowerError(f"architecture file not found: {arch}")
        name = path.stem
    else:
        cfg = open_clip.get_model_config(arch)
        if cfg is None:
            raise TowerError(
                f"open_clip architecture {arch!r} is unknown (give a registered name, a JSON model "
                "config file or local-dir:PATH)"
            )
        return arch, copy.deepcopy(cfg), {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TowerError(f"{path}: invalid JSON: {e}") from None
    if "model_cfg" in data:
        return name, data["model_cfg"], data.get("preprocess_cfg", {})
    if "vision_cfg" not in data or "text_cfg" not in data:
        raise TowerError(f"{path}: an open_clip model config needs 'vision_cfg' and 'text_cfg'")
    return name, data, {}


def build_towers(
    arch: str,
    *,
    image_timm: str | None = None,
    name: str | None = None,
    seed: int = 0,
    workdir: str | os.PathLike[str] | None = None,
) -> BuiltTowers:
    """Build a randomly initialised open_clip model (seeded) from an architecture.

    A JSON architecture (or one with ``image_timm``) is registered with open_clip under ``name``
    (default: the file's stem) by writing ``<name>.json`` into ``workdir``, so that open_clip's own
    factory builds it and its tokenizer matches ``text_cfg``.
    """
    import tempfile

    import open_clip

    arch_name, model_cfg, pre_cfg = _read_arch(arch)
    if image_timm:
        size = model_cfg.get("vision_cfg", {}).get("image_size", 224)
        model_cfg["vision_cfg"] = {
            "timm_model_name": image_timm,
            "timm_model_pretrained": False,
            "timm_pool": "avg",
            "timm_proj": "linear",
            "image_size": size,
        }
        arch_name = f"{arch_name}-{image_timm.replace('/', '-')}"
    arch_name = name or arch_name
    if arch_name not in open_clip.list_models() or arch.endswith(".json") or image_timm or name:
        folder = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="socratic-arch-"))
        folder.mkdir(parents=True, exist_ok=True)
        cfg_file = folder / f"{arch_name}.json"
        cfg_file.write_text(json.dumps(model_cfg, indent=2) + "\n", encoding="utf-8")
        open_clip.add_model_config(cfg_file)
    torch.manual_seed(seed)
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # open_clip warns "no pretrained weights loaded": intended here
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(arch_name, pretrained=None)
    except Exception as e:  # bad config keys, unknown timm model ...
        raise TowerError(f"cannot build open_clip model {arch_name!r}: {type(e).__name__}: {e}") from e
    finally:
        logging.disable(previous)
    if pre_cfg:  # the export's own preprocessing (size, mean, std) wins
        preprocess = open_clip.image_transform(
            pre_cfg.get("size", model_cfg["vision_cfg"].get("image_size", 224)),
            is_train=False,
            mean=pre_cfg.get("mean"),
            std=pre_cfg.get("std"),
        )
    from open_clip.model import get_model_preprocess_cfg

    full_pre = {**get_model_preprocess_cfg(model), **pre_cfg}
    tokenizer = open_clip.get_tokenizer(arch_name)
    return BuiltTowers(model, arch_name, model_cfg, full_pre, preprocess, tokenizer)


def tower_of(param_name: str) -> Tower | None:
    """Which tower a parameter of an open_clip model belongs to (``None``: the logit scale/bias).

    Example:
        >>> tower_of("visual.conv1.weight"), tower_of("token_embedding.weight"), tower_of("logit_scale")
        ('image', 'text', None)
    """
    if param_name.startswith("visual."):
        return "image"
    if param_name in _SCALE_KEYS:
        return None
    return "text"


def tower_state(model: nn.Module, tower: Tower) -> dict[str, torch.Tensor]:
    """The state_dict entries (parameters and buffers) of one tower, detached copies."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if tower_of(k) == tower}


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A state_dict from a weights file or a folder holding one (an open_clip export)."""
    from open_clip.factory import load_state_dict

    p = Path(str(path).removeprefix(_LOCAL)).expanduser()
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in _WEIGHT_SUFFIXES and f.is_file())
        files.sort(key=lambda f: (f.suffix != ".safetensors", "open_clip" not in f.name))
        if not files:
            raise TowerError(f"no weights file ({', '.join(_WEIGHT_SUFFIXES)}) in {p}")
        p = files[0]
    if not p.is_file():
        raise TowerError(f"checkpoint not found: {path}")
    try:
        return dict(load_state_dict(str(p)))
    except Exception as e:
        raise TowerError(f"cannot read checkpoint {p}: {type(e).__name__}: {e}") from e


def load_tower(model: nn.Module, tower: Tower, checkpoint: str | os.PathLike[str]) -> int:
    """Copy one tower's weights from ``checkpoint`` into ``model``; returns the tensors loaded.

    The checkpoint is a whole open_clip model (only that tower's keys are taken), or for the image
    tower a bare tower state_dict (keys of ``model.visual``, or of its timm trunk).
    """
    state = read_checkpoint(checkpoint)
    target = {k: v for k, v in model.state_dict().items() if tower_of(k) == tower}
    picked = {k: v for k, v in state.items() if tower_of(k) == tower}
    if tower == "image" and not picked:  # a bare visual (or timm trunk) state_dict
        for prefix in ("visual.", "visual.trunk."):
            cand = {prefix + k: v for k, v in state.items()}
            if set(cand) <= set(target) and cand:
                picked = cand
                break
    missing = sorted(set(target) - set(picked))
    unexpected = sorted(set(picked) - set(target))
    if missing or unexpected:
        raise TowerError(
            f"{checkpoint}: the {tower} tower does not fit this architecture "
            f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''})"
        )
    bad = [k for k in picked if picked[k].shape != target[k].shape]
    if bad:
        k = bad[0]
        raise TowerError(
            f"{checkpoint}: {k} has shape {tuple(picked[k].shape)}, the architecture expects "
            f"{tuple(target[k].shape)}"
        )
    model.load_state_dict(picked, strict=False)
    return len(picked)


def lock_tower(model: nn.Module, tower: Tower) -> list[str]:
    """Freeze every parameter of one tower (LiT's "L"); returns their names.

    A locked tower must also stay in eval mode (no dropout, no batch-norm statistics updates):
    :class:`~socratic.adapters.contrastive.train.ContrastiveModel` takes care of that.
    """
    names = []
    for n, p in model.named_parameters():
        if tower_of(n) == tower:
            p.requires_grad_(False)
            names.append(n)
    return names


def save_open_clip(
    built: BuiltTowers,
    out_dir: str | os.PathLike[str],
    *,
    weights_format: Literal["pt", "safetensors"] = "pt",
) -> Path:
    """Write the model as an open_clip folder (see the module docstring); returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    export = {"model_cfg": built.model_cfg, "preprocess_cfg": built.preprocess_cfg}
    (out / "open_clip_config.json").write_text(json.dumps(export, indent=2) + "\n", encoding="utf-8")
    (out / f"{built.arch}.json").write_text(json.dumps(built.model_cfg, indent=2) + "\n", encoding="utf-8")
    state = {k: v.detach().cpu().contiguous() for k, v in built.model.state_dict().items()}
    for old in out.iterdir():  # one weights file only, so loaders cannot pick a stale one
        if old.suffix in _WEIGHT_SUFFIXES:
            old.unlink()
    if weights_format == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(out / "open_clip_model.safetensors"))
    else:
        torch.save(state, out / "open_clip_pytorch_model.pth")
    return out


def register_saved_arch(folder: str | os.PathLike[str]) -> str:
    """Register the architecture of a folder written by :func:`save_open_clip` with open_clip;
    returns its name (then ``OpenClipModel(model=name, pretrained=weights_file)`` works)."""
    import open_clip

    folder = Path(folder)
    names = [p for p in folder.glob("*.json") if p.name != "open_clip_config.json"]
    if len(names) != 1:
        raise TowerError(f"{folder}: expected one <arch>.json next to open_clip_config.json")
    open_clip.add_model_config(names[0])
    return names[0].stem


def weights_file(folder: str | os.PathLike[str]) -> Path:
    """The weights file inside a saved folder."""
    for name in ("open_clip_pytorch_model.pth", "open_clip_model.safetensors"):
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    raise TowerError(f"no open_clip weights in {folder}")
