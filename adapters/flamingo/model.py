"""A Flamingo-style vision-language model: frozen vision encoder -> Perceiver resampler -> gated
cross-attention dense blocks interleaved with the layers of a frozen LM.

An interleaved sequence is text in which ``<image>`` marks where each image stands, every chunk
of text ending with the LM's end-of-sequence token (Flamingo's ``<EOC>``)::

    <image> red</s><image> blue</s><image>        -> the model continues: " green</s>"

``<image>`` is not added to the LM's vocabulary: its input embedding (trained) replaces a virtual
id one past the vocabulary. The gated blocks run as forward pre-hooks of the chosen decoder layers
(before each of them, as open_flamingo's ``FlamingoLayer``), so the LM's own modules and weights
are untouched; the hooks act only while this model runs the LM. Each text token attends to the
visual tokens of the image immediately before it.

Example:
    >>> model = FlamingoModel.from_configs(vision_cfg, lm_cfg, FlamingoSettings())  # doctest: +SKIP
    >>> model(**model.collate(sequences))["loss"].backward()                      # doctest: +SKIP
    >>> model.generate([[img1, " red", img2, " blue", img3]])                      # doctest: +SKIP
    ['green']
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch import nn

from ..common.frozen_vision_lm import FrozenVisionLM
from ..config import LMConfig, VisionConfig
from ..vision import VisionEncoder
from .config import FlamingoSettings
from .resampler import PerceiverResampler
from .xattn import GatedCrossAttentionBlock

__all__ = ["FlamingoModel", "decoder_layers"]

_LAYER_PATHS = (
    "transformer.h",
    "model.layers",
    "model.decoder.layers",
    "gpt_neox.layers",
    "transformer.blocks",
)


def decoder_layers(lm: nn.Module) -> nn.ModuleList:
    """The decoder layers of a transformers causal LM (GPT-2, Llama, OPT, GPT-NeoX, MPT ...).

    Example:
        >>> decoder_layers(nn.Linear(2, 2))
        Traceback (most recent call last):
        ...
        ValueError: cannot find the decoder layers of Linear (looked for transformer.h, model.layers, ...)
    """
    for path in _LAYER_PATHS:
        obj: Any = lm
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, nn.ModuleList):
            return obj
    raise ValueError(
        f"cannot find the decoder layers of {type(lm).__name__} (looked for "
        f"{', '.join(_LAYER_PATHS[:2])}, ...)"
    )


class FlamingoModel(FrozenVisionLM):
    """Frozen encoder + resampler + gated cross-attention blocks + frozen LM.

    ``forward(**collate(sequences))`` returns the next-token loss on the text; :meth:`generate`
    continues interleaved prompts (lists of PIL images and strings); :meth:`gates` reports
    ``tanh`` of every gate.

    Example:
        >>> model = FlamingoModel.from_configs(VisionConfig(model="local-dir:/m/clip"),  # doctest: +SKIP
        ...                                    LMConfig(path="/m/gpt2"), FlamingoSettings())
        >>> model.gates()                                                               # doctest: +SKIP
        [(0.0, 0.0), (0.0, 0.0)]
    """

    #: what trains (and what a saved model holds)
    TRAINABLE = ("resampler.", "xattn.", "media_embedding")
    NEEDS_DECODER_ONLY = "the Flamingo-style bridge needs a decoder-only LM"

    def __init__(
        self,
        vision: VisionEncoder,
        lm: nn.Module,
        tokenizer: Any,
        settings: FlamingoSettings,
        *,
        vision_cfg: VisionConfig,
        lm_cfg: LMConfig,
        max_text_tokens: int = 16,
        base_models: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            vision,
            lm,
            tokenizer,
            settings,
            vision_cfg=vision_cfg,
            lm_cfg=lm_cfg,
            max_text_tokens=max_text_tokens,
            base_models=base_models,
        )
        s = settings
        embeddings = lm.get_input_embeddings()
        self.vocab_size, lm_dim = embeddings.num_embeddings, embeddings.embedding_dim
        self.media_id = self.vocab_size  # a virtual id, one past the LM's vocabulary
        vis_dim = vision.dim("tokens")
        self.resampler = PerceiverResampler(
            vis_dim,
            s.resampler_depth,
            s.resampler_dim_head,
            s.resampler_heads,
            s.num_latents,
            s.resampler_ff_mult,
        )
        layers = decoder_layers(lm)
        chosen = [i for i in range(len(layers)) if (i + 1) % s.cross_attn_every == 0]
        self.xattn = nn.ModuleList(
            GatedCrossAttentionBlock(
                lm_dim,
                vis_dim,
                s.xattn_dim_head,
                s.xattn_heads,
                s.xattn_ff_mult,
                s.only_attend_immediate_media,
            )
            for _ in chosen
        )
        with torch.no_grad():
            start = embeddings.weight.float().mean(0)
        self.media_embedding = nn.Parameter(start + 0.02 * torch.randn(lm_dim))
        self._context: tuple[torch.Tensor, torch.Tensor] | None = None
        self._hooks = [
            layers[i].register_forward_pre_hook(partial(self._before_layer, j), with_kwargs=True)
            for j, i in enumerate(chosen)
        ]
        self._lock = threading.Lock()  # the hooks read one context: one forward at a time
        self.train(False)

    def gates(self) -> list[tuple[float, float]]:
        """``(tanh(attn_gate), tanh(ff_gate))`` of each gated block, first layer first."""
        return [block.gates() for block in self.xattn]  # type: ignore[attr-defined]

    # ------------------------------------------------------------ pieces

    @property
    def device(self) -> torch.device:
        return self.media_embedding.device

    def preprocess(self, images: Sequence[Any]) -> torch.Tensor:
        return self.vision.preprocess(list(images))

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Patch tokens of the frozen encoder ``[B, N, W]``."""
        with torch.no_grad():
            return self.vision(pixel_values.to(self.device))["tokens"].float()

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """LM input embeddings where ``media_id`` is the learned ``<image>`` vector."""
        ids = ids.to(self.device)
        out = self.lm.get_input_embeddings()(ids.clamp(max=self.vocab_size - 1))
        return torch.where((ids == self.media_id).unsqueeze(-1), self.media_embedding.to(out.dtype), out)

    def _before_layer(self, j: int, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._context is None:  # the LM used on its own: untouched
            return None
        media, where = self._context
        if args:
            return (self.xattn[j](args[0], media, where), *args[1:]), kwargs
        kwargs = dict(kwargs)
        kwargs["hidden_states"] = self.xattn[j](kwargs["hidden_states"], media, where)
        return args, kwargs

    def run_lm(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        media: torch.Tensor | None,
        labels: torch.Tensor | None = None,
    ) -> Any:
        """The LM's output on ``ids`` with the gated blocks reading ``media`` (resampled visual
        tokens ``[B, T_img, latents, W]``; ``None``: the LM alone)."""
        ids, mask = ids.to(self.device), mask.to(self.device)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding keeps positions from 0
        self._context = None if media is None else (media, ids == self.media_id)
        try:
            return self.lm(
                inputs_embeds=self.embed(ids),
                attention_mask=mask,
                position_ids=position_ids,
                labels=None if labels is None else labels.to(self.device),
                use_cache=False,
            )
        finally:
            self._context = None

    # ------------------------------------------------------------ data

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])[: self.max_text_tokens]

    def sequence_ids(self, texts: Sequence[str | None]) -> tuple[list[int], list[int]]:
        """Ids and labels of ``<image> text</s>`` chunks, one per image (``None``: the image
        alone, the place where an answer is to be generated); labels are the text and ``</s>``."""
        eos = self.tokenizer.eos_token_id
        ids: list[int] = []
        labels: list[int] = []
        for text in texts:
            ids.append(self.media_id)
            labels.append(-100)
            if text is not None:
                chunk = [*self._ids(" " + text.strip()), eos]
                ids += chunk
                labels += chunk
        return ids, labels

    def collate(self, sequences: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Batch ``{"media": [T_img, N, W] features (or "pixel_values" [T_img, 3, S, S]),
        "texts": [T_img strings]}`` sequences (the same number of images each)."""
        key = "media" if "media" in sequences[0] else "pixel_values"
        out = {key: torch.stack([torch.as_tensor(s[key]).float() for s in sequences])}
        rows = [self.sequence_ids(s["texts"]) for s in sequences]
        width = max(len(r[0]) for r in rows)
        pad = self.tokenizer.pad_token_id
        out["input_ids"] = torch.tensor([r[0] + [pad] * (width - len(r[0])) for r in rows])
        out["attention_mask"] = torch.tensor([[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows])
        out["labels"] = torch.tensor([r[1] + [-100] * (width - len(r[1])) for r in rows])
        return out

    # ------------------------------------------------------------ training

    def visual(
        self, media: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Resampled visual tokens ``[B, T_img, latents, W]`` from patch-token features
        ``[B, T_img, N, W]`` (or pixels ``[B, T_img, 3, S, S]``)."""
        if media is None:
            if pixel_values is None:
                raise ValueError("give media or pixel_values")
            b, t = pixel_values.shape[:2]
            tokens = self.encode_images(pixel_values.flatten(0, 1))
            media = tokens.view(b, t, *tokens.shape[1:])
        return self.resampler(media.to(self.device, torch.float32))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor,
        media: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``{"loss"}``: next-token cross-entropy on the text chunks."""
        out = self.run_lm(input_ids, attention_mask, self.visual(media, pixel_values), labels)
        return {"loss": out.loss}

    # ------------------------------------------------------------ generation

    @torch.inference_mode()
    def generate_ids(
        self, ids: list[list[int]], media: torch.Tensor, max_new_tokens: int = 8
    ) -> list[list[int]]:
        """Greedy continuation of prompts (ids with ``media_id`` marks, left-padded here) whose
        images' features are ``media`` ``[B, T_img, N, W]``; each row stops at ``</s>``."""
        eos, pad = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        with self._lock:
            vis = self.visual(media)
            width = max(map(len, ids))
            rows = torch.tensor([[pad] * (width - len(r)) + r for r in ids])
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in ids])
            out: list[list[int]] = [[] for _ in ids]
            done = [False] * len(ids)
            for _ in range(max_new_tokens):
                nxt = self.run_lm(rows, mask, vis).logits[:, -1, : self.vocab_size].argmax(-1).cpu()
                for i, t in enumerate(nxt.tolist()):
                    if not done[i]:
                        out[i].append(t)
                        done[i] = t == eos
                if all(done):
                    break
                rows = torch.cat([rows, nxt[:, None]], 1)
                mask = torch.cat([mask, torch.ones(len(ids), 1, dtype=mask.dtype)], 1)
        return [[t for t in r if t != eos] for r in out]

    @torch.inference_mode()
    def generate(self, prompts: Sequence[Sequence[Any]], max_new_tokens: int = 8) -> list[str]:
        """Continue interleaved prompts: each a list of PIL images and strings (the text after an
        image), ending with the query image, e.g. ``[img1, "red", img2, "blue", img3]``. Every
        prompt must hold the same number of images."""
        ids, images = [], []
        for prompt in prompts:
            texts: list[str | None] = []
            for part in prompt:
                if isinstance(part, str):
                    if not texts or texts[-1] is not None:
                        raise ValueError("each text must follow an image")
                    texts[-1] = part
                else:
                    images.append(part)
                    texts.append(None)
            if not texts or texts[-1] is not None:
                raise ValueError("a prompt ends with the query image")
            ids.append(self.sequence_ids(texts)[0])
        per = len(images) // len(prompts)
        if per * len(prompts) != len(images):
            raise ValueError("every prompt must hold the same number of images")
        tokens = self.encode_images(self.preprocess(images))
        feats = tokens.view(len(prompts), per, *tokens.shape[1:])
        out = self.generate_ids(ids, feats, max_new_tokens)
        return [self.tokenizer.decode(r, skip_special_tokens=True).strip() for r in out]
