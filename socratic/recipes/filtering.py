"""Filtering image-text data the way web-scale datasets were cleaned (ALIGN, LAION, Conceptual
Captions) and BLIP's CapFilt caption bootstrapping, as graph nodes.

A filter node passes its row on, or drops it with a reason (:class:`~socratic.errors.RowDropped`):
over ``socratic run --data``, a dropped row is written as ``{"index", ..., "dropped": reason}``
and the summary counts rows per reason. The filters:

- ``filter.clip_score``: the image-text cosine of a CLIP model at least ``threshold``. The
  threshold belongs to the model: LAION-400M kept pairs with a ViT-B/32 cosine of at least 0.3,
  LAION-5B 0.28 for English (ViT-B/32) — another model needs its own value.
- ``filter.text``: language-agnostic rules on the caption: word count, the share of its most
  repeated word, the share of letters among its characters, and captions that are just a URL.
- ``filter.image``: image size and aspect ratio (read from the file header, not decoded).
- ``filter.dedup``: exact duplicates by a hash of the decoded pixels, or near duplicates by
  embedding cosine; keeps the first it sees (stateful: one process; over several workers, dedup
  the merged output again).
- ``filter.captions`` (CapFilt, Li et al. 2022 BLIP): a web caption and synthetic captions
  (from a captioner sampling several, nucleus sampling) scored against the image by an
  image-text model — a CLIP (ITC cosine) or an image-text-matching head (``hf_itm``: BLIP's ITM
  probability) — keeping those at least ``threshold``; a row with none left is dropped.

Example:
    >>> TextFilter(min_words=3).run(text="a red circle")
    {'text': 'a red circle'}
    >>> TextFilter(min_words=3).run(text="circle")
    Traceback (most recent call last):
    socratic.errors.RowDropped: filter.text: 1 words (at least 3)
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import TYPE_CHECKING, Any, Literal

from ..errors import RowDropped
from ..node import Node
from ..nodes.clip import ImageNode
from ..types import Image
from ..vision.lazy import np

if TYPE_CHECKING:
    from ..models import ModelBackend
    from ..vision.clip_base import ClipModel

_URL = re.compile(r"^\s*(https?://|www\.)\S+\s*$", re.IGNORECASE)


class ClipScoreFilter(ImageNode):
    """``filter.clip_score``: keep the row when CLIP's image-text cosine is at least
    ``threshold`` (LAION-400M: 0.3 with ViT-B/32; LAION-5B English: 0.28).

    Example:
        >>> ClipScoreFilter.outputs
        {'score': <class 'float'>, 'text': <class 'str'>}
    """

    outputs = {"score": float, "text": str}

    def __init__(self, model: ClipModel, threshold: float, batch_size: int | None = None) -> None:
        self.model, self.threshold, self.batch_size = model, threshold, batch_size

    def run(self, image: Image, text: str) -> dict[str, Any]:  # type: ignore[override]
        return super().run(image=image, text=text)

    def score(self, images: np.ndarray, calls: list[dict[str, Any]]) -> list[Any]:
        texts = self.model.embed_texts([c["text"] for c in calls])
        out: list[Any] = []
        for img, txt, call in zip(images, texts, calls, strict=True):
            score = float(img @ txt)
            out.append({"score": score, "text": call["text"]} if score >= self.threshold else
                       RowDropped(f"filter.clip_score: {score:.3f} < {self.threshold}"))
        return out


class TextFilter(Node):
    """``filter.text``: language-agnostic caption rules (see the module docstring).

    Example:
        >>> TextFilter(max_repeat=0.5).run(text="buy buy buy buy now")
        Traceback (most recent call last):
        socratic.errors.RowDropped: filter.text: 'buy' is 80% of the words (at most 50%)
    """

    outputs = {"text": str}

    def __init__(self, min_words: int = 2, max_words: int = 100, max_repeat: float = 0.5,
                 min_letters: float = 0.5) -> None:
        self.min_words, self.max_words = min_words, max_words
        self.max_repeat, self.min_letters = max_repeat, min_letters

    def run(self, text: str) -> dict[str, Any]:
        words = text.split()
        if _URL.match(text):
            raise RowDropped("filter.text: the caption is a URL")
        if len(words) < self.min_words:
            raise RowDropped(f"filter.text: {len(words)} words (at least {self.min_words})")
        if len(words) > self.max_words:
            raise RowDropped(f"filter.text: {len(words)} words (at most {self.max_words})")
        lowered = [w.lower() for w in words]
        common = max(sorted(set(lowered)), key=lowered.count)
        count = lowered.count(common)
        if len(words) > 2 and count / len(words) > self.max_repeat:
            raise RowDropped(f"filter.text: '{common}' is {count / len(words):.0%} of the words"
                             f" (at most {self.max_repeat:.0%})")
        chars = [c for c in text if not c.isspace()]
        letters = sum(c.isalpha() for c in chars) / max(len(chars), 1)
        if letters < self.min_letters:
            raise RowDropped(f"filter.text: {letters:.0%} letters (at least {self.min_letters:.0%})")
        return {"text": text}


class ImageFilter(Node):
    """``filter.image``: keep images whose shorter side is at least ``min_side`` pixels and whose
    aspect ratio (long / short side) is at most ``max_aspect`` (the size comes from the file
    header: nothing is decoded).

    Example:
        >>> ImageFilter.outputs
        {'image': <class 'socratic.types.Image'>, 'width': <class 'int'>, 'height': <class 'int'>}
    """

    outputs = {"image": Image, "width": int, "height": int}

    def __init__(self, min_side: int = 64, max_aspect: float = 3.0) -> None:
        self.min_side, self.max_aspect = min_side, max_aspect

    def run(self, image: Image) -> dict[str, Any]:
        width, height = _size(image)
        if min(width, height) < self.min_side:
            raise RowDropped(f"filter.image: {width}x{height} (shorter side at least {self.min_side})")
        if max(width, height) / max(min(width, height), 1) > self.max_aspect:
            raise RowDropped(f"filter.image: aspect {max(width, height) / min(width, height):.1f}"
                             f" (at most {self.max_aspect})")
        return {"image": image, "width": width, "height": height}


class Deduplicate(Node):
    """``filter.dedup``: drop a row whose image was seen before — the same pixels
    (``by: pixels``, a SHA-256 of the decoded RGB image) or an embedding with cosine at least
    ``threshold`` to a kept one (``by: embedding``, give ``embedding``: e.g. from
    ``clip.embed_image``). Keeps the first it sees; state lives in this node (one process).

    Example:
        >>> d = Deduplicate(by="embedding", threshold=0.99)
        >>> d.run(image=None, embedding=[1.0, 0.0])["key"]
        'row 0'
        >>> d.run(image=None, embedding=[1.0, 0.001])
        Traceback (most recent call last):
        socratic.errors.RowDropped: filter.dedup: near duplicate (cosine 1.000) of row 0
    """

    outputs = {"key": str}

    def __init__(self, by: Literal["pixels", "embedding"] = "pixels", threshold: float = 0.95) -> None:
        self.by, self.threshold = by, threshold
        self._lock = threading.Lock()
        self._hashes: dict[str, str] = {}
        self._kept: list[Any] = []

    def run(self, image: Image | None, embedding: Any = None) -> dict[str, Any]:
        with self._lock:
            key = f"row {len(self._hashes) + len(self._kept)}"
            if self.by == "pixels":
                pil = image.pil().convert("RGB") if image is not None else None
                digest = hashlib.sha256(pil.tobytes() + repr(pil.size).encode()).hexdigest() if pil else ""
                if digest in self._hashes:
                    raise RowDropped(f"filter.dedup: the same pixels as {self._hashes[digest]}")
                self._hashes[digest] = key = getattr(image, "path", None) or key
                return {"key": key}
            vec = np.asarray(getattr(embedding, "vector", embedding), dtype=np.float32)
            vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
            for other, name in self._kept:
                cos = float(vec @ other)
                if cos >= self.threshold:
                    raise RowDropped(f"filter.dedup: near duplicate (cosine {cos:.3f}) of {name}")
            self._kept.append((vec, key))
            return {"key": key}


class CapFilt(Node):
    """``filter.captions``: BLIP's CapFilt filter. The web caption (optional) and the synthetic
    captions are scored against the image by ``model`` — a CLIP (cosine) or an ITM head
    (``hf_itm``: match probability) — and those with a score of at least ``threshold`` are kept.

    Example:
        >>> sorted(CapFilt.outputs)
        ['candidates', 'kept', 'scores']
    """

    model_kind = "image_text"
    batchable = True
    blocking = True
    outputs = {"kept": list[str], "candidates": list[str], "scores": list[float]}

    def __init__(self, model: ModelBackend, threshold: float, batch_size: int | None = None) -> None:
        self.model, self.threshold, self.batch_size = model, threshold, batch_size

    def run(self, image: Image, synthetic: list[str], web: str | None = None) -> dict[str, Any]:
        result = self.run_batch([{"image": image, "synthetic": synthetic, "web": web}])[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def run_batch(self, calls: list[dict[str, Any]]) -> list[Any]:
        candidates = [_unique([c.get("web") or "", *c["synthetic"]]) for c in calls]
        scores = self.model.match_scores([c["image"] for c in calls], candidates)  # type: ignore[attr-defined]
        out: list[Any] = []
        for cands, row in zip(candidates, scores, strict=True):
            kept = [t for t, s in zip(cands, row, strict=True) if s >= self.threshold]
            out.append({"kept": kept, "candidates": cands, "scores": [float(s) for s in row]} if kept else
                       RowDropped(f"filter.captions: no caption scored {self.threshold} or more"))
        return out


def _size(image: Image) -> tuple[int, int]:
    """(width, height) from the file header (PIL opens lazily), or of an in-memory image."""
    if image.path is None or ".tar#" in image.path:  # in memory, or a WebDataset sample
        return image.pil().size
    from PIL import Image as PILImage

    from ..errors import SocraticError

    try:
        with PILImage.open(image.path) as im:
            return im.size
    except (OSError, ValueError) as exc:
        raise SocraticError(f"cannot read image {image.path}: {exc}") from None


def _unique(texts: list[str]) -> list[str]:
    seen: set[str] = set()
    return [t.strip() for t in texts if t.strip() and not (t.strip() in seen or seen.add(t.strip()))]
