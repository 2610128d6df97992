"""Readers (COCO Karpathy / COCO annotations / JSONL / CSV), skipping bad images, feature cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
from socratic.adapters.data import (
    CaptionDataset,
    DataError,
    FeatureCache,
    check_images,
    read_captions,
)
from socratic.adapters.synthetic import make_shapes_dataset


@pytest.fixture()
def images(tmp_path):
    samples = make_shapes_dataset(3, seed=0)
    for i, s in enumerate(samples):
        s.image.save(tmp_path / f"{i}.png")
    return tmp_path, samples


def test_coco_karpathy_split(images):
    root, _ = images
    data = {"images": [
        {"filepath": "", "filename": "0.png", "split": "train",
         "sentences": [{"raw": "A one."}, {"raw": "Another."}]},
        {"filepath": "", "filename": "1.png", "split": "restval", "sentences": [{"raw": "b"}]},
        {"filepath": "", "filename": "2.png", "split": "val", "sentences": [{"raw": "c"}]},
    ]}
    (root / "dataset_coco.json").write_text(json.dumps(data))
    recs = read_captions(root / "dataset_coco.json", splits=["train", "restval"])
    assert [r.caption for r in recs] == ["A one.", "Another.", "b"]
    assert recs[0].references == ["A one.", "Another."]
    assert [r.caption for r in read_captions(root / "dataset_coco.json", splits=["val"])] == ["c"]


def test_coco_annotations_jsonl_and_csv(images):
    root, _ = images
    (root / "captions_val.json").write_text(json.dumps({
        "images": [{"id": 7, "file_name": "0.png"}],
        "annotations": [{"image_id": 7, "caption": "x"}, {"image_id": 7, "caption": "y"}]}))
    assert [r.caption for r in read_captions(root / "captions_val.json")] == ["x", "y"]
    (root / "d.jsonl").write_text('{"image": "1.png", "caption": ["p", "q"]}\n')
    assert len(read_captions(root / "d.jsonl")) == 2
    (root / "d.csv").write_text("image,caption\n2.png,hello\n")
    recs = read_captions(root / "d.csv")
    assert recs[0].caption == "hello" and recs[0].image == str(root / "2.png")
    (root / "bad.csv").write_text("file,text\n2.png,hello\n")
    with pytest.raises(DataError, match="columns 'image' and 'caption'"):
        read_captions(root / "bad.csv")
    with pytest.raises(DataError, match="not found"):
        read_captions(root / "nope.jsonl")


def test_missing_and_corrupt_images_are_skipped_and_reported(images):
    root, _ = images
    (root / "corrupt.png").write_bytes(b"\x89PNG not really")
    lines = [{"image": f"{i}.png", "caption": "ok"} for i in range(3)]
    lines += [{"image": "missing.png", "caption": "m"}, {"image": "corrupt.png", "caption": "c"}]
    (root / "d.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    ok, report = check_images(read_captions(root / "d.jsonl"))
    assert len(ok) == 3 and report.missing == 1 and report.unreadable == 1
    assert "skipped 2 of 5 images" in str(report)


def test_a_training_run_survives_bad_images(tiny, tmp_path):
    from socratic.adapters.runs import build_bridge_run

    from .conftest import run_config

    with open(tiny.train_jsonl) as f:
        src = [json.loads(x) for x in f.read().splitlines()[:40]]
    base = tiny.root / "shapes"
    rows = [{"image": str(base / r["image"]), "caption": r["caption"]} for r in src]
    (tmp_path / "broken.png").write_bytes(b"garbage")
    rows += [{"image": str(tmp_path / "gone.png"), "caption": "x"},
             {"image": str(tmp_path / "broken.png"), "caption": "y"}]
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    cfg = run_config(tiny, tmp_path / "out", {"type": "frozen"},
                     data={"train": str(data), "val": None},
                     train={"max_steps": 2, "batch_size": 8})
    trainer, _ = build_bridge_run(cfg)
    assert trainer.fit()["step"] == 2
    assert "1 missing, 1 unreadable" in (tmp_path / "out" / "skipped_images.txt").read_text()


def test_feature_cache_is_computed_once_and_memory_mapped(images):
    root, _ = images
    paths = [str(root / f"{i}.png") for i in range(3)]
    calls = []

    def encode(ps):
        calls.append(list(ps))
        return np.arange(len(ps) * 4, dtype=np.float32).reshape(len(ps), 4)

    cache = FeatureCache(root / "cache")
    a = cache.get_or_compute("enc", "pooled", paths, encode, batch_size=2)
    b = cache.get_or_compute("enc", "pooled", paths, encode)
    assert isinstance(b, np.memmap) and np.array_equal(a, b) and len(calls) == 2
    cache.get_or_compute("other-encoder", "pooled", paths, encode)
    assert len(calls) == 3  # another encoder: another key (one batch of 3)
    ds = CaptionDataset(read_captions_like(paths), features=b)
    assert ds[1]["features"].shape == (4,)


def read_captions_like(paths):
    from socratic.adapters.data import CaptionRecord

    return [CaptionRecord(p, "c", ["c"]) for p in paths]
