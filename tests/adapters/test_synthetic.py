"""The synthetic shapes generator: deterministic, exact captions, usable splits and files."""

from __future__ import annotations

import numpy as np
from socratic.adapters.synthetic import (
    COLORS,
    all_captions,
    describe,
    make_shapes_dataset,
    make_shapes_splits,
    write_shapes_jsonl,
)


def test_same_seed_same_images_and_captions():
    a, b = make_shapes_dataset(20, seed=5), make_shapes_dataset(20, seed=5)
    assert [s.caption for s in a] == [s.caption for s in b]
    assert all(np.array_equal(np.asarray(x.image), np.asarray(y.image)) for x, y in zip(a, b, strict=True))
    assert [s.caption for s in make_shapes_dataset(20, seed=6)] != [s.caption for s in a]


def test_captions_describe_what_is_drawn():
    for s in make_shapes_dataset(50, seed=1, image_size=64):
        px = np.asarray(s.image)
        for o in s.objects:
            x0, y0, x1, y1 = o.box
            cx, cy = (x0 + x1) // 2, (y0 + y1) // 2 + 1
            assert tuple(px[cy, cx]) == COLORS[o.color], (s.caption, o)
        a, b = s.objects
        if s.relation == "above":
            assert a.box[3] <= b.box[1]
        else:
            assert a.box[2] <= b.box[0]
        assert s.caption == describe(s.objects, s.relation)
        assert s.caption in all_captions(2)


def test_single_object_mode_and_sizes():
    s = make_shapes_dataset(3, seed=0, image_size=64, n_objects=1)
    assert s[0].image.size == (64, 64) and s[0].caption in all_captions(1)


def test_splits_are_disjoint_and_written_as_jsonl(tmp_path):
    from socratic.adapters.data import read_captions

    train, test = make_shapes_splits(30, 10, seed=0)
    assert not {np.asarray(s.image).tobytes() for s in train} & {
        np.asarray(s.image).tobytes() for s in test
    }
    path = write_shapes_jsonl(test, tmp_path)
    recs = read_captions(path)
    assert [r.caption for r in recs] == [s.caption for s in test]
    assert all((tmp_path / "images").joinpath(r.image.split("/")[-1]).exists() for r in recs)
