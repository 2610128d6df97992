"""CapFilt's filter finds injected caption noise: a CLIP trained on clean shapes (the session's
``uu`` run) judges a training set where a known share of captions were swapped for another
class's, through the ``filter.captions`` node in a graph run over the data. The threshold is
calibrated on separate clean pairs, as a user would; the run's dropped rows are compared with the
swapped ones (precision and recall), and the kept rows are training data through ``outputs.*``."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from socratic.adapters.data import read_captions
from socratic.adapters.synthetic import make_shapes_dataset, write_shapes_jsonl

from socratic.runner import RowRunner
from socratic.spec import load_graph_text
from socratic.vision.clip_open import OpenClipModel

NOISE = 0.3  # the share of captions replaced by another class's


def _noisy(tmp_path: Path) -> tuple[Path, list[bool]]:
    path = write_shapes_jsonl(make_shapes_dataset(240, seed=7, n_objects=1), tmp_path / "data", "clean.jsonl")
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    captions = sorted({r["caption"] for r in rows})
    rng = random.Random(0)
    flipped = [rng.random() < NOISE for _ in rows]
    for row, flip in zip(rows, flipped, strict=True):
        if flip:
            row["caption"] = rng.choice([c for c in captions if c != row["caption"]])
    noisy = path.with_name("noisy.jsonl")
    noisy.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return noisy, flipped


def test_capfilt_removes_swapped_captions_and_keeps_clean_ones(uu_run, tmp_path):
    clip_dir = uu_run["model_dir"]
    clip = OpenClipModel(model=f"local-dir:{clip_dir}", disk_cache=False)
    calib = make_shapes_dataset(200, seed=11, n_objects=1)
    cos = np.sum(clip.embed_images([s.image for s in calib]) * clip.embed_texts([s.caption for s in calib]), 1)
    threshold = float(np.quantile(cos, 0.05))  # 95% of held-out clean pairs pass
    noisy, flipped = _noisy(tmp_path)
    graph = load_graph_text(
        "inputs: {image: image, caption: str}\n"
        f"models:\n  clip: {{backend: open_clip, model: 'local-dir:{clip_dir}', disk_cache: false}}\n"
        f"nodes:\n  f: {{type: filter.captions, model: clip, threshold: {threshold}, image: '${{inputs.image}}',"
        " web: '${inputs.caption}', synthetic: []}\n"
        "outputs: {image: '${inputs.image}', captions: '${f.kept}'}\n", "capfilt.yaml")
    out = tmp_path / "kept.jsonl"
    summary = RowRunner(graph, concurrency=8).run(noisy, out)
    recs = sorted((json.loads(x) for x in out.read_text().splitlines()), key=lambda r: r["index"])
    removed = ["dropped" in r for r in recs]
    assert sum(summary.dropped.values()) == sum(removed) and summary.failed == 0
    tp = sum(r and f for r, f in zip(removed, flipped, strict=True))
    precision, recall = tp / max(sum(removed), 1), tp / sum(flipped)
    print(f"CapFilt on {len(recs)} rows, {sum(flipped)} swapped: removed {sum(removed)}, "
          f"precision {precision:.3f}, recall {recall:.3f} (threshold {threshold:.3f})")
    assert precision >= 0.75 and recall >= 0.9  # bench_capfilt (800 rows, 90% kept): 0.766 / 1.000
    # what survives is training data: image and caption read through dotted columns
    pairs = read_captions(out, image_column="outputs.image", caption_column="outputs.captions")
    assert len(pairs) == len(recs) - sum(removed)
