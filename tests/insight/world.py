"""The tuning world: single shapes whose classes have names the CLIP never read ("fire engine"),
a noisy descriptor file (what an LLM writes: some descriptors a picture cannot show, some that
point at the wrong colour), and a descriptor-classification graph with a tune: section."""

from __future__ import annotations

import json
from pathlib import Path

from socratic.demo.world import UNSEEN, noisy_descriptors

NOISY = noisy_descriptors()

GRAPH = """\
name: unseen-descriptors
inputs:
  image: image
models:
  clip: {backend: shapes_clip, model: shapes, disk_cache: false}
nodes:
  load:
    type: descriptors.load
    path: ./descriptors.json
  classify:
    type: clip.descriptor_classify
    model: clip
    templates: ["a {}"]
    image: ${inputs.image}
    classes: ${load.classes}
    descriptors: ${load.descriptors}
outputs:
  label: ${classify.label}
  baseline_label: ${classify.baseline_label}
  random_label: ${classify.random_label}
  ensemble_label: ${classify.ensemble_label}
tune:
  target: label
  metric: accuracy
  seed: 0
  knobs:
    - {kind: descriptors, node: load, min_keep: 1}
    - {kind: choice, path: nodes.classify.aggregate, values: [mean, max]}
"""


def write_world(folder: Path, n_train: int = 60, n_dev: int = 60) -> Path:
    """Images, train/dev JSONL (image, label) and the graph; returns the graph's path."""
    from socratic.adapters.synthetic import make_shapes_dataset

    folder.mkdir(parents=True, exist_ok=True)
    by_kind = {kind: name for name, kind in UNSEEN.items()}
    for split, seed, n in (("train", 0, n_train), ("dev", 1, n_dev)):
        rows = []
        for i, s in enumerate(make_shapes_dataset(6 * n, seed=seed, n_objects=1)):
            kind = (s.objects[0].color, s.objects[0].shape)
            if kind in by_kind and len(rows) < n:
                path = folder / "images" / f"{split}{i}.png"
                path.parent.mkdir(exist_ok=True)
                s.image.save(path)
                rows.append({"image": f"images/{path.name}", "label": by_kind[kind]})
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "descriptors.json").write_text(json.dumps(NOISY, indent=1))
    graph = folder / "graph.yaml"
    graph.write_text(GRAPH)
    return graph


def register() -> None:
    """Register the hand-made CLIP as backend ``shapes_clip`` (undo with :func:`unregister`, so
    that no other test sees it in the backend list)."""
    from socratic.models import register_backend

    from .shapes_clip import ShapesClip

    register_backend("shapes_clip", "clip", ShapesClip)


def unregister() -> None:
    from socratic.models import _BACKENDS

    _BACKENDS.pop("shapes_clip", None)
