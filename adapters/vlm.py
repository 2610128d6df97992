"""VisionLanguageModel: vision encoder + bridge + LM, trained on captions and used to caption.

The bridge's prefix embeddings come first, then an optional text prompt, then the caption.
Labels are -100 on the prefix, the prompt and the padding, so the loss is on caption tokens
(and the end-of-sequence token) only. A ClipCap bridge with ``labels: reference`` trains as
the authors' code does, on the caption tokens without an end-of-sequence token; its captions
then end at the first ``"."`` token (or ``max_new_tokens``). Decoder-only (GPT-2, Llama ...)
and encoder-decoder (T5 / Flan-T5: prefix + prompt go to the encoder) LMs both work.

Example:
    >>> vlm = VisionLanguageModel.from_configs(vision_cfg, bridge_cfg, lm_cfg)  # doctest: +SKIP
    >>> batch = vlm.collate([vlm.example(image, "a red circle")])              # doctest: +SKIP
    >>> vlm(**batch)["loss"].backward()                                        # doctest: +SKIP
    >>> vlm.generate([image], strategy="beam", num_beams=3)                    # doctest: +SKIP
    [['a red circle']]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .bridges import Bridge, build_bridge
from .config import BridgeConfig, LMConfig, VisionConfig
from .lm import apply_tuning, describe_lm, load_lm
from .vision import VisionEncoder

__all__ = ["VisionLanguageModel"]


class VisionLanguageModel(nn.Module):
    """Vision encoder (frozen or trainable) + bridge + LM (frozen, full, LoRA or prefix).

    Build it with :meth:`from_configs`; train with ``forward(**collate(examples))["loss"]``;
    caption with :meth:`generate`; few-shot prompt with :meth:`generate_interleaved`.
    ``base_models`` records what the bridge is trained against (paths and weight fingerprints).

    Example:
        >>> vlm = VisionLanguageModel.from_configs(                                # doctest: +SKIP
        ...     VisionConfig(model="local-dir:/m/clip"), ClipCapConfig(),
        ...     LMConfig(path="/m/gpt2"), prompt=None)
        >>> vlm.generate([pil_image])                                             # doctest: +SKIP
    """

    def __init__(
        self,
        vision: VisionEncoder,
        bridge: Bridge,
        lm: nn.Module,
        tokenizer: Any,
        *,
        vision_cfg: VisionConfig,
        bridge_cfg: BridgeConfig,
        lm_cfg: LMConfig,
        seq2seq: bool = False,
        prompt: str | None = None,
        max_text_tokens: int = 48,
        base_models: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.vision = vision
        self.bridge = bridge
        self.lm = lm
        self.tokenizer = tokenizer
        self.vision_cfg = vision_cfg
        self.bridge_cfg = bridge_cfg
        self.lm_cfg = lm_cfg
        self.seq2seq = seq2seq
        self.prompt = prompt
        self.max_text_tokens = max_text_tokens
        self.feature_kind = bridge_cfg.feature_kind
        self.vision_trainable = bool(vision_cfg.trainable or bridge_cfg.trains_vision)
        self.vision.requires_grad_(self.vision_trainable)
        self.base_models = base_models or {}
        #: False: labels end without EOS and generation stops at "." (ClipCap's reference code)
        self.append_eos = getattr(bridge_cfg, "labels", "eos") == "eos"
        self.train(False)

    # ------------------------------------------------------------ construction

    @classmethod
    def from_configs(
        cls,
        vision_cfg: VisionConfig,
        bridge_cfg: BridgeConfig,
        lm_cfg: LMConfig,
        *,
        prompt: str | None = None,
        max_text_tokens: int = 48,
        seed: int | None = None,
    ) -> VisionLanguageModel:
        """Load the base models from their configs and build a fresh (untrained) bridge."""
        if lm_cfg.tune == "prefix":
            raise ValueError(
                "lm.tune: prefix is not supported with a bridge (peft's prefix tuning cannot "
                "generate from input embeddings); use frozen, full or lora"
            )
        vision = VisionEncoder(vision_cfg)
        lm, tok, seq2seq = load_lm(lm_cfg)
        base_models = {"vision": vision.describe(), "lm": describe_lm(lm, lm_cfg)}
        lm = apply_tuning(lm, lm_cfg, seq2seq)
        if seed is not None:
            torch.manual_seed(seed)
        lm_dim = lm.get_input_embeddings().embedding_dim
        bridge = build_bridge(
            bridge_cfg, vision.dim(bridge_cfg.feature_kind), lm_dim, vocab_size=len(tok)
        )
        bridge.initialize(base_models)
        return cls(
            vision,
            bridge,
            lm,
            tok,
            vision_cfg=vision_cfg,
            bridge_cfg=bridge_cfg,
            lm_cfg=lm_cfg,
            seq2seq=seq2seq,
            prompt=prompt,
            max_text_tokens=max_text_tokens,
            base_models=base_models,
        )

    def train(self, mode: bool = True) -> VisionLanguageModel:
        """Like ``nn.Module.train`` but frozen parts always stay in eval mode (no dropout)."""
        super().train(mode)
        if not self.vision_trainable:
            self.vision.eval()
        if self.lm_cfg.tune == "frozen":
            self.lm.eval()
        return self

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Every parameter that trains (bridge, trainable vision / LM weights, peft adapter),
        every bridge parameter (a partly frozen bridge, e.g. ``freeze_qformer``, is saved
        whole), plus the buffers of trained modules (e.g. BatchNorm statistics of a Frozen
        encoder)."""
        state = {n: p.detach() for n, p in self.named_parameters()
                 if p.requires_grad or n.startswith("bridge.")}
        trained = ["bridge."]
        if self.vision_trainable:
            trained.append("vision.")
        if self.lm_cfg.tune == "full":
            trained.append("lm.")
        for n, b in self.named_buffers():
            if n.startswith(tuple(trained)) and b.is_floating_point():
                state[n] = b.detach()
        return state

    # ------------------------------------------------------------ features and prefix

    @property
    def lm_dtype(self) -> torch.dtype:
        return self.lm.get_input_embeddings().weight.dtype

    @property
    def device(self) -> torch.device:
        return self.lm.get_input_embeddings().weight.device

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Visual features the bridge reads (pooled ``[B, D]`` or tokens ``[B, N, W]``)."""
        with torch.set_grad_enabled(self.vision_trainable and torch.is_grad_enabled()):
            return self.vision(pixel_values)[self.feature_kind]

    def prefix(
        self, pixel_values: torch.Tensor | None = None, features: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(prefix embeddings [B, k, D], the features they came from)``."""
        if features is None:
            if pixel_values is None:
                raise ValueError("give pixel_values or features")
            features = self.encode_images(pixel_values.to(self.device))
        features = features.to(self.device, torch.float32)
        return self.bridge(features).to(self.lm_dtype), features

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm.get_input_embeddings()(ids.to(self.device))

    def _ids(self, text: str | None) -> list[int]:
        if not text:
            return []
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # ------------------------------------------------------------ data

    def preprocess(self, images: Sequence[Any]) -> torch.Tensor:
        return self.vision.preprocess(list(images))

    def collate(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Batch examples ``{"pixel_values" | "features", "caption", ["prompt"]}`` into model
        inputs with the label mask."""
        tok = self.tokenizer
        pad, eos = tok.pad_token_id, tok.eos_token_id
        out: dict[str, Any] = {}
        if "features" in examples[0]:
            out["features"] = torch.stack([torch.as_tensor(e["features"]) for e in examples])
        else:
            out["pixel_values"] = torch.stack([e["pixel_values"] for e in examples])
        n = self.max_text_tokens if self.append_eos else self.max_text_tokens + 1
        end = [eos] if self.append_eos else []
        cap_ids = []
        for e in examples:
            prompt = e.get("prompt", self.prompt)
            text = e["caption"]
            if prompt and not self.seq2seq:
                text = " " + text
            cap_ids.append(self._ids(text)[: n - 1])
        rows, labels = [], []
        enc_rows: list[list[int]] = []
        for e, cap in zip(examples, cap_ids, strict=True):
            prompt = e.get("prompt", self.prompt)
            if self.seq2seq:
                enc_rows.append(
                    list(tok(prompt)["input_ids"]) if prompt else []
                )
                rows.append([*cap, *end])
                labels.append([*cap, *end])
            else:
                p = self._ids(prompt)
                rows.append(p + cap + end)
                labels.append([-100] * len(p) + cap + end)
        out.update(_pad(rows, labels, pad))
        width = max(len(c) for c in cap_ids) or 1
        out["caption_ids"] = torch.tensor([c + [pad] * (width - len(c)) for c in cap_ids])
        out["caption_mask"] = torch.tensor([[1] * len(c) + [0] * (width - len(c)) for c in cap_ids])
        if self.seq2seq:
            w = max((len(r) for r in enc_rows), default=0)
            out["prompt_ids"] = torch.tensor([r + [pad] * (w - len(r)) for r in enc_rows]).long()
            out["prompt_mask"] = torch.tensor([[1] * len(r) + [0] * (w - len(r)) for r in enc_rows])
        return out

    # ------------------------------------------------------------ training

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
        caption_ids: torch.Tensor | None = None,
        caption_mask: torch.Tensor | None = None,
        prompt_ids: torch.Tensor | None = None,
        prompt_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Return ``{"loss", "lm_loss"[, "aux_loss"]}`` for a collated batch."""
        prefix, feats = self.prefix(pixel_values, features)
        b, k = prefix.shape[:2]
        dev = self.device
        ones = torch.ones(b, k, dtype=attention_mask.dtype, device=dev)
        if self.seq2seq:
            enc = prefix
            enc_mask = ones
            if prompt_ids is not None and prompt_ids.shape[1]:
                enc = torch.cat([prefix, self._embed(prompt_ids)], 1)
                enc_mask = torch.cat([ones, prompt_mask.to(dev)], 1)
            lab = labels.to(dev).masked_fill(attention_mask.to(dev) == 0, -100)
            lm_out = self.lm(inputs_embeds=enc, attention_mask=enc_mask, labels=lab)
        else:
            embeds = torch.cat([prefix, self._embed(input_ids)], 1)
            mask = torch.cat([ones, attention_mask.to(dev)], 1)
            lab = torch.cat([torch.full((b, k), -100, dtype=labels.dtype, device=dev), labels.to(dev)], 1)
            lm_out = self.lm(inputs_embeds=embeds, attention_mask=mask, labels=lab)
        result = {"lm_loss": lm_out.loss, "loss": lm_out.loss}
        if caption_ids is not None:
            aux = self.bridge.auxiliary_loss(feats, caption_ids.to(dev), caption_mask.to(dev))
            if aux is not None:
                result["aux_loss"] = aux
                result["loss"] = lm_out.loss + aux
        return result

    # ------------------------------------------------------------ generation

    def _gen_kwargs(
        self,
        strategy: str,
        num_captions: int,
        num_beams: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
    ) -> dict[str, Any]:
        tok = self.tokenizer
        kw: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "eos_token_id": tok.eos_token_id,
            "pad_token_id": tok.pad_token_id,
        }
        stop = self._ids(".")[:1] if not self.append_eos else []
        if stop:  # the reference's stop_token: captions end after the first "." token
            kw["eos_token_id"] = [tok.eos_token_id, *stop]
        if strategy == "greedy":
            kw.update(do_sample=False, num_beams=1)
        elif strategy == "beam":
            kw.update(
                do_sample=False,
                num_beams=max(num_beams, num_captions),
                num_return_sequences=num_captions,
                early_stopping=True,
            )
        elif strategy == "sample":
            kw.update(
                do_sample=True,
                num_beams=1,
                temperature=temperature,
                top_p=top_p,
                top_k=0,
                num_return_sequences=num_captions,
            )
        else:
            raise ValueError(f"unknown strategy {strategy!r}: greedy, beam or sample")
        return kw

    @torch.inference_mode()
    def generate_from_embeds(
        self,
        embeds: torch.Tensor,
        mask: torch.Tensor,
        *,
        strategy: str = "greedy",
        num_captions: int = 1,
        num_beams: int = 4,
        temperature: float = 1.0,
        top_p: float = 0.9,
        max_new_tokens: int = 30,
        seed: int | None = None,
    ) -> list[list[str]]:
        """Decode from input embeddings ``[B, T, D]`` (prefix and prompt already in place)."""
        kw = self._gen_kwargs(strategy, num_captions, num_beams, temperature, top_p, max_new_tokens)
        if seed is not None:
            torch.manual_seed(seed)
        out = self.lm.generate(inputs_embeds=embeds, attention_mask=mask, **kw)
        if not self.seq2seq and out.shape[1] > max_new_tokens:  # some versions echo the input
            out = out[:, embeds.shape[1] :]
        texts = [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]
        per = kw.get("num_return_sequences", 1)
        grouped = [texts[i * per : (i + 1) * per] for i in range(embeds.shape[0])]
        if per < num_captions:  # greedy: one answer, repeated
            grouped = [g * num_captions for g in grouped]
        return grouped

    @torch.inference_mode()
    def generate(
        self,
        images: Sequence[Any] | None = None,
        *,
        pixel_values: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
        prompt: str | None = None,
        **options: Any,
    ) -> list[list[str]]:
        """Caption PIL ``images`` (or ``pixel_values`` / precomputed ``features``).

        ``options``: ``strategy`` (greedy | beam | sample), ``num_captions``, ``num_beams``,
        ``temperature``, ``top_p``, ``max_new_tokens``, ``seed``. ``prompt`` (default: the
        prompt the bridge was trained with) is placed after the prefix.
        Returns ``num_captions`` strings per image.
        """
        was_training = self.training
        self.eval()
        try:
            if images is not None:
                pixel_values = self.preprocess(images)
            prefix, _ = self.prefix(pixel_values, features)
            b, _k = prefix.shape[:2]
            prompt = self.prompt if prompt is None else prompt
            embeds = prefix
            if self.seq2seq:
                ids = list(self.tokenizer(prompt)["input_ids"]) if prompt else []
            else:
                ids = self._ids(prompt)
            if ids:
                pe = self._embed(torch.tensor([ids])).expand(b, -1, -1)
                embeds = torch.cat([prefix, pe], 1)
            mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=self.device)
            return self.generate_from_embeds(embeds, mask, **options)
        finally:
            self.train(was_training)

    @torch.inference_mode()
    def generate_interleaved(self, segments: Sequence[Any], **options: Any) -> list[str]:
        """Frozen-style few-shot prompting: ``segments`` mixes PIL images and strings, e.g.
        ``[img1, "a red circle.", img2, "a blue square.", img3]``; returns the continuation
        (``num_captions`` strings)."""
        was_training = self.training
        self.eval()
        try:
            parts = []
            for seg in segments:
                if isinstance(seg, str):
                    ids = self._ids(seg)
                    if ids:
                        parts.append(self._embed(torch.tensor([ids])))
                else:
                    parts.append(self.prefix(self.preprocess([seg]))[0])
            if not parts:
                raise ValueError("generate_interleaved needs at least one image or text")
            embeds = torch.cat(parts, 1)
            mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=self.device)
            return self.generate_from_embeds(embeds, mask, **options)[0]
        finally:
            self.train(was_training)

    def example(self, image: Any, caption: str, prompt: str | None = None) -> dict[str, Any]:
        """One training example from a PIL image and its caption."""
        ex: dict[str, Any] = {"pixel_values": self.preprocess([image])[0], "caption": caption}
        if prompt is not None:
            ex["prompt"] = prompt
        return ex


def _pad(rows: list[list[int]], labels: list[list[int]], pad: int) -> dict[str, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = [r + [pad] * (width - len(r)) for r in rows]
    mask = [[1] * len(r) + [0] * (width - len(r)) for r in rows]
    lab = [lb + [-100] * (width - len(lb)) for lb in labels]
    return {
        "input_ids": torch.tensor(ids, dtype=torch.long),
        "attention_mask": torch.tensor(mask, dtype=torch.long),
        "labels": torch.tensor(lab, dtype=torch.long),
    }
