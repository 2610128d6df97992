"""Seeded synthetic captioning data whose answer is known: coloured shapes in positions.

Each image holds one or two shapes (circle, square, triangle) in one of four colours on a light
background; the caption is an exact, canonical description of what was drawn, so a captioner can
be scored by exact match. With two objects the first named is always the one above (vertical
layout) or to the left (horizontal layout), so every image has exactly one correct caption:
``"a red circle above a blue square"``, ``"a green triangle left of a yellow circle"``.

The same seed always gives the same images and captions (on any machine): the generator uses
only :class:`random.Random` and PIL drawing.

Example:
    >>> samples = make_shapes_dataset(4, seed=0)
    >>> len(samples), samples[0].image.size
    (4, (32, 32))
    >>> samples[0].caption == make_shapes_dataset(4, seed=0)[0].caption
    True
    >>> describe(samples[0].objects, samples[0].relation) == samples[0].caption
    True
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "COLORS",
    "RELATIONS",
    "SHAPES",
    "ShapeObject",
    "ShapeSample",
    "all_captions",
    "describe",
    "make_shapes_dataset",
    "make_shapes_splits",
    "write_shapes_jsonl",
]

#: colour name -> RGB; far apart so that tiny encoders tell them apart
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 225),
    "yellow": (235, 205, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
#: canonical relations: the first object named is above / left of the second
RELATIONS: tuple[str, ...] = ("above", "left of")


@dataclass(frozen=True)
class ShapeObject:
    """One drawn shape: colour, kind and its box ``(x0, y0, x1, y1)`` in pixels."""

    color: str
    shape: str
    box: tuple[int, int, int, int]

    @property
    def phrase(self) -> str:
        return f"a {self.color} {self.shape}"


@dataclass
class ShapeSample:
    """A synthetic image with its exact caption and the attributes that produced it.

    Example:
        >>> s = make_shapes_dataset(1, seed=3, n_objects=1)[0]
        >>> s.caption == s.objects[0].phrase
        True
    """

    image: Any  # PIL.Image.Image
    caption: str
    objects: list[ShapeObject]
    relation: str | None = None
    index: int = 0
    attributes: dict[str, Any] = field(default_factory=dict)


def describe(objects: Sequence[ShapeObject], relation: str | None) -> str:
    """The canonical caption of a list of objects (first object above / left of the second)."""
    if len(objects) == 1:
        return objects[0].phrase
    return f"{objects[0].phrase} {relation} {objects[1].phrase}"


def all_captions(n_objects: int = 2) -> list[str]:
    """Every caption the generator can produce (for tokenizer or language-model training)."""
    kinds = [(c, s) for c in COLORS for s in SHAPES]
    if n_objects == 1:
        return [f"a {c} {s}" for c, s in kinds]
    out = []
    for rel in RELATIONS:
        for a in kinds:
            for b in kinds:
                if a != b:
                    out.append(f"a {a[0]} {a[1]} {rel} a {b[0]} {b[1]}")
    return out


def _draw(draw: Any, obj: ShapeObject) -> None:
    x0, y0, x1, y1 = obj.box
    fill = COLORS[obj.color]
    if obj.shape == "circle":
        draw.ellipse(obj.box, fill=fill)
    elif obj.shape == "square":
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)
    else:
        draw.polygon([((x0 + x1) / 2, y0), (x1 - 1, y1 - 1), (x0, y1 - 1)], fill=fill)


def _sample(rng: random.Random, index: int, image_size: int, n_objects: int) -> ShapeSample:
    from PIL import Image, ImageDraw

    bg = tuple(rng.randint(225, 250) for _ in range(3))
    img = Image.new("RGB", (image_size, image_size), bg)
    draw = ImageDraw.Draw(img)
    kinds = [(c, s) for c in COLORS for s in SHAPES]
    picked = rng.sample(kinds, n_objects)
    half = image_size // 2
    size_lo, size_hi = int(image_size * 0.34), int(image_size * 0.45)
    objects: list[ShapeObject] = []
    relation = None
    if n_objects == 1:
        s = rng.randint(size_lo, int(image_size * 0.6))
        x, y = rng.randint(0, image_size - s), rng.randint(0, image_size - s)
        objects.append(ShapeObject(picked[0][0], picked[0][1], (x, y, x + s, y + s)))
    else:
        relation = rng.choice(RELATIONS)
        for k, (color, shape) in enumerate(picked):
            s = rng.randint(size_lo, size_hi)
            if relation == "above":  # object 0 in the top half, object 1 in the bottom half
                x = rng.randint(0, image_size - s)
                y = rng.randint(k * half, k * half + half - s)
            else:  # object 0 in the left half, object 1 in the right half
                x = rng.randint(k * half, k * half + half - s)
                y = rng.randint(0, image_size - s)
            objects.append(ShapeObject(color, shape, (x, y, x + s, y + s)))
    for obj in objects:
        _draw(draw, obj)
    caption = describe(objects, relation)
    attrs = {"colors": [o.color for o in objects], "shapes": [o.shape for o in objects]}
    return ShapeSample(img, caption, objects, relation, index, attrs)


def make_shapes_dataset(
    n: int,
    seed: int = 0,
    image_size: int = 32,
    *,
    n_objects: int = 2,
    out_dir: str | os.PathLike[str] | None = None,
) -> list[ShapeSample]:
    """Generate ``n`` images of coloured shapes with exact captions (deterministic per seed).

    ``n_objects`` is 1 or 2; ``image_size`` any size >= 16 (32 and 64 are the usual ones). With
    ``out_dir`` the images and a ``captions.jsonl`` are also written there
    (see :func:`write_shapes_jsonl`).
    """
    if n_objects not in (1, 2):
        raise ValueError(f"n_objects must be 1 or 2, got {n_objects}")
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16, got {image_size}")
    rng = random.Random(f"shapes-{seed}-{image_size}-{n_objects}")
    samples = [_sample(rng, i, image_size, n_objects) for i in range(n)]
    if out_dir is not None:
        write_shapes_jsonl(samples, out_dir)
    return samples


def make_shapes_splits(
    n_train: int, n_test: int, seed: int = 0, image_size: int = 32, *, n_objects: int = 2
) -> tuple[list[ShapeSample], list[ShapeSample]]:
    """Train and held-out splits drawn from independent seeds (no image is shared)."""
    train = make_shapes_dataset(n_train, seed=seed, image_size=image_size, n_objects=n_objects)
    test = make_shapes_dataset(
        n_test, seed=seed + 1_000_003, image_size=image_size, n_objects=n_objects
    )
    return train, test


def write_shapes_jsonl(
    samples: Iterable[ShapeSample],
    out_dir: str | os.PathLike[str],
    name: str = "captions.jsonl",
    *,
    prefix: str = "img",
) -> Path:
    """Write the images as PNG files and one ``{"image", "caption"}`` line each; returns the
    JSONL path. Image paths in the file are relative to the JSONL file's folder."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    path = out / name
    with open(path, "w", encoding="utf-8") as f:
        for k, s in enumerate(samples):
            rel = f"images/{prefix}{k:06d}.png"
            s.image.save(out / rel)
            f.write(json.dumps({"image": rel, "caption": s.caption}) + "\n")
    return path
