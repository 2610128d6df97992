"""The trainable wrapper: an open_clip model, its towers locked or not, and CLIP's loss (or, for
a CoCa, open_clip's contrastive + captioning ``CoCaLoss``).

Example:
    >>> wrapped = ContrastiveModel(clip, image_locked=True)      # doctest: +SKIP
    >>> wrapped(pixels=images, tokens=tokens)["loss"]            # doctest: +SKIP
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .losses import MAX_LOGIT_SCALE, ClipLoss
from .towers import lock_tower

__all__ = ["ContrastiveModel"]


class ContrastiveModel(nn.Module):
    """``forward(pixels, tokens) -> {"loss", "logit_scale"}`` for an open_clip model.

    A locked tower has no trainable parameters (so it is in no optimizer), runs without autograd
    and always stays in eval mode (no dropout, no batch-norm statistics updates): its weights and
    buffers end bit-identical. ``clamp_()`` keeps the learned log-scale in ``[0, ln(max_scale)]``
    (call it after each optimizer step, as open_clip's trainer does; the loss also clamps).

    Example:
        >>> import open_clip                                               # doctest: +SKIP
        >>> m = ContrastiveModel(open_clip.create_model("RN50"), image_locked=True)  # doctest: +SKIP
        >>> [n for n, p in m.named_parameters() if p.requires_grad][0]     # doctest: +SKIP
        'clip.positional_embedding'
    """

    def __init__(
        self,
        clip: nn.Module,
        *,
        image_locked: bool = False,
        text_locked: bool = False,
        learn_logit_scale: bool = True,
        local_loss: bool = True,
        max_scale: float = MAX_LOGIT_SCALE,
        coca_weights: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        self.clip = clip
        self.image_locked = image_locked
        self.text_locked = text_locked
        self.max_scale = max_scale
        self.loss_fn = ClipLoss(local_loss=local_loss, max_scale=max_scale)
        self.coca_loss = None
        if coca_weights is not None:  # (clip weight, caption weight)
            from open_clip.loss import CoCaLoss

            from .losses import dist_info

            rank, world = dist_info()
            self.coca_loss = CoCaLoss(caption_loss_weight=coca_weights[1], clip_loss_weight=coca_weights[0],
                                      pad_id=getattr(clip, "pad_id", 0), local_loss=local_loss,
                                      gather_with_grad=True, rank=rank, world_size=world)
        if image_locked:
            lock_tower(clip, "image")
        if text_locked:
            lock_tower(clip, "text")
        clip.logit_scale.requires_grad_(learn_logit_scale)
        self.train(self.training)

    def train(self, mode: bool = True) -> ContrastiveModel:
        super().train(mode)
        for name, child in self.clip.named_children():
            if (name == "visual" and self.image_locked) or (name != "visual" and self.text_locked):
                child.eval()
        return self

    def _encode(self, fn: nn.Module | object, x: torch.Tensor, locked: bool) -> torch.Tensor:
        if locked:
            with torch.no_grad():
                return fn(x)  # type: ignore[operator]
        return fn(x)  # type: ignore[operator]

    def forward(self, pixels: torch.Tensor, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.coca_loss is not None:
            out = self.clip(pixels, tokens)
            scale = self.clip.logit_scale.exp().clamp(max=self.max_scale)
            contrastive, captioning = self.coca_loss(out["image_features"], out["text_features"],
                                                     out["logits"], out["labels"], scale)
            return {"loss": contrastive + captioning, "caption_loss": captioning.detach()}
        image = self._encode(self.clip.encode_image, pixels, self.image_locked)
        text = self._encode(self.clip.encode_text, tokens, self.text_locked)
        loss = self.loss_fn(image.float(), text.float(), self.clip.logit_scale)
        return {"loss": loss}

    @torch.no_grad()
    def clamp_(self) -> None:
        """Clamp the learned log-scale in place to ``[0, ln(max_scale)]``."""
        self.clip.logit_scale.clamp_(0.0, math.log(self.max_scale))
