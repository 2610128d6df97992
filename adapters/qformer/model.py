"""The Q-Former of BLIP-2 (Li et al. 2023) on transformers' ``Blip2QFormerModel``, and the
stage-1 model that trains it with ITC, ITM and ITG without any LLM.

``QFormerStage1`` holds the parts of LAVIS's ``Blip2Qformer`` (``blip2_qformer.py``) under the
same roles: ``ln_vision`` (LayerNorm on the frozen encoder's patch features), ``query_tokens``
(learned queries, normal init std 0.02), ``qformer`` (BERT-style layers; cross-attention to the
image every ``cross_attention_frequency`` layers, applied to the queries only; separate
feed-forward weights for queries and text), ``text_embeddings`` (word + position embeddings),
``vision_proj`` / ``text_proj`` (to the ITC space), ``itm_head``, ``temp`` and the text
decoder's LM head (``itg_head``, tied to the word embeddings, as BERT's MLM head).

One forward of [queries ; [DEC] text] under the ITG mask (:func:`losses.itg_attention_mask`)
gives both the query outputs (image features for ITC: queries never see the text, so they are
exactly the queries-only outputs, as LAVIS reuses one query pass through its key/value cache)
and the decoder's next-token logits.

Example:
    >>> import torch
    >>> from socratic.adapters.config import QFormerArch
    >>> arch = QFormerArch(num_query_tokens=4, hidden_size=32, num_layers=2, num_heads=2,
    ...                    intermediate_size=64, dropout=0.0)
    >>> ids = dict(vocab_size=20, pad_id=0, cls_id=2, sep_id=3, bos_id=19)
    >>> m = QFormerStage1(arch, vision_dim=16, **ids)
    >>> out = m(features=torch.randn(3, 5, 16), text_ids=torch.tensor([[2, 7, 3]] * 3),
    ...         text_mask=torch.ones(3, 3, dtype=torch.long))
    >>> sorted(out)
    ['itc', 'itg', 'itm', 'loss']
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import QFormerArch
from . import losses as L

__all__ = ["ItgHead", "QFormerStage1", "build_qformer"]


def build_qformer(arch: QFormerArch, vision_dim: int, *, with_text: bool, vocab_size: int = 2,
                  max_positions: int = 64) -> nn.Module:
    """transformers' ``Blip2QFormerModel`` of ``arch`` reading ``vision_dim``-wide image
    features; ``with_text`` adds the text feed-forward weights (stage 1)."""
    from transformers import Blip2QFormerConfig, Blip2QFormerModel

    if arch.hidden_size % arch.num_heads:
        raise ValueError(f"qformer: hidden_size {arch.hidden_size} not divisible by num_heads "
                         f"{arch.num_heads}")
    cfg = Blip2QFormerConfig(
        vocab_size=max(vocab_size, 2),
        hidden_size=arch.hidden_size,
        num_hidden_layers=arch.num_layers,
        num_attention_heads=arch.num_heads,
        intermediate_size=arch.intermediate_size,
        hidden_dropout_prob=arch.dropout,
        attention_probs_dropout_prob=arch.dropout,
        cross_attention_frequency=arch.cross_attention_frequency,
        encoder_hidden_size=vision_dim,
        max_position_embeddings=max_positions,
        use_qformer_text_input=with_text,
    )
    return Blip2QFormerModel(cfg)


class ItgHead(nn.Module):
    """BERT's LM head: dense -> GELU -> LayerNorm -> (tied word embeddings) + bias.

    Example:
        >>> emb = nn.Embedding(10, 8)
        >>> ItgHead(8, 10)(torch.zeros(1, 2, 8), emb.weight).shape
        torch.Size([1, 2, 10])
    """

    def __init__(self, hidden: int, vocab_size: int, eps: float = 1e-12) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        return F.linear(self.LayerNorm(F.gelu(self.dense(hidden))), word_embeddings, self.bias)


class QFormerStage1(nn.Module):
    """BLIP-2 stage 1: ITC + ITM + ITG on (frozen-encoder patch features, BERT-tokenised text).

    ``forward(features, text_ids, text_mask)`` returns ``{"loss", "itc", "itm", "itg"}`` (the
    objectives in ``losses``; their sum is the loss, unweighted as in LAVIS). ``text_ids`` start
    with [CLS] and end with [SEP] (a BERT tokenizer's output). ``temp_clamp`` keeps the
    temperature in a range (clamped in place before each training forward, as BLIP / ALBEF do);
    None leaves it free (LAVIS's ``blip2_qformer.py``).

    Example:
        >>> arch = QFormerArch(num_query_tokens=2, hidden_size=16, num_layers=1, num_heads=2,
        ...                    intermediate_size=32)
        >>> QFormerStage1(arch, 8, vocab_size=10, pad_id=0, cls_id=1, sep_id=2, bos_id=9).temp
        Parameter containing:
        tensor(0.0700, requires_grad=True)
    """

    def __init__(
        self,
        arch: QFormerArch,
        vision_dim: int,
        *,
        vocab_size: int,
        pad_id: int,
        cls_id: int,
        sep_id: int,
        bos_id: int,
        losses: tuple[str, ...] = ("itc", "itm", "itg"),
        embed_dim: int = 256,
        max_positions: int = 64,
        label_smoothing: float = 0.1,
        init_temp: float = 0.07,
        temp_clamp: tuple[float, float] | None = (0.001, 0.5),
    ) -> None:
        super().__init__()
        from transformers.models.blip_2.modeling_blip_2 import Blip2TextEmbeddings

        self.arch = arch
        self.losses = tuple(losses)
        self.ids = {"pad": pad_id, "cls": cls_id, "sep": sep_id, "bos": bos_id}
        self.label_smoothing = label_smoothing
        self.temp_clamp = temp_clamp
        h = arch.hidden_size
        self.ln_vision = nn.LayerNorm(vision_dim)
        self.query_tokens = nn.Parameter(torch.zeros(1, arch.num_query_tokens, h))
        nn.init.normal_(self.query_tokens, std=0.02)
        self.qformer = build_qformer(arch, vision_dim, with_text=True, vocab_size=vocab_size,
                                     max_positions=max_positions)
        self.text_embeddings = Blip2TextEmbeddings(self.qformer.config)
        self.text_embeddings.apply(self.qformer._init_weights)
        self.vision_proj = nn.Linear(h, embed_dim)
        self.text_proj = nn.Linear(h, embed_dim)
        self.itm_head = nn.Linear(h, 2)
        self.itg_head = ItgHead(h, vocab_size, eps=self.qformer.config.layer_norm_eps)
        self.temp = nn.Parameter(torch.tensor(float(init_temp)))

    @property
    def num_queries(self) -> int:
        return self.arch.num_query_tokens

    # ------------------------------------------------------------ encoders

    def image_embeds(self, features: torch.Tensor) -> torch.Tensor:
        """``ln_vision`` of the frozen encoder's patch features ``[B, N, D]``."""
        return self.ln_vision(features.float())

    def _cross(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        ones = torch.ones(image.shape[:2], dtype=torch.long, device=image.device)
        return {"encoder_hidden_states": image, "encoder_attention_mask": ones}

    def query_outputs(self, image: torch.Tensor) -> torch.Tensor:
        """Q-Former outputs at the queries for ``image`` embeddings (queries only)."""
        queries = self.query_tokens.expand(image.shape[0], -1, -1)
        return self.qformer(query_embeds=queries, **self._cross(image)).last_hidden_state

    def text_features(self, text_ids: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """L2-normalised ITC text features from the output at [CLS] (text only, bidirectional)."""
        out = self.qformer(query_embeds=self.text_embeddings(input_ids=text_ids), query_length=0,
                           attention_mask=text_mask).last_hidden_state
        return F.normalize(self.text_proj(out[:, 0]), dim=-1)

    def image_features(self, query_out: torch.Tensor) -> torch.Tensor:
        """L2-normalised ITC features of each query ``[B, Q, E]``."""
        return F.normalize(self.vision_proj(query_out), dim=-1)

    def decode(self, image: torch.Tensor, dec_ids: torch.Tensor, text_mask: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass of [queries ; decoder text] under the ITG mask: ``(query outputs, next-token
        logits at every text position)``."""
        q = self.num_queries
        queries = self.query_tokens.expand(image.shape[0], -1, -1)
        emb = self.text_embeddings(input_ids=dec_ids, query_embeds=queries)
        allowed = L.itg_attention_mask(q, text_mask)[:, None]
        bias = torch.zeros(allowed.shape, dtype=emb.dtype, device=emb.device)
        bias = bias.masked_fill(~allowed, torch.finfo(emb.dtype).min)
        out = self.qformer(query_embeds=emb, query_length=q, attention_mask=bias,
                           **self._cross(image)).last_hidden_state
        word = self.text_embeddings.word_embeddings.weight
        return out[:, :q], self.itg_head(out[:, q:], word)

    def itm_logits(self, image: torch.Tensor, text_ids: torch.Tensor, text_mask: torch.Tensor
                   ) -> torch.Tensor:
        """Match logits ``[B, 2]`` of (image i, text i): queries and text attend to each other,
        queries cross-attend to the image; the head reads the mean over query outputs."""
        q = self.num_queries
        queries = self.query_tokens.expand(image.shape[0], -1, -1)
        emb = self.text_embeddings(input_ids=text_ids, query_embeds=queries)
        att = torch.cat([torch.ones(image.shape[0], q, dtype=text_mask.dtype,
                                    device=text_mask.device), text_mask], 1)
        out = self.qformer(query_embeds=emb, query_length=q, attention_mask=att,
                           **self._cross(image)).last_hidden_state
        return self.itm_head(out[:, :q]).mean(1)

    # ------------------------------------------------------------ training

    def forward(
        self,
        text_ids: torch.Tensor,
        text_mask: torch.Tensor,
        features: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        if self.training and self.temp_clamp is not None:
            with torch.no_grad():
                self.temp.clamp_(*self.temp_clamp)
        if features is None:
            raise ValueError("QFormerStage1 needs the image features")
        image = self.image_embeds(features)
        b = image.shape[0]
        out: dict[str, torch.Tensor] = {}
        if "itg" in self.losses:
            dec_ids, labels = L.itg_inputs(text_ids, text_mask, self.ids["bos"])
            query_out, logits = self.decode(image, dec_ids, text_mask)
            out["itg"] = L.itg_loss(logits, labels, self.label_smoothing)
        else:
            query_out = self.query_outputs(image)
        sim = None
        if "itc" in self.losses or "itm" in self.losses:
            text_feat = self.text_features(text_ids, text_mask)
            itc, sim = L.itc_loss(self.image_features(query_out), text_feat, self.temp,
                                  self.label_smoothing)
            if "itc" in self.losses:
                out["itc"] = itc
        if "itm" in self.losses:
            assert sim is not None
            neg_image, neg_text = L.hard_negatives(sim.detach(), generator)
            rows_img, rows_txt = L.itm_pairs(neg_image, neg_text)
            logits = self.itm_logits(image[rows_img], text_ids[rows_txt], text_mask[rows_txt])
            out["itm"] = L.itm_loss(logits)
        out["loss"] = sum(out[k] for k in ("itc", "itm", "itg") if k in out)  # type: ignore[assignment]
        if b < 2 and ("itc" in out or "itm" in out):
            raise ValueError("ITC / ITM need at least 2 pairs per batch")
        return out

    # ------------------------------------------------------------ use

    @torch.no_grad()
    def similarity(self, features: torch.Tensor, text_ids: torch.Tensor, text_mask: torch.Tensor
                   ) -> torch.Tensor:
        """ITC similarity ``[n_images, n_texts]`` (max over queries, before the temperature)."""
        img = self.image_features(self.query_outputs(self.image_embeds(features)))
        txt = self.text_features(text_ids, text_mask)
        return torch.einsum("iqe,je->ijq", img, txt).amax(-1)

    @torch.no_grad()
    def generate_ids(self, features: torch.Tensor, max_new_tokens: int = 30) -> list[list[int]]:
        """Greedy ITG decoding from [DEC] until [SEP]: token ids per image (without [DEC] /
        [SEP])."""
        image = self.image_embeds(features)
        b = image.shape[0]
        ids = torch.full((b, 1), self.ids["bos"], dtype=torch.long, device=image.device)
        done = torch.zeros(b, dtype=torch.bool, device=image.device)
        for _ in range(max_new_tokens):
            _, logits = self.decode(image, ids, torch.ones_like(ids))
            nxt = logits[:, -1].argmax(-1)
            nxt = nxt.masked_fill(done, self.ids["pad"])
            ids = torch.cat([ids, nxt[:, None]], 1)
            done |= nxt == self.ids["sep"]
            if bool(done.all()):
                break
        rows = []
        for row in ids[:, 1:].tolist():
            cut = row.index(self.ids["sep"]) if self.ids["sep"] in row else len(row)
            rows.append([t for t in row[:cut] if t != self.ids["pad"]])
        return rows

    def state_for_checkpoint(self) -> dict[str, Any]:
        """Every weight of the stage-1 model (what ``qformer/model.safetensors`` holds)."""
        return {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
