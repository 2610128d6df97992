"""hf_clip backend: CLIP (softmax) and SigLIP (sigmoid), recomputed from raw transformers."""

from __future__ import annotations

import time

import numpy as np
import pytest

from socratic.errors import ModelLoadError
from socratic.vision.clip_hf import HFClipModel

CLASSES = ["cat", "dog", "rocket"]
TEMPLATES = ["a photo of a {}.", "a sketch of a {}."]


@pytest.fixture(scope="module")
def hf_clip(tiny_hf_clip) -> HFClipModel:
    return HFClipModel(model=str(tiny_hf_clip), device="cpu", batch_size=4, disk_cache=False)


@pytest.fixture(scope="module")
def hf_raw(tiny_hf_clip):
    from transformers import CLIPModel, CLIPProcessor

    return CLIPModel.from_pretrained(tiny_hf_clip).eval(), CLIPProcessor.from_pretrained(
        tiny_hf_clip
    )


def _norm(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_tokenizer_matches_open_clip_ids(hf_raw):
    """The rebuilt CLIPTokenizer gives the same ids as open_clip's bundled BPE tokenizer."""
    import open_clip

    texts = ["a photo of a cat.", "A Dog running, in the snow!! (blurry)"]
    ours = hf_raw[1].tokenizer(texts)["input_ids"]
    ref = open_clip.get_tokenizer("ViT-B-32")(texts)
    assert ours == [row[row != 0].tolist() for row in ref]


def test_clip_embeddings_match_transformers(hf_clip, hf_raw, real_images):
    import torch
    from PIL import Image

    model, proc = hf_raw
    texts = ["a photo of a cat.", "two dogs", "a rocket launch at night over the sea"]
    with torch.no_grad():
        pix = proc(images=[Image.open(p).convert("RGB") for p in real_images],
                   return_tensors="pt")["pixel_values"]
        img = model.vision_model(pixel_values=pix).pooler_output
        img = model.visual_projection(img).numpy()
        tok = proc.tokenizer(texts, padding=True, return_tensors="pt")
        txt = model.text_model(**tok).pooler_output
        txt = model.text_projection(txt).numpy()
    np.testing.assert_allclose(hf_clip.embed_images(real_images), _norm(img), atol=1e-5)
    np.testing.assert_allclose(hf_clip.embed_texts(texts), _norm(txt), atol=1e-5)
    assert hf_clip.logit_scale == pytest.approx(30.0, rel=1e-5)


def test_clip_zero_shot_is_a_softmax(hf_clip, real_images):
    probs = hf_clip.zero_shot(real_images, CLASSES, TEMPLATES)
    img = hf_clip.embed_images(real_images)
    cls = _norm(np.stack([
        hf_clip.embed_texts([t.format(c) for t in TEMPLATES]).mean(0) for c in CLASSES
    ]))
    logits = 30.0 * img @ cls.T
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(probs, expected, atol=1e-4)


def test_hf_batching_equivalence(tiny_hf_clip, real_images):
    one = HFClipModel(model=str(tiny_hf_clip), batch_size=1, disk_cache=False)
    seven = HFClipModel(model=str(tiny_hf_clip), batch_size=7, disk_cache=False)
    texts = ["a", "a much longer caption about a cat on a mat", "dog", "sky", "tree", "x", "y",
             "z"]
    np.testing.assert_allclose(one.embed_images(real_images), seven.embed_images(real_images),
                               atol=1e-5)
    np.testing.assert_allclose(one.embed_texts(texts), seven.embed_texts(texts), atol=1e-5)


def test_siglip_uses_sigmoid_probabilities(tiny_siglip, real_images):
    import torch
    from transformers import SiglipModel, SiglipProcessor

    clip = HFClipModel(model=str(tiny_siglip), disk_cache=False)
    assert clip.uses_sigmoid
    assert clip.logit_scale == pytest.approx(10.0, rel=1e-5)
    assert clip.logit_bias == pytest.approx(-3.0, abs=1e-6)
    prompts = [f"a photo of a {c}." for c in CLASSES]
    probs = clip.zero_shot(real_images[:4], CLASSES)

    from PIL import Image

    model = SiglipModel.from_pretrained(tiny_siglip).eval()
    proc = SiglipProcessor.from_pretrained(tiny_siglip)
    inputs = proc(text=prompts, images=[Image.open(p).convert("RGB") for p in real_images[:4]],
                  padding="max_length", return_tensors="pt")
    with torch.no_grad():
        ref = torch.sigmoid(model(**inputs).logits_per_image).numpy()
    np.testing.assert_allclose(probs, ref, atol=1e-4)
    assert not np.allclose(probs.sum(1), 1.0)  # independent per class


def test_missing_local_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="local directory not found: .*nothing-here"):
        HFClipModel(model=str(tmp_path / "nothing-here")).resource()


def test_offline_hub_id_says_how_to_use_a_local_copy():
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match=r"could not fetch hub id 'openai/clip-vit-base-"
                       r"patch32'.*model: DIR"):
        HFClipModel(model="openai/clip-vit-base-patch32").resource()
    assert time.perf_counter() - start < 20  # a hub attempt would retry for ~24 s


def test_directory_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("no config here")
    with pytest.raises(ModelLoadError, match="cannot load from local directory"):
        HFClipModel(model=str(tmp_path)).resource()
