"""open_clip backend: any architecture open_clip knows, with a pretrained tag or local weights.

A CoCa (``coca_ViT-B-32`` ..., or an export whose config has a ``multimodal_cfg``) serves two
kinds of nodes from one ``models:`` entry: ``clip.*`` (its contrastive towers) and
``caption.generate`` (its text decoder, :mod:`socratic.vision.coca`).

``model`` is an open_clip architecture (``ViT-B-32``), ``hf-hub:org/name`` or
``local-dir:/path``; ``pretrained`` is a tag (``laion2b_s34b_b79k``), a checkpoint file or a
directory holding one (or an open_clip export with ``open_clip_config.json``). No ``pretrained``
gives random weights (tests, benchmarks); such a model never uses the disk cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from ..errors import ModelLoadError
from ..loaders.device import torch_dtype
from ..loaders.hub import stat_identity
from ..models import BackendConfig
from .base import CaptionOptions
from .clip_base import ClipConfig, ClipModel, to_pil
from .coca import is_coca_config
from .lazy import np

if TYPE_CHECKING:
    from ..loaders import OpenClip


class OpenClipConfig(ClipConfig, CaptionOptions):
    """Config of the ``open_clip`` backend (the caption options apply to CoCa models)."""

    model: str = Field("ViT-B-32", description="architecture, hf-hub:org/name or local-dir:PATH")
    pretrained: str | None = Field(
        None, description="tag (laion2b_s34b_b79k), checkpoint file, or directory; None: random"
    )


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

    @property
    def is_coca(self) -> bool:
        """A CoCa (known without loading: by its name, or its export's config)."""
        name = self.config.model
        if name.startswith("local-dir:"):
            import json

            cfg = Path(name[len("local-dir:"):]).expanduser() / "open_clip_config.json"
            try:
                return is_coca_config(json.loads(cfg.read_text(encoding="utf-8")).get("model_cfg"))
            except (OSError, ValueError):
                return False
        return name.split("/")[-1].lower().startswith("coca")

    def serves(self, kind: str) -> bool:
        return super().serves(kind) or (kind == "captioner" and self.is_coca)

    def caption(self, images: list[Any], **options: Any) -> list[list[str]]:
        """Captions from a CoCa's text decoder (``caption.generate`` calls this)."""
        from .captioner import caption_options
        from .coca import coca_captions

        r: OpenClip = self.resource()
        if not is_coca_config(r.model_cfg) and type(r.model).__name__ != "CoCa":
            raise ModelLoadError(f"open_clip '{self.config.model}' is not a CoCa: it cannot caption")
        import torch

        opts = caption_options(self.config, options)
        pil = [to_pil(im) for im in images]
        out: list[list[str]] = []
        for start in range(0, len(pil), self.config.batch_size):
            chunk = pil[start : start + self.config.batch_size]
            batch = torch.stack([r.preprocess(im) for im in chunk]).to(r.device)
            out += coca_captions(r.model, batch, opts)
        return out

    def cache_identity(self) -> str | None:
        cfg = self.config
        if cfg.model.startswith("hf-hub:"):
            weights = cfg.model
        elif cfg.model.startswith("local-dir:"):
            weights = stat_identity(Path(cfg.model[len("local-dir:") :]))
        elif not cfg.pretrained:
            return None  # random weights: nothing stable to cache against
        else:
            p = Path(cfg.pretrained).expanduser()
            weights = stat_identity(p) if p.exists() else f"{cfg.model}/{cfg.pretrained.lower()}"
        return f"open_clip|{cfg.model}|{weights}|{cfg.precision}"

    def _load(self) -> OpenClip:
        from ..loaders import load_open_clip

        cfg = self.config
        return load_open_clip(cfg.model, cfg.pretrained, device=cfg.device, precision=cfg.precision)

    # ------------------------------------------------------------------ hooks
    def _encode_images(self, images: list[Any]) -> np.ndarray:
        r: OpenClip = self.resource()  # loads (and imports torch) under the load lock
        import torch

        dtype = torch_dtype(self.config.precision)
        batch = torch.stack([r.preprocess(im) for im in images]).to(r.device, dtype=dtype)
        with torch.inference_mode():
            feats = r.model.encode_image(batch)
        return feats.float().cpu().numpy()

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        r: OpenClip = self.resource()
        import torch

        tokens = r.tokenizer(texts).to(r.device)
        with torch.inference_mode():
            feats = r.model.encode_text(tokens)
        return feats.float().cpu().numpy()

    def _scale(self) -> float:
        r: OpenClip = self.resource()
        return float(r.model.logit_scale.detach().float().exp().item())

    def _bias(self) -> float | None:
        r: OpenClip = self.resource()
        bias = getattr(r.model, "logit_bias", None)
        return None if bias is None else float(bias.detach().float().item())
