"""FROMAGe (Koh, Salakhutdinov, Fried 2023): a frozen LM grounded to images for captioning and
retrieval.

Two sequences are built from each image-caption pair:

- **captioning**: ``[image tokens] caption </s>``, the image tokens made from the pooled image
  embedding by one linear map; the loss is next-token prediction on the caption. With probability
  ``concat_captions_prob`` two pairs are joined into one sequence (the "data length"
  augmentation).
- **retrieval**: ``[prefix] caption [RET]`` (text only); the LM learns to emit ``[RET]`` after the
  caption, and the hidden state at ``[RET]`` (mapped by ``text_fc``) is pulled towards the image
  embedding (mapped by ``visual_fc``) with a symmetric InfoNCE loss against the other images in
  the batch, as BLIP's image-text contrastive loss.

Only the maps, the ``[RET]`` embedding and the temperature train; the LM and the vision encoder
stay frozen. ``[RET]`` is not added to the LM's vocabulary: its input embedding replaces a virtual
id (``ret_id``, one past the vocabulary) and its output logit is the last hidden state times the
same vector (the LM's output layer is tied to its input embeddings, as OPT's in the paper), or a
vector of its own when the LM unties them.

Example:
    >>> model = FromageModel.from_configs(vision_cfg, lm_cfg, FromageSettings())  # doctest: +SKIP
    >>> model(**model.collate(examples))["loss"].backward()                       # doctest: +SKIP
    >>> model.respond("a picture of a red circle", retrieve="auto")               # doctest: +SKIP
    Response(text='', retrieval=tensor([...]))
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..common.frozen_vision_lm import FrozenVisionLM
from ..config import LMConfig, VisionConfig
from ..vision import VisionEncoder
from .config import FromageSettings

__all__ = ["FromageModel", "Response"]

MAX_LOGIT_SCALE = math.log(100.0)


@dataclass
class Response:
    """What :meth:`FromageModel.respond` produced: the text (``[RET]`` removed) and, when the
    answer ended in ``[RET]``, the unit-norm retrieval embedding ``[embed_dim]``."""

    text: str
    retrieval: torch.Tensor | None = None


class FromageModel(FrozenVisionLM):
    """Frozen vision encoder + frozen LM + FROMAGe's trainable maps and ``[RET]`` token.

    Build with :meth:`from_configs`; train with ``forward(**collate(examples))["loss"]``; caption
    with :meth:`caption`; answer with text and a retrieval embedding with :meth:`respond`; embed
    images for an index with :meth:`image_embeddings`.

    Example:
        >>> model = FromageModel.from_configs(VisionConfig(model="local-dir:/m/clip"),  # doctest: +SKIP
        ...                                   LMConfig(path="/m/opt"), FromageSettings())
        >>> model.caption(features=feats)                                              # doctest: +SKIP
        ['a red circle', ...]
    """

    #: what trains (and what a saved model holds); everything else is the frozen encoder and LM
    TRAINABLE = ("caption_map.", "visual_fc.", "text_fc.", "ret_embedding", "ret_output", "logit_scale")
    NEEDS_DECODER_ONLY = "FROMAGe needs a decoder-only LM (its [RET] state is read from the decoder)"

    def __init__(
        self,
        vision: VisionEncoder,
        lm: nn.Module,
        tokenizer: Any,
        settings: FromageSettings,
        *,
        vision_cfg: VisionConfig,
        lm_cfg: LMConfig,
        max_text_tokens: int = 48,
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
        embeddings = lm.get_input_embeddings()
        self.vocab_size = embeddings.num_embeddings
        self.ret_id = self.vocab_size  # a virtual id, one past the LM's vocabulary
        lm_dim, hidden = embeddings.embedding_dim, int(lm.config.hidden_size)
        vis_dim, k, e = vision.pooled_dim, settings.num_visual_tokens, settings.embed_dim
        self.caption_map = nn.Linear(vis_dim, lm_dim * k)
        self.visual_fc = nn.Linear(vis_dim, e)
        self.text_fc = nn.ModuleList(nn.Linear(hidden, e) for _ in settings.text_emb_layers)
        self.dropout = nn.Dropout(settings.dropout)
        with torch.no_grad():
            table = embeddings.weight.float()
            self.ret_norm = float(table.norm(dim=1).mean())  # the frozen rows' mean norm
            start = table.mean(0) + 0.02 * torch.randn(lm_dim)
        self.ret_embedding = nn.Parameter(start * (self.ret_norm / start.norm()))
        out = lm.get_output_embeddings()
        self.tied = out is not None and out.weight is embeddings.weight
        self.ret_output = None if self.tied else nn.Parameter(start.clone())
        self.logit_scale = nn.Parameter(torch.tensor(float(settings.init_logit_scale)))
        self._lock = threading.Lock()  # one generation at a time (graphs call from threads)
        self.train(False)

    @torch.no_grad()
    def renormalize_ret_(self) -> None:
        """Scale the ``[RET]`` embedding to the mean norm of the frozen embeddings (the reference
        code does this after every optimizer step)."""
        self.ret_embedding.mul_(self.ret_norm / self.ret_embedding.norm().clamp(min=1e-8))

    # ------------------------------------------------------------ pieces

    @property
    def device(self) -> torch.device:
        return self.ret_embedding.device

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pooled embeddings ``[B, D]`` from the frozen encoder."""
        with torch.no_grad():
            return self.vision(pixel_values.to(self.device))["pooled"].float()

    def preprocess(self, images: Sequence[Any]) -> torch.Tensor:
        return self.vision.preprocess(list(images))

    def visual_tokens(self, features: torch.Tensor) -> torch.Tensor:
        """The captioning input: ``[B, num_visual_tokens, lm_dim]``."""
        out = self.caption_map(self.dropout(features.to(self.device, torch.float32)))
        return out.view(features.shape[0], self.settings.num_visual_tokens, -1)

    def image_embeddings(self, features: torch.Tensor) -> torch.Tensor:
        """Unit-norm retrieval embeddings of images ``[B, embed_dim]`` (what an index holds)."""
        return F.normalize(self.visual_fc(features.to(self.device, torch.float32)), dim=-1)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """LM input embeddings of ``ids`` where ``ret_id`` is the learned ``[RET]`` vector."""
        ids = ids.to(self.device)
        is_ret = (ids == self.ret_id).unsqueeze(-1)
        out = self.lm.get_input_embeddings()(ids.clamp(max=self.vocab_size - 1))
        return torch.where(is_ret, self.ret_embedding.to(out.dtype), out)

    def run_lm(
        self, embeds: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """``(logits over the vocabulary and [RET] [B, T, V+1], hidden states)``."""
        out = self.lm(
            inputs_embeds=embeds,
            attention_mask=mask.to(self.device),
            output_hidden_states=True,
            use_cache=False,
        )
        last = out.hidden_states[-1]
        ret_out = self.ret_embedding if self.ret_output is None else self.ret_output
        ret_logit = (last @ ret_out.to(last.dtype)).unsqueeze(-1)
        return torch.cat([out.logits, ret_logit], -1), out.hidden_states

    def ret_states(self, hidden: tuple[torch.Tensor, ...], positions: torch.Tensor) -> torch.Tensor:
        """Unit-norm retrieval embeddings from the hidden states at ``positions`` (one per row)."""
        rows = torch.arange(positions.shape[0], device=self.device)
        parts = [
            fc(hidden[layer][rows, positions.to(self.device)])
            for layer, fc in zip(self.settings.text_emb_layers, self.text_fc, strict=True)
        ]
        return F.normalize(self.dropout(torch.stack(parts).sum(0)), dim=-1)

    # ------------------------------------------------------------ data

    def _ids(self, text: str | None) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []

    def retrieval_ids(self, caption: str) -> tuple[list[int], int]:
        """Token ids of ``[prefix] caption [RET]`` and how many of them are the prefix."""
        prefix = self._ids(self.settings.retrieval_prefix)
        text = (" " + caption) if prefix else caption
        return [*prefix, *self._ids(text)[: self.max_text_tokens - 1], self.ret_id], len(prefix)

    def collate(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Batch ``{"features" | "pixel_values", "caption"}`` examples into both sequences."""
        eos, n = self.tokenizer.eos_token_id, self.max_text_tokens
        out: dict[str, torch.Tensor] = {}
        if "features" in examples[0]:
            out["features"] = torch.stack([torch.as_tensor(e["features"]).float() for e in examples])
        else:
            out["pixel_values"] = torch.stack([e["pixel_values"] for e in examples])
        caps = [[*self._ids(e["caption"])[: n - 1], eos] for e in examples]
        out["cap_ids"], out["cap_mask"] = _pad(caps, 0)
        rets, labels, pos = [], [], []
        for e in examples:
            ids, n_prefix = self.retrieval_ids(e["caption"])
            rets.append(ids)
            labels.append([-100] * n_prefix + ids[n_prefix:])
            pos.append(len(ids) - 1)
        out["ret_ids"], out["ret_mask"] = _pad(rets, 0)
        out["ret_labels"], _ = _pad(labels, -100)
        out["ret_pos"] = torch.tensor(pos)
        return out

    # ------------------------------------------------------------ training

    def _caption_batch(
        self, features: torch.Tensor, cap_ids: torch.Tensor, cap_mask: torch.Tensor, concat: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Embeddings, mask and labels of the captioning sequences (pairs joined when ``concat``)."""
        vis = self.visual_tokens(features)
        text = self.embed(cap_ids)
        k = vis.shape[1]
        rows: list[tuple[torch.Tensor, torch.Tensor]] = []
        for b in range(features.shape[0]):
            n = int(cap_mask[b].sum())
            labels = torch.cat([torch.full((k,), -100, device=self.device), cap_ids[b, :n].to(self.device)])
            rows.append((torch.cat([vis[b], text[b, :n]]), labels))
        if concat:  # FROMAGe's "data length" augmentation: two pairs in one sequence
            rows = [
                (torch.cat([a[0], b[0]]), torch.cat([a[1], b[1]])) if b is not None else a
                for a, b in zip(rows[::2], [*rows[1::2], None], strict=False)
            ]
        width = max(r[0].shape[0] for r in rows)
        embeds = torch.zeros(len(rows), width, vis.shape[-1], device=self.device, dtype=vis.dtype)
        mask = torch.zeros(len(rows), width, dtype=torch.long, device=self.device)
        labels = torch.full((len(rows), width), -100, dtype=torch.long, device=self.device)
        for i, (e, lab) in enumerate(rows):
            embeds[i, : e.shape[0]], mask[i, : e.shape[0]], labels[i, : e.shape[0]] = e, 1, lab
        return embeds, mask, labels

    def forward(
        self,
        cap_ids: torch.Tensor,
        cap_mask: torch.Tensor,
        ret_ids: torch.Tensor,
        ret_mask: torch.Tensor,
        ret_labels: torch.Tensor,
        ret_pos: torch.Tensor,
        features: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``{"loss", "caption_loss", "ret_lm_loss", "contrastive_loss", "ret_acc"}``."""
        s = self.settings
        if features is None:
            if pixel_values is None:
                raise ValueError("give features or pixel_values")
            features = self.encode_images(pixel_values)
        features = features.to(self.device, torch.float32)
        concat = (
            self.training
            and s.concat_captions_prob > 0
            and features.shape[0] > 1
            and bool(torch.rand(()) < s.concat_captions_prob)
        )
        embeds, mask, labels = self._caption_batch(features, cap_ids, cap_mask, concat)
        logits, _ = self.run_lm(embeds, mask)
        cap_loss = _next_token_loss(logits, labels)
        logits, hidden = self.run_lm(self.embed(ret_ids), ret_mask)
        ret_lm_loss = _next_token_loss(logits, ret_labels.to(self.device))
        text = self.ret_states(hidden, ret_pos)
        image = F.normalize(self.dropout(self.visual_fc(features)), dim=-1)
        scale = self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()
        per_image = scale * image @ text.t()
        target = torch.arange(per_image.shape[0], device=self.device)
        contrastive = (F.cross_entropy(per_image, target) + F.cross_entropy(per_image.t(), target)) / 2
        loss = s.cap_loss_scale * cap_loss + s.ret_loss_scale * (ret_lm_loss + contrastive)
        acc = (per_image.t().argmax(-1) == target).float().mean()
        return {
            "loss": loss,
            "caption_loss": cap_loss.detach(),
            "ret_lm_loss": ret_lm_loss.detach(),
            "contrastive_loss": contrastive.detach(),
            "ret_acc": acc.detach(),
        }

    # ------------------------------------------------------------ inference

    @torch.inference_mode()
    def text_embeddings(self, captions: Sequence[str]) -> torch.Tensor:
        """Retrieval embeddings of ``[prefix] caption [RET]`` for each caption ``[N, embed_dim]``."""
        rows = [self.retrieval_ids(c)[0] for c in captions]
        ids, mask = _pad(rows, 0)
        _, hidden = self.run_lm(self.embed(ids), mask)
        return self.ret_states(hidden, torch.tensor([len(r) - 1 for r in rows]))

    @torch.inference_mode()
    def caption(
        self,
        images: Sequence[Any] | None = None,
        *,
        features: torch.Tensor | None = None,
        max_new_tokens: int = 24,
    ) -> list[str]:
        """Greedy captions of PIL ``images`` (or pooled ``features``)."""
        if features is None:
            features = self.encode_images(self.preprocess(images or []))
        with self._lock:
            embeds = self.visual_tokens(features)
            tokens = self._greedy(embeds, max_new_tokens, stop_at_ret=True)
        return [
            self.tokenizer.decode([t for t in row if t != self.ret_id], skip_special_tokens=True).strip()
            for row in tokens
        ]

    def _greedy(
        self, embeds: torch.Tensor, max_new_tokens: int, *, stop_at_ret: bool, ret_scale_factor: float = 1.0
    ) -> list[list[int]]:
        """Greedy decoding from ``embeds`` (all rows the same length); each row stops at ``</s>``
        (and at ``[RET]`` when ``stop_at_ret``; its logit multiplied by ``ret_scale_factor`` as in
        the reference code, else forbidden); returns the generated ids (stop token included)."""
        eos = self.tokenizer.eos_token_id
        out: list[list[int]] = [[] for _ in range(embeds.shape[0])]
        done = [False] * embeds.shape[0]
        for _ in range(max_new_tokens):
            mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=self.device)
            logits, _ = self.run_lm(embeds, mask)
            logits[:, -1, self.ret_id] = (
                logits[:, -1, self.ret_id] * ret_scale_factor if stop_at_ret else float("-inf")
            )
            nxt = logits[:, -1].argmax(-1)
            for i, t in enumerate(nxt.tolist()):
                if not done[i]:
                    out[i].append(t)
                    done[i] = t == eos or t == self.ret_id
            if all(done):
                break
            embeds = torch.cat([embeds, self.embed(nxt[:, None])], 1)
        return out

    @torch.inference_mode()
    def respond(
        self,
        prompt: str,
        image: Any = None,
        *,
        features: torch.Tensor | None = None,
        retrieve: str = "auto",
        max_new_tokens: int = 24,
        ret_scale_factor: float = 1.0,
    ) -> Response:
        """Continue ``prompt`` (after the image's tokens when ``image`` / ``features`` is given).

        ``retrieve``: ``auto`` returns a retrieval embedding when the model emits ``[RET]``;
        ``always`` appends ``[RET]`` to the answer when the model did not; ``never`` forbids it.
        ``ret_scale_factor`` multiplies the ``[RET]`` logit at each step (the reference code's
        knob: above 1 the model answers with an image more readily).
        """
        if retrieve not in ("auto", "always", "never"):
            raise ValueError(f"retrieve must be auto, always or never, not {retrieve!r}")
        if image is not None and features is None:
            features = self.encode_images(self.preprocess([image]))
        with self._lock:
            parts = [self.visual_tokens(features)] if features is not None else []
            ids = self._ids(prompt)
            if ids:
                parts.append(self.embed(torch.tensor([ids])))
            if not parts:
                raise ValueError("respond needs a prompt or an image")
            embeds = torch.cat(parts, 1)
            new = self._greedy(
                embeds, max_new_tokens, stop_at_ret=retrieve != "never", ret_scale_factor=ret_scale_factor
            )[0]
            eos = self.tokenizer.eos_token_id
            words = [t for t in new if t not in (eos, self.ret_id)]
            text = self.tokenizer.decode(words, skip_special_tokens=True).strip()
            wants = (new and new[-1] == self.ret_id) or retrieve == "always"
            if retrieve == "never" or not wants:
                return Response(text)
            seq = torch.cat([embeds, self.embed(torch.tensor([[*words, self.ret_id]]))], 1)
            _, hidden = self.run_lm(seq, torch.ones(seq.shape[:2], dtype=torch.long, device=self.device))
            return Response(text, self.ret_states(hidden, torch.tensor([seq.shape[1] - 1]))[0])


def _pad(rows: list[list[int]], value: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)
    return ids, mask


def _next_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of predicting ``labels[t + 1]`` from position ``t`` (-100 ignored)."""
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
        labels[:, 1:].reshape(-1).to(logits.device),
        ignore_index=-100,
    )
