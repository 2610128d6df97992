"""open_clip models: ``model`` is an architecture (``ViT-B-32``, or one registered from JSON),
``hf-hub:org/name`` or ``local-dir:PATH``; ``pretrained`` a tag, a checkpoint file, a directory
holding one (or an export), or ``None`` (random). :func:`build_open_clip` builds a seeded random
model from an architecture name, JSON file or ``local-dir:`` (for training).

Example:
    >>> resolve_open_clip("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K")
    ('hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K', None, 'schema')
    >>> clip = load_open_clip("ViT-B-32", "/models/b32/open_clip_model.safetensors")  # doctest: +SKIP
    >>> clip.tokenizer(["a cat"]).shape                                              # doctest: +SKIP
    torch.Size([1, 77])
"""

from __future__ import annotations

import copy
import difflib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from .device import resolve_device
from .hub import detail, not_found, offline_error
from .lock import heavy_import, load_lock

CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
LOCAL_DIR = "local-dir:"
_LOCAL_COPY = ("download the weights where there is network and set pretrained: /path/to/open_clip_model"
               ".safetensors (a file or a directory holding it), or model: local-dir:/path/to/export")


@dataclass
class OpenClip:
    """An open_clip model, what feeds it (``preprocess``, ``tokenizer``) and what saves it (``arch``:
    its open_clip name; ``model_cfg``: ``{}`` when open_clip has none by that name).

    Example:
        >>> OpenClip(model=None, preprocess=None, tokenizer=None, arch="ViT-B-32").device
        'cpu'
    """

    model: Any
    preprocess: Any
    tokenizer: Any
    arch: str
    model_cfg: dict[str, Any] = field(default_factory=dict)
    preprocess_cfg: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"


def _close(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    if not close:
        lowered = {x.lower(): x for x in names}
        close = [lowered[x] for x in difflib.get_close_matches(name.lower(), list(lowered), n=5)]
    return f"; did you mean: {', '.join(close)}?" if close else ""


def unknown_architecture(name: str, known: list[str]) -> ModelLoadError:
    return ModelLoadError(
        f"open_clip architecture '{name}' is unknown{_close(name, known)} (see "
        "open_clip.list_models(); a custom one needs a JSON model config or local-dir:PATH)"
    )


def checkpoint_in_dir(path: Path) -> Path | None:
    """The weights file of a directory (safetensors and open_clip's own names first)."""
    files = [p for p in sorted(path.iterdir()) if p.suffix in CHECKPOINT_SUFFIXES and p.is_file()]
    files.sort(key=lambda p: (p.suffix != ".safetensors", "open_clip" not in p.name))
    return files[0] if files else None


def initialise_coca_decoder(net: Any) -> None:
    """Initialise a CoCa's multimodal text decoder as open_clip's own ``init_parameters`` means
    to. open_clip 3.3 creates the decoder's ``text_projection`` with ``torch.empty`` and never
    calls that method (which would fail: it reads ``self.transformer.width`` on a class that is
    itself the transformer), so a CoCa built without weights starts from whatever that memory
    held (NaN after other work in the process: a training run that learns nothing). Same stds as
    open_clip's text tower: attention ``width^-0.5``, projections ``width^-0.5 (2 layers)^-0.5``,
    MLP input ``(2 width)^-0.5``. Models loaded with weights do not need this; a model without
    such a decoder (a CLIP) is left as it is."""
    import torch

    decoder = getattr(net, "text_decoder", None)
    if decoder is None or not hasattr(decoder, "cross_attn"):
        return
    width, layers = decoder.width, decoder.layers
    attn_std, fc_std = width**-0.5, (2 * width) ** -0.5
    proj_std = width**-0.5 * (2 * layers) ** -0.5
    with torch.no_grad():
        for block in [*decoder.resblocks, *decoder.cross_attn]:
            torch.nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            torch.nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            torch.nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            torch.nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        if decoder.text_projection is not None:
            torch.nn.init.normal_(decoder.text_projection, std=width**-0.5)


def resolve_open_clip(model: str, pretrained: str | None = None) -> tuple[str, str | None, str]:
    """(name for open_clip, its ``pretrained`` argument, kind of weights: tag|file|schema|none)."""
    if model.startswith(("hf-hub:", LOCAL_DIR)):
        folder = model.removeprefix(LOCAL_DIR)
        if model.startswith(LOCAL_DIR) and not Path(folder).expanduser().is_dir():
            raise not_found(folder, f"open_clip '{model}'")
        return model, None, "schema"
    open_clip = heavy_import("open_clip", what=f"the open_clip model '{model}'")
    arch, known = model.replace("/", "-"), open_clip.list_models()
    if arch not in known:
        raise unknown_architecture(model, known)
    path = Path(pretrained or "").expanduser()
    if not pretrained:
        return arch, None, "none"
    if (path / "open_clip_config.json").is_file():
        return f"{LOCAL_DIR}{path}", None, "schema"
    if path.is_dir():
        if (ckpt := checkpoint_in_dir(path)) is None:
            raise ModelLoadError(f"no checkpoint ({', '.join(CHECKPOINT_SUFFIXES)}) in directory {path} "
                                 f"given as pretrained weights of open_clip '{model}'")
        return arch, str(ckpt), "file"
    if path.is_file():
        return arch, str(path), "file"
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if pretrained.lower() in {t.lower() for t in tags}:
        return arch, pretrained, "tag"
    if os.sep in pretrained or pretrained.startswith((".", "~")) or (
        path.suffix.lower() in CHECKPOINT_SUFFIXES
    ):
        raise not_found(pretrained, f"open_clip '{model}'", kind="checkpoint")
    raise ModelLoadError(
        f"unknown pretrained tag '{pretrained}' for open_clip '{arch}'{_close(pretrained, tags)} "
        f"(tags for {arch}: {', '.join(tags) or 'none'}; or give a checkpoint path)"
    )


def load_open_clip(model: str, pretrained: str | None = None, *, device: str | None = "cpu",
                   precision: str = "fp32", model_config: str | None = None,
                   image_size: int | None = None) -> OpenClip:
    """Create an open_clip model with its weights, transforms and tokenizer under the load lock;
    ``model_config`` registers a JSON architecture first, ``image_size`` overrides the input size."""
    with load_lock:
        open_clip = heavy_import("open_clip", what=f"the open_clip model '{model}'")
        if model_config:
            if not Path(model_config).is_file():
                raise not_found(model_config, f"open_clip '{model}'", kind="model config file")
            open_clip.add_model_config(model_config)
        name, weights, kind = resolve_open_clip(model, pretrained)
        device = resolve_device(device, f"open_clip '{model}'")
        try:
            net, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=weights, device=device, precision=precision,
                **({"force_image_size": image_size} if image_size else {}))
            tokenizer = open_clip.get_tokenizer(name)
        except Exception as exc:
            if kind == "tag" or name.startswith("hf-hub:"):
                fetch = f"open_clip '{name}'" + (f" weights '{weights}'" if kind == "tag" else "")
                raise offline_error("open_clip model", weights if kind == "tag" else name, exc,
                                    fetch=fetch, local_copy=_LOCAL_COPY) from None
            msg = f"cannot load open_clip '{name}' (pretrained={weights}): {detail(exc)}"
            raise ModelLoadError(msg) from exc
        if kind == "none":
            initialise_coca_decoder(net)
        net.eval()
        model_cfg = copy.deepcopy(open_clip.get_model_config(name) or {})
        pre_cfg = open_clip.get_model_preprocess_cfg(net)
    return OpenClip(net, preprocess, tokenizer, name, model_cfg, pre_cfg, device)


def read_architecture(arch: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(name, model_cfg, preprocess_cfg) of an architecture name, ``local-dir:`` or JSON file
    (a bare model config ``{embed_dim, vision_cfg, text_cfg}`` or an export ``{model_cfg, ...}``)."""
    if not arch.startswith(LOCAL_DIR) and not arch.endswith(".json"):
        open_clip = heavy_import("open_clip", what=f"the open_clip architecture '{arch}'")
        if (cfg := open_clip.get_model_config(arch)) is None:
            raise unknown_architecture(arch, open_clip.list_models())
        return arch, copy.deepcopy(cfg), {}
    local = arch.startswith(LOCAL_DIR)
    path = Path(arch.removeprefix(LOCAL_DIR)) / "open_clip_config.json" if local else Path(arch)
    if not path.is_file():
        raise not_found(path, kind="config file" if local else "architecture file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"{path}: invalid JSON: {e}") from None
    name = path.parent.name if local else path.stem
    if "model_cfg" in data:
        return name, data["model_cfg"], data.get("preprocess_cfg", {})
    if "vision_cfg" not in data or "text_cfg" not in data:
        raise ModelLoadError(f"{path}: an open_clip model config needs 'vision_cfg' and 'text_cfg'")
    return name, data, {}


def build_open_clip(arch: str, *, image_timm: str | None = None, name: str | None = None, seed: int = 0,
                    workdir: str | os.PathLike[str] | None = None) -> OpenClip:
    """A seeded random open_clip model of ``arch``; ``image_timm`` swaps in a timm image tower. A
    JSON architecture is registered as ``name`` (default: its stem) by writing ``<name>.json``
    into ``workdir``, so open_clip's factory builds it with a tokenizer matching ``text_cfg``."""
    with load_lock:
        import torch

        open_clip = heavy_import("open_clip", what=f"the open_clip architecture '{arch}'")
        arch_name, model_cfg, pre_cfg = read_architecture(arch)
        if image_timm:
            size = model_cfg.get("vision_cfg", {}).get("image_size", 224)
            model_cfg["vision_cfg"] = {"timm_model_name": image_timm, "timm_model_pretrained": False,
                                       "timm_pool": "avg", "timm_proj": "linear", "image_size": size}
            arch_name = f"{arch_name}-{image_timm.replace('/', '-')}"
        arch_name = name or arch_name
        if arch_name not in open_clip.list_models() or arch.endswith(".json") or image_timm or name:
            cfg_file = Path(workdir or tempfile.mkdtemp(prefix="socratic-arch-")) / f"{arch_name}.json"
            cfg_file.parent.mkdir(parents=True, exist_ok=True)
            cfg_file.write_text(json.dumps(model_cfg, indent=2) + "\n", encoding="utf-8")
            open_clip.add_model_config(cfg_file)
        torch.manual_seed(seed)
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)  # open_clip warns "no pretrained weights loaded": intended
        try:
            built = load_open_clip(arch_name)
        finally:
            logging.disable(previous)
        if pre_cfg:  # the export's own preprocessing (size, mean, std) wins
            size = pre_cfg.get("size", model_cfg["vision_cfg"].get("image_size", 224))
            built.preprocess = open_clip.image_transform(size, is_train=False, mean=pre_cfg.get("mean"),
                                                         std=pre_cfg.get("std"))
    built.model_cfg, built.preprocess_cfg = model_cfg, {**built.preprocess_cfg, **pre_cfg}
    return built
