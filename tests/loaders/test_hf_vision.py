"""load_hf_clip (CLIP, SigLIP) and load_hf_image_to_text (BLIP, BLIP-2, GIT) on tiny folders."""

from __future__ import annotations

import pytest
import torch

from socratic.errors import ModelLoadError
from socratic.loaders import HFClip, HFImageToText, load_hf_clip, load_hf_image_to_text


def test_clip_and_siglip(hf_clips, image):
    from PIL import Image

    clip = load_hf_clip(str(hf_clips.clip), device="cpu")
    siglip = load_hf_clip(str(hf_clips.siglip), device="cpu", precision="bf16")
    assert isinstance(clip, HFClip) and type(clip.model).__name__ == "CLIPModel"
    assert (clip.sigmoid, clip.max_length, clip.device) == (False, 16, "cpu")
    assert siglip.sigmoid and siglip.model.dtype == torch.bfloat16 == siglip.dtype
    assert type(clip.tokenizer).__name__.startswith("CLIPTokenizer")
    pixels = clip.image_processor(images=[Image.open(image)], return_tensors="pt")["pixel_values"]
    assert tuple(pixels.shape) == (1, 3, 32, 32)


def test_a_model_that_is_not_a_dual_encoder(lms):
    with pytest.raises(ModelLoadError, match="is a GPT2Model, not a dual image/text encoder"):
        load_hf_clip(str(lms.gpt2))


@pytest.mark.parametrize("kind, cls", [("blip", "BlipForConditionalGeneration"),
                                       ("blip2", "Blip2ForConditionalGeneration"),
                                       ("git", "GitForCausalLM")])
def test_captioners_load_and_generate(captioners, image, kind, cls):
    from PIL import Image

    cap = load_hf_image_to_text(str(getattr(captioners, kind)), device="cpu")
    assert isinstance(cap, HFImageToText) and type(cap.model).__name__ == cls
    assert cap.dtype == torch.float32 and not cap.model.training
    inputs = cap.processor(images=[Image.open(image).convert("RGB")], return_tensors="pt")
    with torch.no_grad():
        ids = cap.model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert ids.shape[0] == 1 and isinstance(cap.tokenizer.batch_decode(ids)[0], str)
