"""Interleaved image-text sequences for Flamingo-style training and few-shot episodes.

From the shapes world (:class:`~socratic.adapters.flamingo.config.ShapesEpisodes`): each sequence
has a task (``color`` or ``shape``) and ``images_per_sequence`` single-object images, each
followed by the word naming that attribute (``<image> red</s><image> blue</s>...``). Only the
text shows which attribute the sequence is about, so a query image alone is ambiguous and the
shots before it say what to answer. From files: JSONL rows ``{"images": [...], "texts": [...]}``.

Patch-token features of every distinct image are computed once by the frozen encoder; a sequence
holds the rows of its images.

Example:
    >>> from socratic.adapters.flamingo.config import ShapesEpisodes
    >>> seqs = shapes_sequences(ShapesEpisodes(n_train=4, n_images=8, images_per_sequence=3), 4, 8, seed=0)
    >>> len(seqs), len(seqs[0].rows), seqs[0].task in ("color", "shape")
    (4, 3, True)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from socratic.errors import DataError

from ..common.images import shapes_label
from .config import FlamingoData, ShapesEpisodes

__all__ = ["Episode", "InterleavedSet", "read_interleaved", "shapes_episodes", "shapes_sequences"]


@dataclass
class Episode:
    """One interleaved sequence: rows into an image list, the text after each image, the task."""

    rows: list[int]
    texts: list[str]
    task: str = ""
    attributes: dict[str, list[str]] = field(default_factory=dict)


def _pool(cfg: ShapesEpisodes, n: int, seed: int) -> list[Any]:
    from ..synthetic import make_shapes_dataset

    return make_shapes_dataset(n, seed=seed, image_size=cfg.image_size, n_objects=1)


def shapes_sequences(cfg: ShapesEpisodes, n: int, n_images: int, seed: int) -> list[Episode]:
    """``n`` sequences over a pool of ``n_images`` shapes images of seed ``seed`` (the pool is
    :func:`shapes_pool`); each picks a task and distinct images."""
    pool = _pool(cfg, n_images, seed)
    rng = random.Random(f"flamingo-{seed}")
    k = min(cfg.images_per_sequence, n_images)
    out = []
    for _ in range(n):
        task = rng.choice(cfg.tasks)
        rows = rng.sample(range(n_images), k)
        texts = [shapes_label(pool[r], task) for r in rows]
        out.append(Episode(rows, texts, task))
    return out


def shapes_pool(cfg: ShapesEpisodes, n_images: int, seed: int) -> list[Any]:
    """The PIL images the shapes sequences of ``seed`` draw from."""
    return [s.image for s in _pool(cfg, n_images, seed)]


def shapes_episodes(cfg: ShapesEpisodes, shots: int, seed: int) -> tuple[list[Any], list[Episode]]:
    """Held-out few-shot episodes: ``shots`` shots + a query whose attribute (for the episode's
    task) differs from every shot's, so copying a shot's answer is never right. Returns the
    images and the episodes (the last row / text of each is the query and its answer)."""
    n_images = max(4 * cfg.n_val, 64)
    samples = _pool(cfg, n_images, seed + 1_000_003)
    rng = random.Random(f"flamingo-episodes-{seed}-{shots}")
    episodes = []
    for _ in range(cfg.n_val):
        task = rng.choice(cfg.tasks)
        query = rng.randrange(n_images)
        answer = shapes_label(samples[query], task)
        others = [i for i in range(n_images) if shapes_label(samples[i], task) != answer]
        rows = [*rng.sample(others, shots), query]
        episodes.append(Episode(rows, [shapes_label(samples[r], task) for r in rows], task))
    return [s.image for s in samples], episodes


def read_interleaved(path: str, image_root: str | None = None) -> tuple[list[str], list[Episode]]:
    """JSONL rows ``{"images": [paths], "texts": [one text per image]}`` -> (distinct image
    paths, sequences)."""
    import os

    from socratic.datasets import iter_records

    images: dict[str, int] = {}
    out = []
    base = image_root or os.path.dirname(os.path.abspath(path))
    for row in iter_records(path, "jsonl", resolve=()):
        paths, texts = row.get("images"), row.get("texts")  # type: ignore[union-attr]
        if (
            not isinstance(paths, list)
            or not isinstance(texts, list)
            or len(paths) != len(texts)
            or not paths
        ):
            raise DataError(
                "expected 'images' and 'texts': lists of the same, non-zero length",
                file=path,
                line=getattr(row, "line", None),
            )
        rows = [images.setdefault(os.path.join(base, str(p)), len(images)) for p in paths]
        out.append(Episode(rows, [str(t) for t in texts]))
    if not out:
        raise DataError("no sequences", file=path)
    return list(images), out


class InterleavedSet:
    """Training items ``{"media": [T_img, N, W], "texts"}`` from sequences and image features.

    Example:
        >>> ds = InterleavedSet([Episode([0, 1], ["red", "blue"])], np.zeros((2, 4, 8), np.float32))
        >>> ds[0]["media"].shape, ds[0]["texts"]
        ((2, 4, 8), ['red', 'blue'])
    """

    def __init__(self, sequences: list[Episode], features: np.ndarray) -> None:
        self.sequences, self.features = sequences, features

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> dict[str, Any]:
        seq = self.sequences[i]
        return {"media": np.asarray(self.features[seq.rows]), "texts": list(seq.texts)}


def training_sequences(data: FlamingoData, seed: int) -> tuple[list[Any], list[Episode]]:
    """(images, sequences) for training: shapes pool images, or JSONL file paths."""
    if data.source == "shapes":
        s = data.shapes
        return shapes_pool(s, s.n_images, s.seed), shapes_sequences(s, s.n_train, s.n_images, s.seed)
    assert data.train is not None
    return read_interleaved(data.train, data.image_root)
