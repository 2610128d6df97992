"""Retrieval: text -> image and composed queries over an image collection; image -> text is
``clip.rank`` over candidate texts.

``retrieval.search`` embeds its image collection once (a folder, searched recursively, or a
JSONL file of ``{"image": path}`` rows), optionally keeping the index on disk (``index_dir``),
and returns the nearest images for a query embedding: from ``clip.embed_text`` (text ->
image) or from ``clip.compose`` (image + text, the lecture's "Eiffel tower + snow").

Example (YAML):
    query: {type: clip.embed_text, model: clip, text: "${inputs.text}"}
    search: {type: retrieval.search, model: clip, images: photos/, k: 5, query: "${query.embedding}"}
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SocraticError
from ..node import Node
from ..types import Embedding, Image
from ..vision.lazy import np

if TYPE_CHECKING:
    from ..vision.clip_base import ClipModel

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def collection_paths(source: str) -> list[str]:
    """Image paths of a folder (recursive, sorted) or of a JSONL file's ``image`` fields."""
    p = Path(source)
    if p.is_dir():
        paths = sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    elif p.is_file():
        from ..eval.readers import read_jsonl

        paths = [str(row["image"]) for row in read_jsonl(p)]
    else:
        raise SocraticError(f"image collection not found: {source}")
    if not paths:
        raise SocraticError(f"no images in {source}")
    return paths


class Search(Node):
    """``retrieval.search``: the ``k`` nearest images of the collection for a query embedding.

    Example:
        >>> sorted(Search.outputs)
        ['images', 'scores']
    """

    model_kind = "clip"
    blocking = True
    outputs = {"images": list[Image], "scores": list[float]}

    def __init__(self, model: ClipModel, images: str, k: int = 5, index_dir: str | None = None) -> None:
        self.model = model
        self.images = images
        self.k = k
        self.index_dir = index_dir
        self._index: Any = None
        self._lock = threading.Lock()

    def index(self) -> Any:
        """Build (or load from ``index_dir``) the collection's index, once."""
        from ..vision.index import ImageIndex

        with self._lock:
            if self._index is None:
                saved = Path(self.index_dir) if self.index_dir else None
                if saved is not None and (saved / "ids.json").exists():
                    index = ImageIndex.load(saved)
                    if index.model and index.model != self.model.name:
                        raise SocraticError(
                            f"index {saved} was built with {index.model}, not {self.model.name}"
                        )
                else:
                    index = ImageIndex.build(self.model, collection_paths(self.images))
                    if saved is not None:
                        index.save(saved)
                self._index = index
            return self._index

    def run(self, query: Embedding) -> dict[str, Any]:
        hits = self.index().search(np.asarray(query.vector, dtype=np.float32), k=self.k)
        return {"images": [Image(h[0]) for h in hits], "scores": [h[1] for h in hits]}
