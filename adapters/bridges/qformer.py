"""BLIP-2 Q-Former bridge, stage 2 (Li et al. 2023): learned queries read the frozen vision
encoder's patch features through cross-attention; their outputs, projected to the LM width,
are the prefix of the frozen LM.

Built on transformers' ``Blip2QFormerModel`` (without the text feed-forward weights, which
stage 2 does not use, as LAVIS drops them). The weights start from a stage-1 checkpoint
(``stage1_checkpoint``, written by ``task: qformer_stage1``: ITC / ITM / ITG), or from a local
BERT (``bert_path``), or at random. As in BLIP-2 the Q-Former keeps training with the
projection; ``freeze_qformer`` trains the projection only.

Example:
    >>> import torch
    >>> from socratic.adapters.config import QFormerConfig
    >>> cfg = QFormerConfig(num_query_tokens=4, hidden_size=32, num_layers=2, num_heads=2,
    ...                     intermediate_size=64)
    >>> QFormerBridge(cfg, vision_dim=16, lm_dim=24)(torch.zeros(2, 9, 16)).shape
    torch.Size([2, 4, 24])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import QFormerConfig
from .base import Bridge

__all__ = ["QFormerBridge"]

#: what a stage-1 checkpoint gives the bridge (the rest of stage 1 is for its own losses)
_FROM_STAGE1 = ("ln_vision.", "query_tokens", "qformer.")


class QFormerBridge(Bridge):
    """Q-Former with ``num_query_tokens`` learned queries (see :class:`QFormerConfig`).

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
        from ..qformer.model import build_qformer

        self.arch = config
        self.ln_vision = nn.LayerNorm(vision_dim)
        self.query_tokens = nn.Parameter(torch.zeros(1, config.num_query_tokens, config.hidden_size))
        nn.init.normal_(self.query_tokens, std=0.02)
        self.qformer = build_qformer(config, vision_dim, with_text=False)
        self.language_projection = nn.Linear(config.hidden_size, lm_dim)

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

    def initialize(self, base_models: dict[str, Any]) -> None:
        """Start from the stage-1 checkpoint (or BERT) and freeze the Q-Former if asked."""
        cfg = self.config
        if cfg.stage1_checkpoint:
            self.load_stage1(cfg.stage1_checkpoint, base_models.get("vision", {}))
        elif cfg.bert_path:
            from ..qformer.bert import init_from_bert

            init_from_bert(self, cfg.bert_path)
        if cfg.freeze_qformer:
            for name, p in self.named_parameters():
                p.requires_grad_(name.startswith("language_projection."))

    def load_stage1(self, path: str, vision: dict[str, Any] | None = None) -> None:
        """Copy queries, Q-Former and vision LayerNorm from a stage-1 ``qformer/`` folder; its
        sizes and vision encoder must be this bridge's."""
        from safetensors.torch import load_file

        from ..io import BridgeLoadError
        from ..qformer.train import STAGE1_WEIGHTS, read_stage1_config

        meta = read_stage1_config(path)
        theirs = {k: meta["qformer"].get(k) for k in self.config.arch()}
        diff = [f"{k} {v} vs {theirs[k]}" for k, v in self.config.arch().items() if theirs[k] != v]
        if meta.get("vision_dim") != self.vision_dim:
            diff.append(f"vision width {self.vision_dim} vs {meta.get('vision_dim')}")
        if diff:
            raise BridgeLoadError(f"bridge.stage1_checkpoint {path}: this bridge differs from the "
                                  f"stage-1 Q-Former: {'; '.join(diff)} (ours vs the checkpoint's)")
        want, got = meta.get("vision_fingerprint"), (vision or {}).get("fingerprint")
        if want and got and want != got:
            raise BridgeLoadError(
                f"bridge.stage1_checkpoint {path}: stage 1 was trained on vision encoder "
                f"'{meta['vision'].get('model')}' (weights fingerprint {want}), this run's encoder "
                f"'{(vision or {}).get('model')}' has fingerprint {got}: use the same encoder")
        state = load_file(str(Path(path) / STAGE1_WEIGHTS))
        ours = self.state_dict()
        wanted = [k for k in ours if k.startswith(_FROM_STAGE1)]
        missing = [k for k in wanted if k not in state]
        if missing:
            raise BridgeLoadError(f"bridge.stage1_checkpoint {path}: lacks {missing[:3]}")
        self.load_state_dict({k: state[k] for k in wanted}, strict=False)
