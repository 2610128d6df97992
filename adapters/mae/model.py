"""Masked-autoencoder pretraining on transformers' ``ViTMAEForPreTraining``: the model, a
preprocessing that matches it, and the encoder run on all patches (no masking) for features.

Example:
    >>> from socratic.adapters.mae.config import MAEModelSettings
    >>> s = MAEModelSettings(image_size=32, patch_size=8, hidden_size=32, num_layers=1, num_heads=2,
    ...                      decoder_hidden_size=16, decoder_num_layers=1, decoder_num_heads=2)
    >>> mae = MaskedAutoencoder(s, seed=0)
    >>> import torch
    >>> out = mae(torch.randn(2, 3, 32, 32))
    >>> out["loss"].ndim, mae.encode(torch.randn(2, 3, 32, 32)).shape   # class token + 16 patches
    (0, torch.Size([2, 17, 32]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import MAEModelSettings

__all__ = ["MaskedAutoencoder", "hf_config", "initialise_like_mae", "preprocess"]


def hf_config(s: MAEModelSettings) -> Any:
    """The ``ViTMAEConfig`` of the settings."""
    from transformers import ViTMAEConfig

    return ViTMAEConfig(
        image_size=s.image_size,
        patch_size=s.patch_size,
        hidden_size=s.hidden_size,
        num_hidden_layers=s.num_layers,
        num_attention_heads=s.num_heads,
        intermediate_size=int(s.hidden_size * s.mlp_ratio),
        decoder_hidden_size=s.decoder_hidden_size,
        decoder_num_hidden_layers=s.decoder_num_layers,
        decoder_num_attention_heads=s.decoder_num_heads,
        decoder_intermediate_size=int(s.decoder_hidden_size * s.mlp_ratio),
        mask_ratio=s.mask_ratio,
        norm_pix_loss=s.norm_pix_loss,
        layer_norm_eps=s.layer_norm_eps,
    )


@torch.no_grad()
def initialise_like_mae(model: Any) -> None:
    """MAE's initialisation of a ``ViTMAEForPreTraining`` built from a config: fixed 2-D sin-cos
    position embeddings in the encoder and the decoder, class and mask tokens drawn from
    N(0, ``initializer_range``), the patch projection xavier-uniform as a linear layer.

    transformers 5.24 leaves the position embeddings, the class token and the mask token of a
    model built from a config at zero (its post-init skips the encoder's ``initialize_weights``
    and zeroes what the decoder's set), so neither the encoder nor the decoder would know where
    a patch is. A model loaded from a checkpoint does not need this.
    """
    from transformers.models.vit_mae.modeling_vit_mae import build_2d_sinusoidal_position_embedding

    emb, dec = model.vit.embeddings, model.decoder
    for param in (emb.position_embeddings, dec.decoder_pos_embed):
        grid = round((param.shape[1] - 1) ** 0.5)
        table = build_2d_sinusoidal_position_embedding(grid, grid, param.shape[-1], cls_token=True)
        half = table.shape[-1] // 2  # transformers' (and the pretrained checkpoints') layout: w, then h
        param.copy_(torch.cat([table[..., half:], table[..., :half]], -1).unsqueeze(0))
    weight = emb.patch_embeddings.projection.weight
    nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))
    nn.init.normal_(emb.cls_token, std=model.config.initializer_range)
    nn.init.normal_(dec.mask_token, std=model.config.initializer_range)


def preprocess(images: Sequence[Any], s: MAEModelSettings) -> torch.Tensor:
    """PIL images -> ``[B, 3, S, S]``: resized (bicubic) and normalised with the settings' mean/std."""
    from PIL import Image

    arrs = []
    for im in images:
        im = im.convert("RGB") if im.mode != "RGB" else im
        if im.size != (s.image_size, s.image_size):
            im = im.resize((s.image_size, s.image_size), Image.BICUBIC)
        arrs.append(np.asarray(im, dtype=np.float32) / 255.0)
    x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2)
    return (x - torch.tensor(s.mean).view(1, 3, 1, 1)) / torch.tensor(s.std).view(1, 3, 1, 1)


class MaskedAutoencoder(nn.Module):
    """``ViTMAEForPreTraining`` behind the trainer's interface: ``forward(pixel_values)`` returns
    ``{"loss"}`` (mean squared error on the masked patches); :meth:`encode` runs the encoder on
    every patch.

    Example:
        >>> MaskedAutoencoder.from_pretrained("runs/mae/model")    # doctest: +SKIP
    """

    def __init__(self, settings: MAEModelSettings, *, seed: int | None = None, model: Any = None) -> None:
        super().__init__()
        from transformers import ViTMAEForPreTraining

        self.settings = settings
        if model is None:
            if seed is not None:
                torch.manual_seed(seed)
            model = ViTMAEForPreTraining(hf_config(settings))
            initialise_like_mae(model)
        self.mae = model

    @classmethod
    def from_pretrained(cls, path: str) -> MaskedAutoencoder:
        """Load a folder written by :meth:`save_pretrained`."""
        import json
        from pathlib import Path

        from transformers import ViTMAEForPreTraining

        settings = MAEModelSettings(**json.loads((Path(path) / "mae_settings.json").read_text()))
        return cls(settings, model=ViTMAEForPreTraining.from_pretrained(path))

    def save_pretrained(self, path: str) -> None:
        """transformers' format plus ``mae_settings.json`` (sizes, normalisation)."""
        from pathlib import Path

        self.mae.save_pretrained(path)
        (Path(path) / "mae_settings.json").write_text(self.settings.model_dump_json(indent=2))

    def forward(
        self, pixel_values: torch.Tensor, noise: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        out = self.mae(pixel_values=pixel_values, noise=noise)
        return {"loss": out.loss}

    def targets(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """What the decoder reconstructs: ``[B, patches, 3 p^2]`` pixels, each patch normalised
        to mean 0 and variance 1 when ``norm_pix_loss`` (as ViTMAE's loss does)."""
        t = self.mae.patchify(pixel_values)
        if self.settings.norm_pix_loss:
            t = (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True) + 1.0e-6) ** 0.5
        return t

    @torch.no_grad()
    def prior_loss(self, pixel_values: torch.Tensor, noise: torch.Tensor, prior: torch.Tensor) -> float:
        """The loss of a predictor that ignores the image: ``prior`` ``[patches, 3 p^2]`` (e.g. the
        mean target of the training images at each position) on the patches that ``noise``
        masks, as in ``forward(pixel_values, noise)``. A trained MAE must do better."""
        mask = self.mae(pixel_values=pixel_values, noise=noise).mask
        err = ((prior.to(pixel_values.device) - self.targets(pixel_values)) ** 2).mean(-1)
        return float((err * mask).sum() / mask.sum())

    def pooled(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """One vector per image ``[B, hidden]``: the class token or the mean patch token of
        :meth:`encode`, per ``settings.pool``."""
        h = self.encode(pixel_values)
        return h[:, 1:].mean(1) if self.settings.pool == "mean" else h[:, 0]

    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Encoder output on all patches, class token first: ``[B, 1 + patches, hidden]``."""
        vit = self.mae.vit
        emb = vit.embeddings
        x = emb.patch_embeddings(pixel_values) + emb.position_embeddings[:, 1:]
        cls = (emb.cls_token + emb.position_embeddings[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], 1)
        for layer in vit.layers:
            x = layer(x, None)
        return vit.layernorm(x)
