"""Tiny vision models built once per test session with ``socratic.testing`` (no downloads):
open_clip, HF CLIP / SigLIP, BLIP and GIT captioning; and real photos from scikit-image. Weights
are random but seeded; the learned logit scales are set to values the tests check are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from socratic.testing import make_tiny_captioner, make_tiny_hf_clip, make_tiny_open_clip

#: the open_clip architecture of the vision tests (CLIP's full 77-token context)
TINY_ARCH = "socratic-tiny-vit"
TINY_OPEN_CLIP = {"vision": {"head_width": 64}, "text": {"context_length": 77, "width": 64}}


@pytest.fixture(scope="session")
def vision_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vision-models")


@pytest.fixture(scope="session")
def tiny_open_clip(vision_tmp: Path) -> dict:
    """A tiny open_clip architecture registered as TINY_ARCH, and its seeded weights."""
    tiny = make_tiny_open_clip(vision_tmp / "open_clip", name=TINY_ARCH, logit_scale=42.0, **TINY_OPEN_CLIP)
    return {"arch": tiny.arch, "checkpoint": str(tiny.checkpoint), "config": tiny.config}


@pytest.fixture(scope="session")
def tiny_hf_clip(vision_tmp: Path) -> Path:
    """A tiny transformers CLIPModel + CLIPProcessor."""
    return make_tiny_hf_clip(vision_tmp / "hf_clip", "clip", seed=1, logit_scale=30.0)


@pytest.fixture(scope="session")
def tiny_siglip(vision_tmp: Path) -> Path:
    """A tiny SiglipModel (sigmoid scores) + SiglipProcessor."""
    return make_tiny_hf_clip(vision_tmp / "siglip", "siglip", seed=2, logit_scale=10.0, logit_bias=-3.0)


@pytest.fixture(scope="session")
def tiny_blip(vision_tmp: Path) -> Path:
    """A tiny BlipForConditionalGeneration + BlipProcessor."""
    return make_tiny_captioner(vision_tmp / "blip", "blip", seed=3)


@pytest.fixture(scope="session")
def tiny_git(vision_tmp: Path) -> Path:
    """A tiny GitForCausalLM + GitProcessor (decoder-only captioner; prompts continue [CLS])."""
    return make_tiny_captioner(vision_tmp / "git", "git", seed=4)


@pytest.fixture(scope="session")
def real_images(vision_tmp: Path) -> list[Path]:
    """Nine real photos from scikit-image, saved as PNG/JPEG files of different sizes."""
    from PIL import Image
    from skimage import data

    names = ["astronaut", "camera", "cat", "coffee", "coins", "rocket", "hubble_deep_field",
             "immunohistochemistry", "retina"]
    out = vision_tmp / "images"
    out.mkdir()
    paths = []
    for i, name in enumerate(names):
        arr = getattr(data, name)()
        im = Image.fromarray(arr)
        im.thumbnail((96, 96))
        p = out / f"{i:02d}_{name}.{'jpg' if i % 2 else 'png'}"
        im.save(p)
        paths.append(p)
    return paths
