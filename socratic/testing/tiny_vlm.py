"""Tiny vision-language models saved like real ones, for the ``hf`` backend's vision path.

``make_tiny_vlm(folder, "llava")`` builds a LLaVA (a 2-layer CLIP vision tower, a projector and
a 2-layer Llama), ``"qwen2_vl"`` a Qwen2-VL (its own vision tower with 2x2 patch merging and
M-RoPE), ``"blip2"`` a BLIP-2 (vision tower, Q-Former, Llama, no chat template). Each is saved
with its processor (the kit's BPE tokenizer plus the family's image tokens and an image
processor at 32-56 pixels), so ``AutoModelForImageTextToText`` / ``AutoProcessor`` load the
folder offline. Seeded random weights: answers are gibberish, but deterministic.

Example:
    >>> import tempfile
    >>> from transformers import AutoModelForImageTextToText, AutoProcessor
    >>> path = make_tiny_vlm(tempfile.mkdtemp(), "llava")
    >>> type(AutoModelForImageTextToText.from_pretrained(path)).__name__
    'LlavaForConditionalGeneration'
    >>> AutoProcessor.from_pretrained(path).apply_chat_template(
    ...     [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
    ...     add_generation_prompt=True, tokenize=False)
    '<|user|> <image>hi\\n<|assistant|> '
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

Family = Literal["llava", "qwen2_vl", "blip2"]

_IMAGE_MARK = {"llava": "<image>", "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>"}


def vlm_chat_template(image_mark: str) -> str:
    """The kit's chat template for content given as parts (``{"type": "image"}`` becomes
    ``image_mark``); string contents work too."""
    return (
        "{% for m in messages %}<|{{ m['role'] }}|> "
        "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for p in m['content'] %}"
        "{% if p['type'] == 'image' %}" + image_mark + "{% elif p['type'] == 'text' %}"
        "{{ p['text'] }}{% endif %}{% endfor %}{% endif %}{{ '\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|> {% endif %}"
    )


def _llama(tok: Any, width: int, init_std: float) -> dict[str, Any]:
    return dict(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                vocab_size=len(tok), pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id, initializer_range=init_std)


def make_tiny_vlm(out_dir: str | os.PathLike[str], family: Family = "llava", *, width: int = 32,
                  init_std: float = 0.2, seed: int = 0) -> Path:
    """Build a tiny ``llava`` / ``qwen2_vl`` / ``blip2`` model with its processor in
    ``out_dir`` (returned)."""
    import torch
    import transformers as hf

    from .tokenizer import train_tokenizer

    tok = train_tokenizer()
    torch.manual_seed(seed)
    if family == "llava":
        tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
        template = vlm_chat_template(_IMAGE_MARK["llava"])
        tok.chat_template = template
        vision = hf.CLIPVisionConfig(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
                                     num_attention_heads=2, image_size=32, patch_size=8)
        text = hf.LlamaConfig(**_llama(tok, width, init_std))
        config = hf.LlavaConfig(vision_config=vision, text_config=text,
                                image_token_index=tok.convert_tokens_to_ids("<image>"),
                                vision_feature_layer=-1, vision_feature_select_strategy="default")
        model: Any = hf.LlavaForConditionalGeneration(config)
        processor: Any = hf.LlavaProcessor(
            image_processor=hf.CLIPImageProcessor(size={"shortest_edge": 32},
                                                  crop_size={"height": 32, "width": 32}),
            tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
            chat_template=template, image_token="<image>", num_additional_image_tokens=1)
    elif family == "qwen2_vl":
        marks = ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>"]
        tok.add_special_tokens({"additional_special_tokens": marks})
        template = vlm_chat_template(_IMAGE_MARK["qwen2_vl"])
        tok.chat_template = template
        ids = {m: tok.convert_tokens_to_ids(m) for m in marks}
        config = hf.Qwen2VLConfig(
            text_config={**_llama(tok, width, init_std),
                         "rope_scaling": {"type": "mrope", "mrope_section": [2, 2, 4]}},
            vision_config=dict(depth=2, embed_dim=width, hidden_size=width, num_heads=2, mlp_ratio=2,
                               patch_size=14, spatial_merge_size=2, temporal_patch_size=2),
            image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
            vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
        model = hf.Qwen2VLForConditionalGeneration(config)
        processor = hf.Qwen2VLProcessor(
            image_processor=hf.Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=56 * 56 * 4,
                                                     patch_size=14, merge_size=2, temporal_patch_size=2),
            tokenizer=tok, chat_template=template, video_processor=hf.Qwen2VLVideoProcessor())
    elif family == "blip2":
        tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
        tok.chat_template = None
        vision = hf.Blip2VisionConfig(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
                                      num_attention_heads=2, image_size=32, patch_size=8)
        qformer = hf.Blip2QFormerConfig(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
                                        num_attention_heads=2, encoder_hidden_size=width, vocab_size=len(tok))
        config = hf.Blip2Config(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(),
                                text_config=hf.LlamaConfig(**_llama(tok, width, init_std)).to_dict(),
                                num_query_tokens=4, image_token_index=tok.convert_tokens_to_ids("<image>"))
        model = hf.Blip2ForConditionalGeneration(config)
        processor = hf.Blip2Processor(image_processor=hf.BlipImageProcessor(size={"height": 32, "width": 32}),
                                      tokenizer=tok, num_query_tokens=4)
    else:
        raise ValueError(f"unknown tiny VLM family {family!r}: llava, qwen2_vl or blip2")
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    out = Path(out_dir)
    model.save_pretrained(str(out))
    processor.save_pretrained(str(out))
    return out
