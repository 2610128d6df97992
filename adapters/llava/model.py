"""The LLaVA-style model: a transformers ``LlavaForConditionalGeneration`` assembled from a CLIP /
SigLIP vision tower and a causal LM, so that training, generation and the export share one
implementation (transformers'): patch features of layer ``feature_layer`` -> 2-layer GELU MLP
projector -> in place of the ``<image>`` tokens of the LM's input.

Example:
    >>> bridge = LlavaBridge.from_config(cfg)                       # doctest: +SKIP
    >>> batch = bridge.collate([{"image": "a.png", "messages": [...]}])  # doctest: +SKIP
    >>> bridge(**batch)["loss"].backward()                          # doctest: +SKIP
    >>> bridge.generate([image], "What shape is it?")                # doctest: +SKIP
    ['a red circle']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from socratic.errors import ModelLoadError

from .config import LlavaRunConfig
from .data import IMAGE_TOKEN, encode_conversation

__all__ = ["PROJECTOR", "LlavaBridge"]

PROJECTOR = "projector.safetensors"


def _vision_parts(path: str) -> tuple[Any, Any, Any]:
    """``(vision config, vision model with weights, image processor)`` of a CLIP / SigLIP folder."""
    import transformers as hf

    from socratic.loaders.lock import load_lock

    with load_lock:
        try:
            config = hf.AutoConfig.from_pretrained(path)
            model = hf.AutoModel.from_pretrained(path)
            processor = hf.AutoImageProcessor.from_pretrained(path)
        except OSError as exc:
            raise ModelLoadError(f"vision.path: cannot load '{path}' as a CLIP / SigLIP folder "
                                 f"({exc})") from None
    vcfg = getattr(config, "vision_config", config)
    tower = getattr(model, "vision_model", model)
    return vcfg, tower, processor


class LlavaBridge(nn.Module):
    """A trainable LLaVA: ``self.model`` is a ``LlavaForConditionalGeneration`` (its LM perhaps
    wrapped by peft LoRA); ``processor`` a ``LlavaProcessor`` with the LM's chat template.

    Example:
        >>> bridge = LlavaBridge.from_config(LlavaRunConfig(...))   # doctest: +SKIP
        >>> sorted(bridge.trainable_state_dict())[:1]               # doctest: +SKIP
        ['model.model.multi_modal_projector.linear_1.bias']
    """

    def __init__(self, model: nn.Module, processor: Any, n_image_tokens: int, max_tokens: int = 64) -> None:
        super().__init__()
        self.model, self.processor = model, processor
        self.tokenizer = processor.tokenizer
        self.n_image_tokens, self.max_tokens = n_image_tokens, max_tokens

    @classmethod
    def from_config(cls, cfg: LlavaRunConfig) -> LlavaBridge:
        import transformers as hf

        from ..lm import load_lm, peft_config
        from .export import processor_chat_template

        vcfg, tower, image_processor = _vision_parts(cfg.vision.path)
        lm, tok, seq2seq = load_lm(cfg.lm)
        if seq2seq:
            raise ModelLoadError("lm.path: the LLaVA recipe needs a causal LM")
        if not tok.chat_template:
            raise ModelLoadError(f"lm.path: '{cfg.lm.path}' has no chat template (the LLaVA recipe lays "
                                 "conversations out with it)")
        if IMAGE_TOKEN not in tok.get_vocab():
            tok.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
            lm.resize_token_embeddings(len(tok), mean_resizing=False)
        select = cfg.vision.select
        if select == "auto":
            select = "default" if vcfg.model_type.startswith("clip") else "full"
        patches = (vcfg.image_size // vcfg.patch_size) ** 2
        extra = 1 if vcfg.model_type.startswith("clip") else 0  # CLIP's class token
        n_tokens = patches + (extra if select == "full" else 0)
        config = hf.LlavaConfig(
            vision_config=vcfg, text_config=lm.config,
            image_token_index=tok.convert_tokens_to_ids(IMAGE_TOKEN),
            vision_feature_layer=cfg.vision.feature_layer, vision_feature_select_strategy=select,
            projector_hidden_act="gelu", image_seq_length=n_tokens, tie_word_embeddings=False,
        )
        torch.manual_seed(cfg.train.seed)
        model = hf.LlavaForConditionalGeneration(config)
        model.model.vision_tower.load_state_dict(_strip(tower.state_dict(), model.model.vision_tower))
        model.model.language_model.load_state_dict(lm.get_decoder().state_dict())
        model.lm_head.load_state_dict(lm.get_output_embeddings().state_dict())
        model.generation_config.pad_token_id = tok.pad_token_id
        model.generation_config.eos_token_id = tok.eos_token_id
        processor = hf.LlavaProcessor(
            image_processor=image_processor, tokenizer=tok, patch_size=vcfg.patch_size,
            vision_feature_select_strategy=select, chat_template=processor_chat_template(tok.chat_template),
            image_token=IMAGE_TOKEN, num_additional_image_tokens=extra,
        )
        model.requires_grad_(False)
        if cfg.lm.tune == "lora":  # LoRA on the language model only (a base PeftModel: Llava calls it)
            from peft import get_peft_model

            lora = peft_config(cfg.lm, False)
            lora.task_type = None
            model.model.language_model = get_peft_model(model.model.language_model, lora)
        elif cfg.lm.tune == "full":
            model.model.language_model.requires_grad_(True)
        model.model.multi_modal_projector.requires_grad_(True)
        if cfg.projector.init:
            from safetensors.torch import load_file

            model.model.multi_modal_projector.load_state_dict(load_file(cfg.projector.init))
        return cls(model, processor, n_tokens, cfg.data.max_text_tokens)

    # ------------------------------------------------------------ training

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        from PIL import Image

        rows = [encode_conversation(self.tokenizer, i["messages"], self.n_image_tokens, self.max_tokens)
                for i in items]
        width, pad = max(len(r) for r, _ in rows), self.tokenizer.pad_token_id
        images = [Image.open(i["image"]).convert("RGB") if isinstance(i["image"], str) else i["image"]
                  for i in items]
        pixels = self.processor.image_processor(images, return_tensors="pt")["pixel_values"]
        return {
            "input_ids": torch.tensor([r + [pad] * (width - len(r)) for r, _ in rows]),
            "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r, _ in rows]),
            "labels": torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows]),
            "pixel_values": pixels,
        }

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pixel_values: torch.Tensor,
                labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixel_values,
                         labels=labels)
        return {"loss": out.loss, "logits": out.logits}

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}

    # ------------------------------------------------------------ inference

    @torch.inference_mode()
    def generate(self, images: list[Any], question: str, max_new_tokens: int = 16) -> list[str]:
        """Greedy answers to ``question`` about each image, through the processor (as the
        export is used)."""
        from PIL import Image

        device = next(self.parameters()).device
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        outs = []
        for image in images:
            img = Image.open(image).convert("RGB") if isinstance(image, (str, os.PathLike)) else image
            enc = self.processor(images=img, text=prompt, return_tensors="pt").to(device)
            ids = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
            new = ids[0, enc["input_ids"].shape[1]:]
            outs.append(self.tokenizer.decode(new, skip_special_tokens=True).strip())
        return outs

    def save_projector(self, path: str | os.PathLike[str]) -> Path:
        from safetensors.torch import save_file

        projector = self.model.model.multi_modal_projector
        state = {k: v.detach().contiguous().cpu() for k, v in projector.state_dict().items()}
        save_file(state, str(path))
        return Path(path)


def _strip(state: dict[str, torch.Tensor], target: nn.Module) -> dict[str, torch.Tensor]:
    """Match a vision tower's keys to ``target``'s (with or without a ``vision_model.`` prefix)."""
    want = set(target.state_dict())
    if set(state) == want:
        return state
    prefixed = {f"vision_model.{k}": v for k, v in state.items()}
    if set(prefixed) <= want:
        return prefixed
    return {k.removeprefix("vision_model."): v for k, v in state.items()}
