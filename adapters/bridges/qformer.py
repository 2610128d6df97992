"""BLIP-2 Q-Former bridge (Li et al. 2023): learned queries read the vision encoder's patch
features through cross-attention; their outputs, projected to the LM width, are the prefix.

Built on transformers' ``Blip2QFormerModel``. Stage 2 (generative, LM frozen) is the main
loss; ``stage1_losses`` adds BLIP-2's image-text contrastive (ITC) and matching (ITM) losses.

Example:
    >>> import torch
    >>> from socratic.adapters.config import QFormerConfig
    >>> cfg = QFormerConfig(num_query_tokens=4, hidden_size=32, num_layers=2, num_heads=2,
    ...                     intermediate_size=64)
    >>> QFormerBridge(cfg, vision_dim=16, lm_dim=24)(torch.zeros(2, 9, 16)).shape
    torch.Size([2, 4, 24])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import QFormerConfig
from .base import Bridge

__all__ = ["QFormerBridge"]


class QFormerBridge(Bridge):
    """Q-Former with ``num_query_tokens`` learned queries (see :class:`QFormerConfig`).

    ``vocab_size`` (the LM tokenizer's size) is only needed for the stage-1 losses.

    Example:
        >>> cfg = QFormerConfig(num_query_tokens=2, hidden_size=16, num_layers=1, num_heads=2,
        ...                     intermediate_size=32)
        >>> QFormerBridge(cfg, vision_dim=8, lm_dim=8).num_prefix_tokens
        2
    """

    config_class = QFormerConfig

    def __init__(
        self, config: QFormerConfig, vision_dim: int, lm_dim: int, vocab_size: int = 0
    ) -> None:
        super().__init__(config, vision_dim, lm_dim, vocab_size)
        from transformers import Blip2QFormerConfig, Blip2QFormerModel

        if config.hidden_size % config.num_heads:
            raise ValueError(
                f"qformer: hidden_size {config.hidden_size} not divisible by num_heads "
                f"{config.num_heads}"
            )
        qcfg = Blip2QFormerConfig(
            vocab_size=max(vocab_size, 2),
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_layers,
            num_attention_heads=config.num_heads,
            intermediate_size=config.intermediate_size,
            hidden_dropout_prob=config.dropout,
            attention_probs_dropout_prob=config.dropout,
            cross_attention_frequency=config.cross_attention_frequency,
            encoder_hidden_size=vision_dim,
            max_position_embeddings=max(config.max_text_length, 8),
            use_qformer_text_input=bool(config.stage1_losses),
        )
        self.ln_vision = nn.LayerNorm(vision_dim)
        self.query_tokens = nn.Parameter(torch.randn(1, config.num_query_tokens, config.hidden_size))
        nn.init.normal_(self.query_tokens, std=0.02)
        self.qformer = Blip2QFormerModel(qcfg)
        self.language_projection = nn.Linear(config.hidden_size, lm_dim)
        if config.stage1_losses:
            if vocab_size <= 0:
                raise ValueError("qformer stage1_losses need the LM tokenizer's vocab_size")
            from transformers.models.blip_2.modeling_blip_2 import Blip2TextEmbeddings

            self.text_embeddings = Blip2TextEmbeddings(qcfg)
            self.vision_proj = nn.Linear(config.hidden_size, config.embed_dim)
            self.text_proj = nn.Linear(config.hidden_size, config.embed_dim)
            self.itm_head = nn.Linear(config.hidden_size, 2)
            self.temp = nn.Parameter(torch.tensor(0.07))

    @property
    def num_prefix_tokens(self) -> int:
        return self.config.num_query_tokens

    def query_outputs(self, features: torch.Tensor) -> torch.Tensor:
        """Q-Former outputs at the queries, ``[B, num_query_tokens, hidden_size]``."""
        image = self.ln_vision(features)
        mask = torch.ones(image.shape[:2], dtype=torch.long, device=image.device)
        queries = self.query_tokens.expand(image.shape[0], -1, -1)
        out = self.qformer(
            query_embeds=queries, encoder_hidden_states=image, encoder_attention_mask=mask
        )
        return out.last_hidden_state

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.language_projection(self.query_outputs(features))

    def auxiliary_loss(
        self, features: torch.Tensor, text_ids: torch.Tensor, text_mask: torch.Tensor
    ) -> torch.Tensor | None:
        """Stage-1 ITC and / or ITM loss (weighted by ``stage1_weight``)."""
        losses = self.config.stage1_losses
        if not losses:
            return None
        n = self.config.max_text_length
        text_ids, text_mask = text_ids[:, :n], text_mask[:, :n]
        b, q = features.shape[0], self.config.num_query_tokens
        image = self.ln_vision(features)
        image_mask = torch.ones(image.shape[:2], dtype=torch.long, device=image.device)
        queries = self.query_tokens.expand(b, -1, -1)
        total = features.new_zeros(())
        if "itc" in losses:
            q_out = self.qformer(
                query_embeds=queries, encoder_hidden_states=image, encoder_attention_mask=image_mask
            ).last_hidden_state
            img_feat = F.normalize(self.vision_proj(q_out), dim=-1)  # [B, Q, E]
            t_out = self.qformer(
                query_embeds=self.text_embeddings(input_ids=text_ids),
                query_length=0,
                attention_mask=text_mask,
            ).last_hidden_state
            txt_feat = F.normalize(self.text_proj(t_out[:, 0]), dim=-1)  # [B, E]
            sim = torch.einsum("iqe,je->ijq", img_feat, txt_feat).amax(-1)
            sim = sim / self.temp.clamp(min=1e-3)
            target = torch.arange(b, device=sim.device)
            total = total + (F.cross_entropy(sim, target) + F.cross_entropy(sim.t(), target)) / 2
        if "itm" in losses and b > 1:
            shift = torch.roll(torch.arange(b, device=text_ids.device), 1)
            ids = torch.cat([text_ids, text_ids[shift]])
            tmask = torch.cat([text_mask, text_mask[shift]])
            img2 = torch.cat([image, image])
            q2 = torch.cat([queries, queries])
            emb = self.text_embeddings(input_ids=ids, query_embeds=q2)
            att = torch.cat([torch.ones(2 * b, q, dtype=tmask.dtype, device=tmask.device), tmask], 1)
            out = self.qformer(
                query_embeds=emb,
                query_length=q,
                attention_mask=att,
                encoder_hidden_states=img2,
                encoder_attention_mask=torch.cat([image_mask, image_mask]),
            ).last_hidden_state
            logits = self.itm_head(out[:, :q]).mean(1)
            labels = torch.cat([torch.ones(b), torch.zeros(b)]).long().to(logits.device)
            total = total + F.cross_entropy(logits, labels)
        return total * self.config.stage1_weight
