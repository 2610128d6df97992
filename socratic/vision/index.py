"""An in-memory image index for retrieval: unit-norm embeddings + ids, exact cosine search.

Saved as a folder: ``embeddings.npy`` (float32 ``[N, D]``) and ``ids.json`` (ids and the model
name), so an index built once is reused across runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SocraticError
from .clip_base import ImageLike, l2_normalize
from .lazy import np

if TYPE_CHECKING:
    from .clip_base import ClipModel


def _default_id(image: Any, i: int) -> str:
    path = getattr(image, "path", None)
    if path is None and isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
    return str(path) if path is not None else str(i)


class ImageIndex:
    """Image embeddings with ids; ``search`` returns the nearest ids by cosine similarity.

    Example:
        >>> index = ImageIndex(np.eye(3, dtype=np.float32), ["a.jpg", "b.jpg", "c.jpg"])
        >>> [(i, round(s, 3)) for i, s in index.search(np.array([0.1, 1.0, 0.0]), k=2)]
        [('b.jpg', 0.995), ('a.jpg', 0.1)]

        With a CLIP model: ``index = ImageIndex.build(clip, paths)`` then
        ``index.search(clip.embed_text("a dog on a beach"), k=5)``; ``index.save("idx/")`` and
        ``ImageIndex.load("idx/")``.
    """

    def __init__(
        self, embeddings: np.ndarray, ids: Sequence[str], model: str = "", *, normalized: bool = False
    ) -> None:
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2:
            raise ValueError(f"embeddings must be 2-D [N, D], got shape {emb.shape}")
        ids = [str(i) for i in ids]
        if len(ids) != emb.shape[0]:
            raise ValueError(f"{len(ids)} ids for {emb.shape[0]} embeddings")
        # re-normalising unit vectors can move the last bit: rows already unit-norm stay as given
        self.embeddings = emb if normalized else l2_normalize(emb)
        self.ids = ids
        self.model = model

    @classmethod
    def build(
        cls,
        clip: ClipModel,
        images: Sequence[ImageLike],
        ids: Sequence[str] | None = None,
    ) -> ImageIndex:
        """Embed ``images`` with ``clip``; ids default to the image paths (else positions)."""
        images = list(images)
        if ids is None:
            ids = [_default_id(im, i) for i, im in enumerate(images)]
        return cls(clip.embed_images(images), ids, model=clip.name)

    def add(self, embeddings: np.ndarray, ids: Sequence[str]) -> None:
        """Append more embeddings (same dimension) and their ids."""
        other = ImageIndex(embeddings, ids)
        if len(self) and other.embeddings.shape[1] != self.embeddings.shape[1]:
            raise ValueError(
                f"dimension {other.embeddings.shape[1]} != index dimension {self.dim}"
            )
        self.embeddings = np.concatenate([self.embeddings, other.embeddings]) if len(self) else (
            other.embeddings
        )
        self.ids.extend(other.ids)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def search(
        self, query_emb: np.ndarray, k: int = 5
    ) -> list[tuple[str, float]] | list[list[tuple[str, float]]]:
        """The ``k`` most similar ids with cosine scores, best first.

        A 1-D query gives one list; a 2-D ``[Q, D]`` query gives one list per row.
        """
        q = np.asarray(query_emb, dtype=np.float32)
        single = q.ndim == 1
        q = l2_normalize(np.atleast_2d(q))
        if q.shape[1] != self.dim:
            raise ValueError(f"query dimension {q.shape[1]} != index dimension {self.dim}")
        scores = q @ self.embeddings.T
        k = max(0, min(k, len(self)))
        results = []
        for row in scores:
            if k < len(row):
                top = np.argpartition(-row, k - 1)[:k] if k else np.array([], dtype=int)
            else:
                top = np.arange(len(row))
            top = top[np.lexsort((top, -row[top]))]  # by score, ties by position
            results.append([(self.ids[i], float(row[i])) for i in top])
        return results[0] if single else results

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``embeddings.npy`` and ``ids.json`` into ``directory`` (created if needed)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "embeddings.npy", self.embeddings)
        meta = {"ids": self.ids, "model": self.model, "dim": self.dim}
        (out / "ids.json").write_text(json.dumps(meta), encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ImageIndex:
        """Read an index written by :meth:`save`."""
        src = Path(directory)
        try:
            emb = np.load(src / "embeddings.npy")
            meta = json.loads((src / "ids.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SocraticError(f"cannot read image index {src}: {exc}") from None
        return cls(emb, meta["ids"], model=meta.get("model", ""), normalized=True)
