"""Image and text towers for contrastive tuning: build an open_clip model (an architecture name,
JSON file or ``local-dir:``, optionally with a timm image tower: :func:`build_towers` is
:func:`socratic.loaders.build_open_clip`), load one tower from a checkpoint, lock towers as in
LiT, and save the result as an open_clip model folder.

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

import json
import os
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from socratic.errors import ModelLoadError
from socratic.loaders.hub import detail, not_found
from socratic.loaders.open_clip import (
    CHECKPOINT_SUFFIXES,
    LOCAL_DIR,
    OpenClip,
    build_open_clip,
    checkpoint_in_dir,
)

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
_SCALE_KEYS = ("logit_scale", "logit_bias")


class TowerError(ModelLoadError):
    """A tower cannot be built or loaded (unknown architecture, checkpoint that does not fit)."""


#: the towers are one open_clip model, built by :func:`socratic.loaders.build_open_clip`
BuiltTowers = OpenClip
build_towers = build_open_clip


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

    p = Path(str(path).removeprefix(LOCAL_DIR)).expanduser()
    p = weights_file(p) if p.is_dir() else p
    if not p.is_file():
        raise not_found(path, kind="checkpoint", error=TowerError)
    try:
        return dict(load_state_dict(str(p)))
    except Exception as e:
        raise TowerError(f"cannot read checkpoint {p}: {detail(e)}") from e


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
        if old.suffix in CHECKPOINT_SUFFIXES:
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
    """The weights file inside a folder (an export, or one written by :func:`save_open_clip`)."""
    found = checkpoint_in_dir(Path(folder))
    if found is None:
        raise TowerError(f"no weights file ({', '.join(CHECKPOINT_SUFFIXES)}) in {folder}")
    return found
