"""Save and load a trained model the peft way: ``<kind>_config.json`` (what to rebuild, the base
models' paths and weight fingerprints) next to ``<kind>.safetensors`` holding the trainable
weights only. A folder is written under a temporary name and renamed when complete.

Example:
    >>> import tempfile, torch
    >>> out = save_trainable(tempfile.mkdtemp() + "/m", "demo", {"size": 2}, {"w": torch.ones(2)})
    >>> config, weights = load_trainable(out, "demo")
    >>> config["size"], weights["w"].tolist()
    (2, [1.0, 1.0])
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..vision import BaseModelError

__all__ = ["SavedModelError", "check_base", "copy_weights", "load_trainable", "save_trainable"]


class SavedModelError(BaseModelError):
    """A saved model folder cannot be loaded (missing files, other kind, mismatched base model)."""


def _names(kind: str) -> tuple[str, str, str]:
    return f"{kind}_config.json", f"{kind}.safetensors", f"socratic-{kind}"


def save_trainable(
    path: str | os.PathLike[str], kind: str, config: dict[str, Any], weights: dict[str, torch.Tensor]
) -> Path:
    """Write ``config`` (JSON) and ``weights`` (safetensors) to the folder ``path``, atomically."""
    from safetensors.torch import save_file

    cfg_name, weights_name, fmt = _names(kind)
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    state = {k: v.detach().contiguous().cpu() for k, v in weights.items()}
    save_file(state, str(tmp / weights_name), metadata={"format": fmt})
    body = {"format": fmt, "version": 1, **config, "weights": sorted(state)}
    (tmp / cfg_name).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


def load_trainable(path: str | os.PathLike[str], kind: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(config, weights)`` of a folder written by :func:`save_trainable` for ``kind``."""
    from safetensors.torch import load_file

    cfg_name, weights_name, fmt = _names(kind)
    p = Path(path)
    if not (p / cfg_name).is_file():
        raise SavedModelError(f"{p}: not a saved {kind} model (no {cfg_name})")
    config = json.loads((p / cfg_name).read_text(encoding="utf-8"))
    if config.get("format") != fmt:
        raise SavedModelError(f"{p / cfg_name}: format {config.get('format')!r}, expected {fmt!r}")
    if not (p / weights_name).is_file():
        raise SavedModelError(f"{p}: missing {weights_name}")
    return config, load_file(str(p / weights_name))


def copy_weights(module: nn.Module, weights: dict[str, torch.Tensor], where: str | os.PathLike[str]) -> None:
    """Copy saved tensors into ``module`` by name; unknown names and other shapes are errors."""
    named = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    unknown = sorted(set(weights) - set(named))
    if unknown:
        raise SavedModelError(f"{where}: weights not in this model: {unknown[:3]}")
    with torch.no_grad():
        for k, v in weights.items():
            if named[k].shape != v.shape:
                raise SavedModelError(
                    f"{where}: {k} has shape {tuple(v.shape)}, the model expects {tuple(named[k].shape)}"
                )
            named[k].copy_(v.to(named[k].device, named[k].dtype))


def check_base(
    kind: str, recorded: dict[str, Any], actual: dict[str, Any], where: str | os.PathLike[str]
) -> None:
    """A base model whose weights fingerprint differs from the recorded one is an error."""
    want, got = recorded.get("fingerprint"), actual.get("fingerprint")
    if want and got and want != got:
        name = recorded.get("path") or recorded.get("model")
        raise SavedModelError(
            f"{where}: trained against {kind} '{name}' (weights fingerprint {want}), but the {kind} "
            f"loaded from '{actual.get('path') or actual.get('model')}' has fingerprint {got}: a "
            "different or modified base model"
        )


def absolute(path: str | None) -> str | None:
    """A path made absolute when it exists (``local-dir:`` kept in front); other names as given."""
    if not path:
        return path
    if path.startswith("local-dir:"):
        return "local-dir:" + os.path.abspath(path[len("local-dir:") :])
    return os.path.abspath(path) if os.path.exists(path) else path
