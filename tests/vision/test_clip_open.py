"""open_clip backend: results recomputed independently from the raw open_clip model."""

from __future__ import annotations

import time

import numpy as np
import pytest

from socratic.errors import ModelLoadError, SocraticError
from socratic.vision.clip_base import ClipModel
from socratic.vision.clip_open import OpenClipModel

CLASSES = ["cat", "dog", "rocket", "coffee cup"]
TEMPLATES = ["a photo of a {}.", "a blurry photo of a {}.", "a drawing of the {}."]


@pytest.fixture(scope="module")
def clip(tiny_open_clip: dict) -> OpenClipModel:
    return OpenClipModel(
        model=tiny_open_clip["arch"],
        pretrained=tiny_open_clip["checkpoint"],
        device="cpu",
        batch_size=4,
        disk_cache=False,
    )


@pytest.fixture(scope="module")
def raw(tiny_open_clip: dict):
    """The same weights loaded directly with open_clip (the reference implementation)."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(
        tiny_open_clip["arch"], pretrained=tiny_open_clip["checkpoint"]
    )
    model.eval()
    return model, preprocess, open_clip.get_tokenizer(tiny_open_clip["arch"])


def _raw_images(raw, paths) -> np.ndarray:
    import torch
    from PIL import Image

    model, preprocess, _ = raw
    x = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths])
    with torch.no_grad():
        f = model.encode_image(x)
    f = f / f.norm(dim=-1, keepdim=True)
    return f.numpy()


def _raw_texts(raw, texts) -> np.ndarray:
    import torch

    model, _, tokenizer = raw
    with torch.no_grad():
        f = model.encode_text(tokenizer(texts))
    f = f / f.norm(dim=-1, keepdim=True)
    return f.numpy()


def test_image_embeddings_match_open_clip(clip, raw, real_images):
    ours = clip.embed_images(real_images)
    assert ours.dtype == np.float32 and ours.shape == (len(real_images), 32)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(ours, _raw_images(raw, real_images), atol=1e-5)


def test_text_embeddings_match_open_clip(clip, raw):
    texts = ["a photo of a cat.", "A DOG running in the snow!", "", "x" * 500]
    ours = clip.embed_texts(texts)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, _raw_texts(raw, texts), atol=1e-5)


def test_logit_scale_is_the_learned_one(clip):
    assert clip.logit_scale == pytest.approx(42.0, rel=1e-5)
    assert clip.logit_bias is None and not clip.uses_sigmoid


def test_accepts_paths_images_and_pil(clip, real_images):
    from PIL import Image as PILImage

    from socratic.types import Image

    p = real_images[2]
    a = clip.embed_images([str(p), Image(p), PILImage.open(p)])
    np.testing.assert_allclose(a[0], a[1], atol=1e-6)
    np.testing.assert_allclose(a[0], a[2], atol=1e-6)
    np.testing.assert_allclose(clip.embed_image(p), a[0], atol=1e-6)


def test_batch_size_does_not_change_embeddings(tiny_open_clip, real_images):
    kw = {"model": tiny_open_clip["arch"], "pretrained": tiny_open_clip["checkpoint"]}
    one = OpenClipModel(**kw, batch_size=1, disk_cache=False)
    seven = OpenClipModel(**kw, batch_size=7, disk_cache=False)
    texts = [f"a photo of number {i}" for i in range(15)]
    np.testing.assert_allclose(one.embed_images(real_images), seven.embed_images(real_images),
                               atol=1e-5)
    np.testing.assert_allclose(one.embed_texts(texts), seven.embed_texts(texts), atol=1e-5)


def test_similarity_is_cosine(clip):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    expected = np.array(
        [[x @ y / np.linalg.norm(x) / np.linalg.norm(y) for y in b] for x in a]
    )
    np.testing.assert_allclose(ClipModel.similarity(a, b), expected, atol=1e-6)


def test_zero_shot_template_ensembling(clip, raw, real_images):
    probs = clip.zero_shot(real_images, CLASSES, TEMPLATES)
    # reference: CLIP notebook -- normalise each template embedding, average, re-normalise
    img = _raw_images(raw, real_images)
    weights = []
    for c in CLASSES:
        e = _raw_texts(raw, [t.format(c) for t in TEMPLATES])
        m = e.mean(axis=0)
        weights.append(m / np.linalg.norm(m))
    logits = 42.0 * img @ np.stack(weights).T
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert probs.shape == (len(real_images), len(CLASSES))
    np.testing.assert_allclose(probs, expected, atol=1e-4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_zero_shot_takes_precomputed_embeddings(clip, real_images):
    emb = clip.embed_images(real_images[:3])
    np.testing.assert_allclose(
        clip.zero_shot(emb, CLASSES), clip.zero_shot(real_images[:3], CLASSES), atol=1e-6
    )


def test_zero_shot_rejects_template_without_slot(clip, real_images):
    with pytest.raises(ValueError, match="no '\\{\\}'"):
        clip.zero_shot(real_images[:1], CLASSES, ["a photo"])


def test_rank_texts(clip, raw, real_images):
    texts = ["a cat", "a rocket", "a cup of coffee", "an astronaut", "a camera man"]
    ranked = clip.rank_texts(real_images[0], texts, top_k=3)
    cos = (_raw_images(raw, real_images[:1]) @ _raw_texts(raw, texts).T)[0]
    order = np.argsort(-cos)[:3]
    assert [t for t, _ in ranked] == [texts[i] for i in order]
    np.testing.assert_allclose([s for _, s in ranked], cos[order], atol=1e-5)
    # an embedding row works as well, and no top_k keeps all
    assert len(clip.rank_texts(clip.embed_image(real_images[0]), texts)) == len(texts)


def test_text_cache_encodes_each_text_once(tiny_open_clip, monkeypatch):
    clip = OpenClipModel(
        model=tiny_open_clip["arch"], pretrained=tiny_open_clip["checkpoint"], disk_cache=False
    )
    seen: list[list[str]] = []
    original = clip._encode_texts

    def counting(texts):
        seen.append(list(texts))
        return original(texts)

    monkeypatch.setattr(clip, "_encode_texts", counting)
    first = clip.embed_texts(["a", "b", "a", "c"])
    assert sorted(t for batch in seen for t in batch) == ["a", "b", "c"]
    seen.clear()
    second = clip.embed_texts(["c", "a", "b"])
    assert seen == []  # nothing computed
    np.testing.assert_array_equal(second, first[[3, 0, 1]])
    clip.embed_texts(["a", "d"])
    assert seen == [["d"]]  # only the miss


def test_disk_cache_survives_a_new_instance(tiny_open_clip, monkeypatch, tmp_path):
    from socratic import cache
    from socratic.context import BuildContext

    context = BuildContext(cache=cache.Cache(tmp_path))
    kw = {"model": tiny_open_clip["arch"], "pretrained": tiny_open_clip["checkpoint"]}
    texts = [f"a photo of a thing number {i}" for i in range(10)]
    first = OpenClipModel(**kw).bind(context).embed_texts(texts)
    assert cache.Cache(tmp_path).stats()["namespaces"]["text-embedding"] == 10

    fresh = OpenClipModel(**kw).bind(BuildContext(cache=cache.Cache(tmp_path)))

    def boom(texts):
        raise AssertionError(f"encoded {texts} although cached on disk")

    monkeypatch.setattr(fresh, "_encode_texts", boom)
    np.testing.assert_array_equal(fresh.embed_texts(texts), first)
    assert not fresh.loaded  # a fully cached call needs no weights at all


def test_random_weights_never_use_disk_cache(tiny_open_clip, monkeypatch, tmp_path):
    from socratic import cache

    monkeypatch.setattr(cache, "_default", cache.Cache(tmp_path))
    clip = OpenClipModel(model=tiny_open_clip["arch"])  # no pretrained: random init
    assert clip.cache_identity() is None
    clip.embed_texts(["a cat"])
    assert cache.Cache(tmp_path).stats()["entries"] == 0


def test_empty_inputs(clip):
    assert clip.embed_images([]).shape == (0, 32)
    assert clip.embed_texts([]).shape == (0, 32)
    assert clip.rank_texts(np.ones(32), []) == []


def test_a_single_string_is_refused(clip):
    with pytest.raises(TypeError, match="list of strings"):
        clip.embed_texts("a cat")


def test_unknown_architecture_lists_close_names():
    with pytest.raises(ModelLoadError, match=r"'ViT-B-3' is unknown; did you mean: .*ViT-B-32"):
        OpenClipModel(model="ViT-B-3", pretrained="openai").resource()


def test_unknown_tag_lists_close_tags():
    with pytest.raises(ModelLoadError, match=r"unknown pretrained tag 'laion2b_s34b_b78k'.*"
                       r"did you mean: laion2b_s34b_b79k"):
        OpenClipModel(model="ViT-B-32", pretrained="laion2b_s34b_b78k").resource()


def test_missing_checkpoint_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(ModelLoadError, match="checkpoint not found: .*nope.pt"):
        OpenClipModel(model="ViT-B-32", pretrained=str(missing)).resource()


def test_directory_without_checkpoint(tmp_path):
    with pytest.raises(ModelLoadError, match="no checkpoint"):
        OpenClipModel(model="ViT-B-32", pretrained=str(tmp_path)).resource()


def test_directory_with_checkpoint(tiny_open_clip, tmp_path, real_images):
    import shutil

    shutil.copy(tiny_open_clip["checkpoint"], tmp_path / "open_clip_model.pt")
    a = OpenClipModel(model=tiny_open_clip["arch"], pretrained=str(tmp_path), disk_cache=False)
    b = OpenClipModel(model=tiny_open_clip["arch"], pretrained=tiny_open_clip["checkpoint"],
                      disk_cache=False)
    np.testing.assert_allclose(a.embed_images(real_images[:2]), b.embed_images(real_images[:2]),
                               atol=1e-6)


def test_offline_tag_fails_fast_with_a_way_out(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match=r"could not fetch .*pretrained: /path/to/"):
        OpenClipModel(model="ViT-B-32", pretrained="laion2b_s34b_b79k").resource()
    assert time.perf_counter() - start < 20  # a hub attempt would retry for ~24 s


def test_corrupt_image_is_named(clip, tmp_path, real_images):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    with pytest.raises(SocraticError, match="broken.jpg"):
        clip.embed_images([real_images[0], bad])
    with pytest.raises(SocraticError, match="not found: .*missing.png"):
        clip.zero_shot([tmp_path / "missing.png"], CLASSES)


def test_bf16_precision_runs_and_stays_close(tiny_open_clip, clip, real_images):
    low = OpenClipModel(model=tiny_open_clip["arch"], pretrained=tiny_open_clip["checkpoint"],
                        device="cpu", precision="bf16", disk_cache=False)
    a, b = low.embed_images(real_images[:3]), clip.embed_images(real_images[:3])
    assert a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() > 0.98  # cosine to the fp32 embedding
    assert low.cache_identity() != clip.cache_identity()  # precision is part of the identity


def test_open_clip_export_directory(tiny_open_clip, clip, tmp_path, real_images):
    """A folder with open_clip_config.json (what open_clip pushes to the hub) loads as local-dir."""
    import json
    import shutil

    export = tmp_path / "export"
    export.mkdir()
    (export / "open_clip_config.json").write_text(json.dumps({"model_cfg": tiny_open_clip["config"]}))
    shutil.copy(tiny_open_clip["checkpoint"], export / "open_clip_pytorch_model.bin")
    for kw in ({"model": tiny_open_clip["arch"], "pretrained": str(export)},
               {"model": f"local-dir:{export}"}):
        other = OpenClipModel(**kw, disk_cache=False)
        np.testing.assert_allclose(other.embed_images(real_images[:2]),
                                   clip.embed_images(real_images[:2]), atol=1e-5)


def test_offline_hf_hub_model_fails_fast(monkeypatch):
    import huggingface_hub.constants as hc

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match="could not fetch open_clip 'hf-hub:laion/nope'.*local-dir"):
        OpenClipModel(model="hf-hub:laion/nope").resource()
    assert time.perf_counter() - start < 20  # a hub attempt would retry for ~24 s
