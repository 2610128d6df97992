"""ImageIndex: exact cosine search, build from a CLIP model, save / load."""

from __future__ import annotations

import numpy as np
import pytest

from socratic.errors import SocraticError
from socratic.vision.clip_open import OpenClipModel
from socratic.vision.index import ImageIndex


def test_search_is_exact_cosine_top_k():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(50, 8)).astype(np.float32)
    ids = [f"img{i}" for i in range(50)]
    index = ImageIndex(emb, ids)
    q = rng.normal(size=(3, 8))
    cos = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (
        emb / np.linalg.norm(emb, axis=1, keepdims=True)
    ).T
    results = index.search(q, k=5)
    for row, res in zip(cos, results, strict=True):
        order = np.argsort(-row)[:5]
        assert [i for i, _ in res] == [ids[j] for j in order]
        np.testing.assert_allclose([s for _, s in res], row[order], atol=1e-6)
    single = index.search(q[0], k=100)  # k larger than the index: everything, sorted
    assert len(single) == 50
    assert [i for i, _ in single[:5]] == [i for i, _ in results[0]]
    assert [s for _, s in single] == sorted((s for _, s in single), reverse=True)


def test_build_save_load_round_trip(tiny_open_clip, real_images, tmp_path):
    clip = OpenClipModel(model=tiny_open_clip["arch"], pretrained=tiny_open_clip["checkpoint"],
                         disk_cache=False)
    index = ImageIndex.build(clip, real_images)
    assert index.ids == [str(p) for p in real_images] and index.model == clip.name
    # each image is its own nearest neighbour
    hits = index.search(clip.embed_images(real_images), k=1)
    assert [h[0][0] for h in hits] == index.ids
    index.save(tmp_path / "idx")
    loaded = ImageIndex.load(tmp_path / "idx")
    np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
    assert loaded.ids == index.ids and loaded.model == index.model
    text = clip.embed_text("a cat")
    assert loaded.search(text, k=3) == index.search(text, k=3)  # same arrays, same order


def test_add_and_errors(tmp_path):
    index = ImageIndex(np.eye(2, dtype=np.float32), ["a", "b"])
    index.add(np.array([[1.0, 1.0]]), ["c"])
    assert len(index) == 3 and index.search(np.array([1.0, 0.9]), k=1)[0][0] == "c"
    with pytest.raises(ValueError, match="2 ids for 3 embeddings"):
        ImageIndex(np.eye(3), ["a", "b"])
    with pytest.raises(ValueError, match="query dimension 3"):
        index.search(np.ones(3))
    with pytest.raises(SocraticError, match="cannot read image index"):
        ImageIndex.load(tmp_path / "missing")
