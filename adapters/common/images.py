"""Labelled images for the vision tasks (PGN classification, MAE pretraining and its linear probe,
Flamingo's episodes): the seeded shapes world (``socratic.adapters.synthetic``) with a label read
from what was drawn, or files read by :mod:`socratic.datasets` (JSONL / CSV ``{image, label}``
rows, or an image folder ``root/<label>/<files>``).

Shapes labels: ``color`` (4 classes), ``shape`` (3), ``color_shape`` (12, e.g. ``"red circle"``),
``relation`` (2, two-object images) and ``caption`` (the whole caption). Importing this module does
not import torch.

Example:
    >>> train, val = load_labelled(ImageSource(shapes={"n_train": 8, "n_val": 4}))
    >>> len(train.images), len(val.images), train.classes[:2]
    (8, 4, ['blue square', 'green circle'])
    >>> train.names()[0] == train.classes[train.labels[0]]
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from socratic.errors import DataError

__all__ = ["ImageSource", "LabelledImages", "ShapesImages", "load_labelled", "open_rgb", "shapes_label"]

SHAPES_LABELS = ("color", "shape", "color_shape", "relation", "caption")


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", protected_namespaces=(), validate_assignment=True, defer_build=True
    )


class ShapesImages(_Model):
    """The synthetic shapes: ``n_train`` / ``n_val`` images from independent seeds."""

    n_train: int = Field(1000, ge=1)
    n_val: int = Field(200, ge=1)
    n_objects: Literal[1, 2] = 1
    image_size: int = Field(32, ge=16)
    seed: int = 0


class ImageSource(_Model):
    """Where labelled images come from: ``source: shapes`` (label = ``color``, ``shape``,
    ``color_shape``, ``relation`` or ``caption``) or ``jsonl`` / ``csv`` files and ``images``
    folders (``train`` / ``val``; ``label`` names the label column; image paths relative to
    ``image_root``, default the file's folder).

    Example:
        >>> ImageSource(source="jsonl", train="t.jsonl", label="species").val is None
        True
    """

    source: Literal["shapes", "jsonl", "csv", "images"] = "shapes"
    train: str | None = None
    val: str | None = None
    image_root: str | None = None
    image_column: str = "image"
    label: str = "color_shape"
    shapes: ShapesImages = Field(default_factory=ShapesImages)
    max_samples: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> ImageSource:
        if self.source == "shapes":
            if self.label not in SHAPES_LABELS:
                raise ValueError(f"label '{self.label}' is not a shapes label ({', '.join(SHAPES_LABELS)})")
            if self.label == "relation" and self.shapes.n_objects != 2:
                raise ValueError("label 'relation' needs shapes.n_objects: 2")
        elif not self.train:
            raise ValueError(f"train is required with source: {self.source}")
        return self


@dataclass
class LabelledImages:
    """Images (PIL images or paths) with integer labels into ``classes``."""

    images: list[Any]
    labels: list[int]
    classes: list[str]

    def names(self) -> list[str]:
        return [self.classes[i] for i in self.labels]

    def pil(self, i: int) -> Any:
        """Image ``i`` as an RGB PIL image (opened from its path when it is one)."""
        return open_rgb(self.images[i])


def open_rgb(image: Any) -> Any:
    """An RGB PIL image from a path (read now) or from a PIL image."""
    if isinstance(image, str):
        from PIL import Image

        with Image.open(image) as im:
            return im.convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def shapes_label(sample: Any, label: str) -> str:
    """The label ``label`` of a shapes sample (see the module docstring).

    Example:
        >>> from socratic.adapters.synthetic import make_shapes_dataset
        >>> s = make_shapes_dataset(1, seed=3, n_objects=1)[0]
        >>> shapes_label(s, "color_shape") == s.caption.removeprefix("a ")
        True
    """
    first = sample.objects[0]
    if label == "color":
        return first.color
    if label == "shape":
        return first.shape
    if label == "color_shape":
        return f"{first.color} {first.shape}"
    if label == "relation":
        return str(sample.relation)
    return str(sample.caption)


def _from_samples(samples: list[Any], label: str, classes: list[str] | None) -> LabelledImages:
    names = [shapes_label(s, label) for s in samples]
    classes = classes or sorted(set(names))
    return LabelledImages(
        [s.image for s in samples], [classes.index(n) if n in classes else -1 for n in names], classes
    )


def _from_file(src: ImageSource, path: str, classes: list[str] | None) -> LabelledImages:
    from socratic.datasets import iter_records

    fmt = "auto" if src.source != "images" else "images"
    images, names = [], []
    for row in iter_records(path, fmt, resolve=(src.image_column,), image_root=src.image_root):
        if src.image_column not in row or src.label not in row:  # type: ignore[operator]
            raise DataError(
                f"expected columns '{src.image_column}' and '{src.label}'",
                file=path,
                line=getattr(row, "line", None),
            )
        images.append(str(row[src.image_column]))  # type: ignore[index]
        names.append(str(row[src.label]))  # type: ignore[index]
        if src.max_samples and len(images) >= src.max_samples:
            break
    if not images:
        raise DataError("no labelled images", file=path)
    classes = classes or sorted(set(names))
    return LabelledImages(images, [classes.index(n) if n in classes else -1 for n in names], classes)


def load_labelled(src: ImageSource) -> tuple[LabelledImages, LabelledImages | None]:
    """``(train, val)`` of ``src``; the validation set uses the training set's classes (a label
    the training set never saw gets -1)."""
    if src.source == "shapes":
        from ..synthetic import make_shapes_splits

        s = src.shapes
        train_s, val_s = make_shapes_splits(
            s.n_train, s.n_val, seed=s.seed, image_size=s.image_size, n_objects=s.n_objects
        )
        if src.max_samples:
            train_s = train_s[: src.max_samples]
        train = _from_samples(train_s, src.label, None)
        return train, _from_samples(val_s, src.label, train.classes)
    assert src.train is not None
    train = _from_file(src, src.train, None)
    val = _from_file(src, src.val, train.classes) if src.val else None
    return train, val
