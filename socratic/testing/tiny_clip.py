"""Tiny CLIP models built offline: open_clip (architecture JSON, or a saved model folder) and
transformers CLIP / SigLIP. Weights are seeded and random; the text side uses CLIP's real BPE
vocabulary, which ships inside the open_clip wheel, so token ids are the true CLIP ids.

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from socratic.vision.clip_open import OpenClipModel
    >>> tiny = make_tiny_open_clip(tempfile.mkdtemp(), logit_scale=42.0)
    >>> clip = OpenClipModel(model=tiny.local_dir, disk_cache=False)
    >>> clip.embed_texts(["a red circle", "a blue square"]).shape
    (2, 32)
    >>> round(clip.logit_scale, 3)
    42.0
    >>> same = OpenClipModel(model=tiny.arch, pretrained=str(tiny.checkpoint), disk_cache=False)
    >>> np.allclose(same.embed_texts(["a red circle"]), clip.embed_texts(["a red circle"]), atol=1e-6)
    True
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

_OPENAI_MEAN_STD = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}


#: the default tiny open_clip config: a ViT image tower, a text transformer over CLIP's vocabulary
TINY_OPEN_CLIP: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def open_clip_arch(
    embed_dim: int = 32, vision: dict[str, Any] | None = None, text: dict[str, Any] | None = None,
    coca: bool = False,
) -> dict[str, Any]:
    """An open_clip model config (what ``open_clip.add_model_config`` reads): :data:`TINY_OPEN_CLIP`
    with ``vision`` / ``text`` updating its ``vision_cfg`` / ``text_cfg`` (open_clip's key names).
    ``coca``: a CoCa (attentional pooling, a [CLS] text token, a one-layer multimodal decoder).

    Example:
        >>> sorted(open_clip_arch(coca=True))
        ['custom_text', 'embed_dim', 'multimodal_cfg', 'text_cfg', 'vision_cfg']
    """
    cfg = {"embed_dim": embed_dim, "vision_cfg": {**TINY_OPEN_CLIP["vision_cfg"], **(vision or {})},
           "text_cfg": {**TINY_OPEN_CLIP["text_cfg"], **(text or {})}}
    if coca:
        cfg["vision_cfg"].update(attentional_pool=True, attn_pooler_heads=2, output_tokens=True)
        cfg["text_cfg"].update(embed_cls=True, output_tokens=True)
        text_cfg = cfg["text_cfg"]
        cfg["multimodal_cfg"] = {"context_length": text_cfg["context_length"], "vocab_size": 49408,
                                 "width": text_cfg["width"], "heads": 2, "layers": 1, "attn_pooler_heads": 2}
        cfg["custom_text"] = True
    return cfg


def write_open_clip_arch(directory: str | os.PathLike[str], name: str | None = None, **arch: Any) -> Path:
    """Write :func:`open_clip_arch` ``(**arch)`` to ``directory/<name>.json`` and return the
    path (what contrastive configs take as ``arch``). The default name is derived from the
    config, so different configs never share a name in open_clip's registry."""
    cfg = open_clip_arch(**arch)
    name = name or "tiny-clip-" + hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:8]
    path = Path(directory) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    return path


@dataclass(frozen=True)
class TinyOpenClip:
    """A saved tiny open_clip model (see :func:`make_tiny_open_clip`): ``arch`` is registered
    with open_clip, ``checkpoint`` its weights (``torch.save``), ``path`` the folder.

    Example:
        >>> import tempfile
        >>> tiny = make_tiny_open_clip(tempfile.mkdtemp(), embed_dim=16)
        >>> tiny.config["embed_dim"], tiny.local_dir.startswith("local-dir:")
        (16, True)
    """

    arch: str
    path: Path
    checkpoint: Path
    config: dict[str, Any]

    @property
    def local_dir(self) -> str:
        """The model name that loads the folder: ``local-dir:<path>``."""
        return f"local-dir:{self.path}"


def make_tiny_open_clip(
    out_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    seed: int = 0,
    logit_scale: float | None = None,
    **arch: Any,
) -> TinyOpenClip:
    """Build an open_clip model from :func:`open_clip_arch` ``(**arch)`` with seeded random
    weights (``logit_scale``: the learned temperature, default open_clip's 1/0.07) and save it
    as an open_clip folder: ``open_clip_config.json`` (loads as ``local-dir:``), ``<arch>.json``
    (registered with open_clip here) and ``open_clip_pytorch_model.pth``."""
    import math

    import open_clip
    import torch

    out = Path(out_dir)
    arch_file = write_open_clip_arch(out, name, **arch)
    open_clip.add_model_config(arch_file)
    cfg = json.loads(arch_file.read_text())
    (out / "open_clip_config.json").write_text(json.dumps(
        {"model_cfg": cfg, "preprocess_cfg": {"size": cfg["vision_cfg"]["image_size"], **_OPENAI_MEAN_STD}}
    ))
    from socratic.loaders.open_clip import initialise_coca_decoder

    torch.manual_seed(seed)
    model = open_clip.create_model(arch_file.stem)
    initialise_coca_decoder(model)  # a CoCa's decoder projection is left uninitialised otherwise
    if logit_scale is not None:
        with torch.no_grad():
            model.logit_scale.fill_(math.log(logit_scale))
    checkpoint = out / "open_clip_pytorch_model.pth"
    torch.save(model.state_dict(), checkpoint)
    return TinyOpenClip(arch_file.stem, out, checkpoint, cfg)


def clip_tokenizer(model_max_length: int = 77) -> Any:
    """transformers' ``CLIPTokenizer`` rebuilt from open_clip's bundled BPE vocabulary: the same
    ids as ``open_clip.get_tokenizer("ViT-B-32")``, offline."""
    from open_clip.tokenizer import SimpleTokenizer
    from transformers import CLIPTokenizer

    bpe = SimpleTokenizer()
    rename = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {rename.get(k, k): v for k, v in bpe.encoder.items()}
    merges = [m for m, _ in sorted(bpe.bpe_ranks.items(), key=lambda kv: kv[1])]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)


def vit_config(layers: int = 2) -> dict[str, Any]:
    """The tiny transformers ViT sub-config that CLIP, SigLIP, BLIP and GIT towers share."""
    return {"image_size": 32, "patch_size": 8, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": layers, "num_attention_heads": 2}


def make_tiny_hf_clip(
    out_dir: str | os.PathLike[str],
    arch: Literal["clip", "siglip"] = "clip",
    *,
    seed: int = 0,
    logit_scale: float | None = None,
    logit_bias: float | None = None,
) -> Path:
    """Save a transformers ``CLIPModel`` + ``CLIPProcessor`` (softmax scores) or ``SiglipModel``
    + ``SiglipProcessor`` (sigmoid scores, a CLIP tokenizer: sentencepiece is not needed) to
    ``out_dir``; ``logit_scale`` / ``logit_bias`` (SigLIP) set the learned values."""
    import math

    import torch
    import transformers as hf

    length = 77 if arch == "clip" else 16
    text = {"vocab_size": 49408, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": length}
    torch.manual_seed(seed)
    model: Any
    if arch == "clip":
        model = hf.CLIPModel(hf.CLIPConfig(text_config=text, vision_config=vit_config(), projection_dim=24))
        images: Any = hf.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32)
        proc: Any = hf.CLIPProcessor(image_processor=images, tokenizer=clip_tokenizer())
    elif arch == "siglip":
        model = hf.SiglipModel(hf.SiglipConfig(text_config=text, vision_config=vit_config()))
        images = hf.SiglipImageProcessor(size={"height": 32, "width": 32})
        proc = hf.SiglipProcessor(image_processor=images, tokenizer=clip_tokenizer(length))
    else:
        raise ValueError(f"unknown tiny CLIP arch {arch!r}: clip or siglip")
    with torch.no_grad():
        if logit_scale is not None:
            model.logit_scale.fill_(math.log(logit_scale))
        if logit_bias is not None:
            model.logit_bias.fill_(logit_bias)
    model.save_pretrained(out_dir)
    proc.save_pretrained(out_dir)
    return Path(out_dir)
