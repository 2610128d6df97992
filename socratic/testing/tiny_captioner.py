"""Tiny image captioners saved like real ones: BLIP (encoder-decoder) and GIT (decoder-only),
and BLIP's image-text retrieval model (``blip_itm``: the ITM head CapFilt filters with), each
with its processor and a small BERT WordPiece vocabulary written here (no downloads).

Example:
    >>> import tempfile
    >>> from PIL import Image
    >>> from socratic.vision.captioner import HFCaptioner
    >>> path = make_tiny_captioner(tempfile.mkdtemp(), "blip")
    >>> captions = HFCaptioner(model=str(path), max_new_tokens=4).caption([Image.new("RGB", (32, 32))])
    >>> len(captions), len(captions[0])
    (1, 1)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

#: the vocabulary of the tiny captioners, after BERT's special tokens
WORDS = (
    "a", "an", "the", "photo", "picture", "of", "cat", "dog", "bird", "man", "woman", "person",
    "sitting", "on", "in", "with", "and", "red", "blue", "green", "small", "large", "table",
    "grass", "tree", "sky", "water", "street", "car", "house", "is", "are", "two", "one", "near",
)


def make_tiny_captioner(
    out_dir: str | os.PathLike[str], arch: Literal["blip", "git", "blip_itm"] = "blip", *, seed: int = 0
) -> Path:
    """Save a ``BlipForConditionalGeneration`` + ``BlipProcessor`` (decoding starts at
    ``[DEC]``), a ``GitForCausalLM`` + ``GitProcessor`` (prompts continue ``[CLS]``) or a
    ``BlipForImageTextRetrieval`` + ``BlipProcessor`` (``blip_itm``) with seeded random weights
    to ``out_dir``; returns the folder."""
    import torch
    import transformers as hf

    from .tiny_clip import vit_config

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(["[DEC]"] if arch != "git" else []), *WORDS]
    ids = {t: i for i, t in enumerate(vocab)}
    tok = hf.BertTokenizer(vocab=ids, do_lower_case=True)
    text = {"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": 64, "pad_token_id": ids["[PAD]"],
            "eos_token_id": ids["[SEP]"]}
    torch.manual_seed(seed)
    model: Any
    if arch in ("blip", "blip_itm"):
        tok.add_special_tokens({"bos_token": "[DEC]"})
        text.update(encoder_hidden_size=32, bos_token_id=ids["[DEC]"], sep_token_id=ids["[SEP]"])
        cfg = hf.BlipConfig(text_config=text, vision_config=vit_config(), projection_dim=32)
        model = (hf.BlipForConditionalGeneration if arch == "blip" else hf.BlipForImageTextRetrieval)(cfg)
        images: Any = hf.BlipImageProcessor(size={"height": 32, "width": 32})
        proc: Any = hf.BlipProcessor(image_processor=images, tokenizer=tok)
    elif arch == "git":
        text.update(num_hidden_layers=1, bos_token_id=ids["[CLS]"])
        model = hf.GitForCausalLM(hf.GitConfig(vision_config=vit_config(layers=1), **text))
        images = hf.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32)
        proc = hf.GitProcessor(image_processor=images, tokenizer=tok)
    else:
        raise ValueError(f"unknown tiny captioner arch {arch!r}: blip, git or blip_itm")
    model.save_pretrained(out_dir)
    proc.save_pretrained(out_dir)
    return Path(out_dir)
