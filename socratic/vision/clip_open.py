"""open_clip backend: any architecture open_clip knows, with a pretrained tag or local weights.

``model`` is an open_clip architecture (``ViT-B-32``), ``hf-hub:org/name`` or
``local-dir:/path``; ``pretrained`` is a tag (``laion2b_s34b_b79k``), a checkpoint file or a
directory holding one (or an open_clip export with ``open_clip_config.json``). No ``pretrained``
gives random weights (tests, benchmarks); such a model never uses the disk cache.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from ..errors import ModelLoadError
from ..models import BackendConfig
from .clip_base import ClipConfig, ClipModel, resolve_device, torch_dtype
from .lazy import np

_CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_SCHEMAS = ("hf-hub:", "local-dir:")


class OpenClipConfig(ClipConfig):
    """Config of the ``open_clip`` backend."""

    model: str = Field("ViT-B-32", description="architecture, hf-hub:org/name or local-dir:PATH")
    pretrained: str | None = Field(
        None, description="tag (laion2b_s34b_b79k), checkpoint file, or directory; None: random"
    )


@dataclass
class _Loaded:
    model: Any
    preprocess: Any
    tokenizer: Any
    device: str
    dtype: Any


def _close(name: str, names: list[str], n: int = 5) -> str:
    close = difflib.get_close_matches(name, names, n=n, cutoff=0.5)
    if not close:
        lowered = {x.lower(): x for x in names}
        close = [lowered[x] for x in difflib.get_close_matches(name.lower(), list(lowered), n=n)]
    return f"; did you mean: {', '.join(close)}?" if close else ""


def _looks_like_path(value: str) -> bool:
    return (
        os.sep in value
        or value.startswith((".", "~"))
        or value.lower().endswith(_CHECKPOINT_SUFFIXES)
    )


def _checkpoint_in_dir(path: Path) -> Path | None:
    files = [p for p in sorted(path.iterdir()) if p.suffix in _CHECKPOINT_SUFFIXES and p.is_file()]
    files.sort(key=lambda p: (p.suffix != ".safetensors", "open_clip" not in p.name))
    return files[0] if files else None


class OpenClipModel(ClipModel):
    """CLIP scorer on open_clip.

    Example (YAML ``models:`` entry or Python):
        >>> clip = OpenClipModel(model="ViT-B-32", pretrained="laion2b_s34b_b79k")
        >>> clip.name
        'open_clip:ViT-B-32'

        Offline, point ``pretrained`` at local weights:
        ``OpenClipModel(model="ViT-B-32", pretrained="/models/b32/open_clip_model.safetensors")``.
        Then ``clip.embed_images([...])``, ``clip.zero_shot(images, classes)`` etc. (see
        :class:`~socratic.vision.clip_base.ClipModel`).
    """

    backend: ClassVar[str] = "open_clip"
    Config: ClassVar[type[BackendConfig]] = OpenClipConfig

    # ------------------------------------------------------------------ resolving names
    def _resolve(self) -> tuple[str, str | None, str]:
        """(name for open_clip, pretrained argument, kind of weights: tag|file|schema|none)."""
        import open_clip

        cfg = self.config
        name: str = cfg.model
        if name.startswith(_SCHEMAS):
            if name.startswith("local-dir:") and not Path(name[len("local-dir:") :]).is_dir():
                raise ModelLoadError(f"open_clip directory not found: {name[len('local-dir:'):]}")
            return name, None, "schema"
        arch = name.replace("/", "-")
        known = open_clip.list_models()
        if arch not in known:
            raise ModelLoadError(
                f"open_clip architecture '{name}' is unknown{_close(arch, known)} "
                "(see open_clip.list_models(); a custom one needs open_clip.add_model_config)"
            )
        pre = cfg.pretrained
        if not pre:
            return arch, None, "none"
        path = Path(pre).expanduser()
        if path.is_dir():
            if (path / "open_clip_config.json").is_file():
                return f"local-dir:{path}", None, "schema"
            ckpt = _checkpoint_in_dir(path)
            if ckpt is None:
                raise ModelLoadError(
                    f"no checkpoint ({', '.join(_CHECKPOINT_SUFFIXES)}) in directory {path} "
                    f"given as pretrained weights of open_clip '{name}'"
                )
            return arch, str(ckpt), "file"
        if path.is_file():
            return arch, str(path), "file"
        tags = open_clip.list_pretrained_tags_by_model(arch)
        if pre.lower() in {t.lower() for t in tags}:
            return arch, pre, "tag"
        if _looks_like_path(pre):
            raise ModelLoadError(f"checkpoint not found: {pre} (pretrained weights of '{name}')")
        known_tags = ", ".join(tags) if tags else "none"
        raise ModelLoadError(
            f"unknown pretrained tag '{pre}' for open_clip '{arch}'{_close(pre, tags)} "
            f"(tags for {arch}: {known_tags}; or give a checkpoint path)"
        )

    def cache_identity(self) -> str | None:
        cfg = self.config
        if cfg.model.startswith("hf-hub:"):
            weights = cfg.model
        elif cfg.model.startswith("local-dir:"):
            weights = _stat_id(Path(cfg.model[len("local-dir:") :]))
        elif not cfg.pretrained:
            return None  # random weights: nothing stable to cache against
        else:
            p = Path(cfg.pretrained).expanduser()
            weights = _stat_id(p) if p.exists() else f"{cfg.model}/{cfg.pretrained.lower()}"
        return f"open_clip|{cfg.model}|{weights}|{cfg.precision}"

    # ------------------------------------------------------------------ loading
    def _load(self) -> _Loaded:
        import open_clip

        name, pretrained, how = self._resolve()
        device = resolve_device(self.config.device)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained, device=device, precision=self.config.precision
            )
            tokenizer = open_clip.get_tokenizer(name)
        except Exception as exc:
            if how == "tag" or name.startswith("hf-hub:"):
                what = f"'{name}' weights '{pretrained}'" if pretrained else f"'{name}'"
                raise ModelLoadError(
                    f"could not fetch open_clip {what}: {type(exc).__name__}: {exc}. "
                    "If this machine is offline (or HF_HUB_OFFLINE=1), download the weights "
                    "elsewhere and point at them: pretrained: /path/to/open_clip_model.safetensors "
                    "(a file or a directory holding it), or model: local-dir:/path/to/export"
                ) from exc
            raise ModelLoadError(
                f"could not load open_clip '{name}' (pretrained={pretrained}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        model.eval()
        return _Loaded(model, preprocess, tokenizer, device, torch_dtype(self.config.precision))

    # ------------------------------------------------------------------ hooks
    def _encode_images(self, images: list[Any]) -> np.ndarray:
        import torch

        r: _Loaded = self.resource()
        batch = torch.stack([r.preprocess(im) for im in images]).to(r.device, dtype=r.dtype)
        with torch.inference_mode():
            feats = r.model.encode_image(batch)
        return feats.float().cpu().numpy()

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        r: _Loaded = self.resource()
        tokens = r.tokenizer(texts).to(r.device)
        with torch.inference_mode():
            feats = r.model.encode_text(tokens)
        return feats.float().cpu().numpy()

    def _scale(self) -> float:
        r: _Loaded = self.resource()
        return float(r.model.logit_scale.detach().float().exp().item())

    def _bias(self) -> float | None:
        r: _Loaded = self.resource()
        bias = getattr(r.model, "logit_bias", None)
        return None if bias is None else float(bias.detach().float().item())


def _stat_id(path: Path) -> str:
    """Path + size + mtime of a file, or of the checkpoint files in a directory."""
    path = path.expanduser().resolve()
    files = [path] if path.is_file() else sorted(p for p in path.glob("*") if p.is_file())
    parts = []
    for f in files:
        st = f.stat()
        parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return f"{path}[{';'.join(parts)}]"
