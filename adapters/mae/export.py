"""Export a MAE encoder as an open_clip image tower, so that ``VisionConfig(model=
"local-dir:FOLDER")`` (bridges, FROMAGe, Flamingo, PGN) and ``{backend: open_clip, model:
"local-dir:FOLDER"}`` (graphs: ``clip.embed_image``, ``retrieval.search``) load it.

The layouts match exactly: open_clip's ``VisionTransformer`` with ``no_ln_pre``, the encoder's
LayerNorm epsilon, exact GELU, class-token (or mean patch-token: ``pool: mean``) pooling after
the final LayerNorm and an identity projection; MAE's patch-embedding bias is folded into the
positional embeddings of the patches (open_clip's patch embedding has none). An open_clip model
needs a text tower: the export carries a tiny random one (one layer, 8 wide) that nothing should
use.

Example:
    >>> folder = export_open_clip(mae, "runs/mae/open_clip")      # doctest: +SKIP
    >>> VisionEncoder(VisionConfig(model=f"local-dir:{folder}"))   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from .config import MAEModelSettings
from .model import MaskedAutoencoder

__all__ = ["export_open_clip", "open_clip_config", "open_clip_visual_state"]

#: the placeholder text tower of an exported model (CLIP's vocabulary, so tokenizers still work)
PLACEHOLDER_TEXT = {"context_length": 16, "vocab_size": 49408, "width": 8, "heads": 1, "layers": 1}


def open_clip_config(s: MAEModelSettings) -> dict[str, Any]:
    """The open_clip model config of the encoder (image tower) of ``s``."""
    return {
        "embed_dim": s.hidden_size,
        "vision_cfg": {
            "image_size": s.image_size,
            "patch_size": s.patch_size,
            "width": s.hidden_size,
            "layers": s.num_layers,
            "head_width": s.hidden_size // s.num_heads,
            "mlp_ratio": s.mlp_ratio,
            "no_ln_pre": True,
            "pool_type": "avg" if s.pool == "mean" else "tok",
            "norm_kwargs": {"eps": s.layer_norm_eps},
        },
        "text_cfg": dict(PLACEHOLDER_TEXT),
    }


def open_clip_visual_state(mae: MaskedAutoencoder) -> dict[str, torch.Tensor]:
    """The encoder's weights under open_clip ``VisionTransformer`` names."""
    vit = mae.mae.vit
    emb = vit.embeddings
    conv = emb.patch_embeddings.projection
    pos = emb.position_embeddings[0].detach().clone()
    pos[1:] += conv.bias.detach()  # x W + b + pos == x W + (pos + b)
    width = conv.out_channels
    state = {
        "conv1.weight": conv.weight.detach(),
        "class_embedding": emb.cls_token.detach().view(width),
        "positional_embedding": pos,
        "ln_post.weight": vit.layernorm.weight.detach(),
        "ln_post.bias": vit.layernorm.bias.detach(),
        "proj": torch.eye(width),
    }
    for i, layer in enumerate(vit.layers):
        a, p = layer.attention, f"transformer.resblocks.{i}."
        state.update(
            {
                p + "ln_1.weight": layer.layernorm_before.weight,
                p + "ln_1.bias": layer.layernorm_before.bias,
                p + "attn.in_proj_weight": torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]),
                p + "attn.in_proj_bias": torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias]),
                p + "attn.out_proj.weight": a.o_proj.weight,
                p + "attn.out_proj.bias": a.o_proj.bias,
                p + "ln_2.weight": layer.layernorm_after.weight,
                p + "ln_2.bias": layer.layernorm_after.bias,
                p + "mlp.c_fc.weight": layer.mlp.fc1.weight,
                p + "mlp.c_fc.bias": layer.mlp.fc1.bias,
                p + "mlp.c_proj.weight": layer.mlp.fc2.weight,
                p + "mlp.c_proj.bias": layer.mlp.fc2.bias,
            }
        )
    return {k: v.detach().clone().float() for k, v in state.items()}


def export_open_clip(mae: MaskedAutoencoder, out_dir: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Write the encoder as an open_clip folder (``open_clip_config.json``, ``<arch>.json``,
    weights); returns the folder."""
    import open_clip
    from socratic.adapters.contrastive.towers import save_open_clip

    from socratic.loaders import load_lock
    from socratic.loaders.open_clip import OpenClip

    s = mae.settings
    cfg = open_clip_config(s)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arch = "mae-vit-" + hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:8]
    (out / f"{arch}.json").write_text(json.dumps(cfg, indent=2) + "\n")
    with load_lock:
        open_clip.add_model_config(out / f"{arch}.json")
        torch.manual_seed(seed)
        model = open_clip.create_model(arch)
    state = open_clip_visual_state(mae)
    missing, unexpected = model.visual.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.startswith("ln_pre")]:
        raise RuntimeError(f"MAE -> open_clip: missing {missing[:3]}, unexpected {unexpected[:3]}")
    pre = {"size": s.image_size, "mean": list(s.mean), "std": list(s.std)}
    return save_open_clip(
        OpenClip(model=model, preprocess=None, tokenizer=None, arch=arch, model_cfg=cfg, preprocess_cfg=pre),
        out,
    )
