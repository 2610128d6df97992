"""The CLIP scorer interface: image / text embeddings, cosine scores, zero-shot probabilities.

Every CLIP-like backend (open_clip, Hugging Face CLIP / SigLIP) implements four small hooks
(:meth:`ClipModel._encode_images`, :meth:`ClipModel._encode_texts`, :meth:`ClipModel._scale`,
:meth:`ClipModel._bias`); this base class adds batching, L2 normalisation, the text-embedding
cache (in memory, and optionally on disk through :mod:`socratic.cache`), template ensembling,
ranking and zero-shot classification, identically for all of them.

All arrays returned are float32 numpy arrays whose rows have unit L2 norm, so a dot product is a
cosine similarity.

Example (a fake backend, to show the interface without weights):
    >>> import numpy as np
    >>> class Fake(ClipModel):
    ...     backend = "fake"
    ...     def _encode_texts(self, texts):
    ...         return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
    >>> clip = Fake(model="fake", disk_cache=False)
    >>> clip.embed_texts(["ab", "ab"]).shape
    (2, 2)
    >>> clip.texts_encoded  # the duplicate was encoded once
    1
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Union

from pydantic import Field

from ..cache import request_key
from ..models import BackendConfig, ModelBackend
from ..types import Image
from .lazy import np

ImageLike = Union[Image, str, "os.PathLike[str]", Any]
"""An :class:`~socratic.types.Image`, a path, or a ``PIL.Image.Image``."""

DEFAULT_TEMPLATES: tuple[str, ...] = ("a photo of a {}.",)
TEXT_EMBEDDING_NAMESPACE = "text-embedding"
Precision = Literal["fp32", "fp16", "bf16"]


class ClipConfig(BackendConfig):
    """Options shared by every CLIP backend."""

    model: str = Field(description="architecture name, hub id or local directory")
    device: str | None = Field(None, description="'cpu', 'cuda', 'cuda:1'; default: cuda if any")
    precision: Precision = Field("fp32", description="fp16 / bf16 are meant for GPUs")
    batch_size: int = Field(64, ge=1, description="images or texts per forward pass")
    disk_cache: bool = Field(True, description="keep text embeddings in the on-disk cache")


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, as float32 (a zero row stays zero).

    Example:
        >>> l2_normalize(np.array([[3.0, 4.0]])).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32, copy=False)


def encode_vector(v: np.ndarray) -> str:
    """A float32 vector as base64 text (what the disk cache stores)."""
    return base64.b64encode(np.ascontiguousarray(v, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    """Inverse of :func:`encode_vector`."""
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)


def to_pil(image: ImageLike) -> Any:
    """Read one image as RGB PIL; a bad or missing file raises SocraticError naming it."""
    return Image.from_value(image).pil()


class ClipModel(ModelBackend):
    """Base class of CLIP scorer backends (``kind = "clip"``).

    Subclasses implement ``_load`` and the hooks ``_encode_images(pil_images)`` and
    ``_encode_texts(texts)`` (raw features, any scale) plus ``_scale()`` / ``_bias()`` (the
    learned logit scale and, for sigmoid models such as SigLIP, the logit bias), and
    ``cache_identity()`` (a stable name of the weights, or None to keep the disk cache off).

    Example:
        >>> from socratic.models import build_backend
        >>> clip = build_backend({"backend": "open_clip", "model": "ViT-B-32",
        ...                       "pretrained": "laion2b_s34b_b79k"})
        >>> clip.kind, clip.loaded
        ('clip', False)

        then ``clip.zero_shot(images, ["cat", "dog"])`` gives an ``[N, 2]`` probability array and
        ``clip.rank_texts(image, captions, top_k=3)`` the best captions with their cosines.
    """

    kind: ClassVar[str] = "clip"
    Config: ClassVar[type[BackendConfig]] = ClipConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._text_memory: dict[str, np.ndarray] = {}
        self._text_lock = threading.Lock()
        #: how many texts this instance has run through the text encoder (cache misses)
        self.texts_encoded = 0
        #: how many images this instance has run through the image encoder
        self.images_encoded = 0

    # ------------------------------------------------------------------ hooks
    def _encode_images(self, images: list[Any]) -> np.ndarray:  # pragma: no cover
        """Raw image features ``[len(images), D]`` for a batch of RGB PIL images."""
        raise NotImplementedError

    def _encode_texts(self, texts: list[str]) -> np.ndarray:  # pragma: no cover
        """Raw text features ``[len(texts), D]`` for a batch of strings."""
        raise NotImplementedError

    def _scale(self) -> float:
        """The learned logit scale (already exponentiated), e.g. 100 for OpenAI CLIP."""
        return 100.0

    def _bias(self) -> float | None:
        """The learned logit bias of sigmoid-trained models (SigLIP); None for softmax CLIP."""
        return None

    def cache_identity(self) -> str | None:
        """A stable identity of the weights for the disk cache; None disables disk caching."""
        return None

    # ------------------------------------------------------------------ properties
    @property
    def logit_scale(self) -> float:
        """The model's learned temperature: logits = ``logit_scale * cosine (+ logit_bias)``."""
        return float(self._scale())

    @property
    def logit_bias(self) -> float | None:
        """The learned bias of sigmoid models (SigLIP), else None."""
        bias = self._bias()
        return None if bias is None else float(bias)

    @property
    def uses_sigmoid(self) -> bool:
        """True when probabilities are per-class sigmoids (SigLIP) rather than a softmax."""
        return self.logit_bias is not None

    # ------------------------------------------------------------------ embeddings
    def embed_images(self, images: Sequence[ImageLike]) -> np.ndarray:
        """Unit-norm image embeddings ``[N, D]`` (float32), ``batch_size`` images at a time.

        Images are read lazily, one batch at a time; an unreadable file raises
        :class:`~socratic.errors.SocraticError` naming it.
        """
        items = list(images)
        out: list[np.ndarray] = []
        bs = self.config.batch_size
        for start in range(0, len(items), bs):
            pils = [to_pil(x) for x in items[start : start + bs]]
            feats = np.asarray(self._encode_images(pils), dtype=np.float32)
            self.images_encoded += len(pils)
            out.append(l2_normalize(feats))
        if not out:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        return np.concatenate(out, axis=0)

    def embed_image(self, image: ImageLike) -> np.ndarray:
        """One unit-norm image embedding ``[D]``."""
        return self.embed_images([image])[0]

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm text embeddings ``[N, D]`` (float32).

        Each distinct text is encoded once per model: hits come from memory, then from the disk
        cache (``disk_cache: true`` and weights with a stable identity); only misses run through
        the text encoder, ``batch_size`` at a time.
        """
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of strings, not one string")
        texts = list(texts)
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"embed_texts takes strings, got {type(t).__name__} {t!r:.60}")
        with self._text_lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._text_memory]
            if missing:
                self._fill_text_cache(missing)
            if not texts:
                return np.zeros((0, self.embed_dim), dtype=np.float32)
            return np.stack([self._text_memory[t] for t in texts]).astype(np.float32, copy=False)

    def embed_text(self, text: str) -> np.ndarray:
        """One unit-norm text embedding ``[D]``."""
        return self.embed_texts([text])[0]

    def _fill_text_cache(self, missing: list[str]) -> None:
        cache = self.response_cache() if self.config.disk_cache else None
        identity = self.cache_identity() if cache is not None else None
        keys: dict[str, str] = {}
        if cache is not None and identity is not None:
            keys = {t: request_key({"model": identity, "text": t}) for t in missing}
            hits = cache.get_many(TEXT_EMBEDDING_NAMESPACE, list(keys.values()))
            for t in missing:
                value = hits.get(keys[t])
                if value is not None:
                    self._text_memory[t] = decode_vector(value)
            missing = [t for t in missing if t not in self._text_memory]
        bs = self.config.batch_size
        for start in range(0, len(missing), bs):
            chunk = missing[start : start + bs]
            feats = l2_normalize(np.asarray(self._encode_texts(chunk), dtype=np.float32))
            self.texts_encoded += len(chunk)
            for t, v in zip(chunk, feats, strict=True):
                self._text_memory[t] = v
            if keys:
                rows = {keys[t]: encode_vector(v) for t, v in zip(chunk, feats, strict=True)}
                cache.put_many(TEXT_EMBEDDING_NAMESPACE, rows)  # type: ignore[union-attr]

    def clear_text_cache(self) -> None:
        """Forget the in-memory text embeddings (the disk cache is left alone)."""
        with self._text_lock:
            self._text_memory.clear()

    @property
    def embed_dim(self) -> int:
        """The embedding size D (encodes one text if nothing has been encoded yet)."""
        if self._text_memory:
            return len(next(iter(self._text_memory.values())))
        return int(np.asarray(self._encode_texts(["a"])).shape[-1])

    def image_embeddings(self, images: Sequence[ImageLike] | np.ndarray) -> np.ndarray:
        """Images -> embeddings; an array is taken as embeddings already (re-normalised, 2-D)."""
        if isinstance(images, np.ndarray):
            return l2_normalize(np.atleast_2d(images))
        return self.embed_images(images)

    # ------------------------------------------------------------------ scores
    @staticmethod
    def similarity(image_emb: np.ndarray, text_emb: np.ndarray) -> np.ndarray:
        """Cosine similarities ``[N, M]`` (1-D inputs count as one row).

        Example:
            >>> ClipModel.similarity(np.array([1.0, 0.0]), np.array([[1.0, 1.0], [0.0, 2.0]]))
            array([[0.70710677, 0.        ]], dtype=float32)
        """
        a = l2_normalize(np.atleast_2d(image_emb))
        b = l2_normalize(np.atleast_2d(text_emb))
        return a @ b.T

    def logits(self, image_emb: np.ndarray, text_emb: np.ndarray) -> np.ndarray:
        """``logit_scale * cosine (+ logit_bias)``, ``[N, M]``."""
        out = self.logit_scale * self.similarity(image_emb, text_emb)
        bias = self.logit_bias
        return out + bias if bias is not None else out

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Softmax over each row for CLIP; an independent sigmoid per entry for SigLIP.

        SigLIP is trained with a pairwise sigmoid loss, so its probabilities
        ``sigmoid(scale * cos + bias)`` do not sum to one over classes; CLIP's softmax rows do.
        """
        logits = np.asarray(logits, dtype=np.float64)
        if self.uses_sigmoid:
            return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        z = logits - logits.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)

    def serves(self, kind: str) -> bool:
        """A CLIP scores image-text pairs too (``image_text`` nodes such as ``filter.captions``)."""
        return kind in (self.kind, "image_text")

    def match_scores(self, images: Sequence[ImageLike], texts: Sequence[Sequence[str]]) -> list[list[float]]:
        """Per image, the cosine of each of its texts (the image-text interface CapFilt uses)."""
        img = self.embed_images(list(images))
        return [(self.embed_texts(list(t)) @ v).tolist() if len(t) else []
                for v, t in zip(img, texts, strict=True)]

    def class_embeddings(
        self, classes: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES
    ) -> np.ndarray:
        """One unit vector per class ``[C, D]``: the mean of its normalised template
        embeddings, re-normalised (prompt ensembling as in CLIP's zero-shot notebook)."""
        classes, templates = list(classes), list(templates)
        if not templates:
            raise ValueError("zero-shot needs at least one template")
        for t in templates:
            if "{}" not in t:
                raise ValueError(f"template {t!r} has no '{{}}' where the class name goes")
        prompts = [t.format(c) for c in classes for t in templates]
        emb = self.embed_texts(prompts).reshape(len(classes), len(templates), -1)
        return l2_normalize(emb.mean(axis=1))

    def zero_shot(
        self,
        images: Sequence[ImageLike] | np.ndarray,
        classes: Sequence[str],
        templates: Sequence[str] = DEFAULT_TEMPLATES,
    ) -> np.ndarray:
        """Class probabilities ``[N, C]`` for images (or image embeddings).

        Example: ``clip.zero_shot(images, ["cat", "dog"], ["a photo of a {}.", "a {}."])``.
        """
        img = self.image_embeddings(images)
        cls = self.class_embeddings(classes, templates)
        return self.probabilities(self.logits(img, cls))

    def rank_texts(
        self,
        image: ImageLike | np.ndarray,
        texts: Sequence[str],
        top_k: int | None = None,
    ) -> list[tuple[str, float]]:
        """Texts sorted by cosine similarity to one image (or one image embedding), best first.

        Ties keep the input order; ``top_k`` keeps the best k.
        """
        texts = list(texts)
        if isinstance(image, np.ndarray):
            img = l2_normalize(image.reshape(1, -1))
        else:
            img = self.embed_images([image])
        if not texts:
            return []
        scores = (img @ self.embed_texts(texts).T)[0]
        order = np.argsort(-scores, kind="stable")
        if top_k is not None:
            order = order[: max(0, top_k)]
        return [(texts[i], float(scores[i])) for i in order]
