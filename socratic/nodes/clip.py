"""CLIP nodes: zero-shot classification, ranking texts for an image, embeddings.

Every node here is ``batchable`` and ``blocking``: calls from ``for_each`` items and from the
rows of a dataset run are grouped, the images of a group go through the image encoder as one
batch (in a worker thread), and text embeddings come from the model's per-text cache.

Example (YAML):
    classify:
      type: clip.classify
      model: clip
      image: ${inputs.image}
      classes: ${inputs.classes}
      templates: ["a photo of a {}.", "a drawing of a {}."]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import SocraticError
from ..node import Node
from ..types import Embedding, Image
from ..vision.lazy import DEFAULT_TEMPLATES, l2_normalize, np

if TYPE_CHECKING:
    from ..vision.clip_base import ClipModel


def group_by(calls: list[dict[str, Any]], *keys: str) -> dict[Any, list[int]]:
    """Indices of calls that share the same values for ``keys`` (so texts are embedded once
    and scored with one matrix product per group)."""
    groups: dict[Any, list[int]] = {}
    for i, call in enumerate(calls):
        key = tuple(_freeze(call.get(k)) for k in keys)
        groups.setdefault(key, []).append(i)
    return groups


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


class ImageNode(Node):
    """Base of nodes that embed one image per call and score it against texts."""

    model_kind = "clip"
    batchable = True
    blocking = True

    model: ClipModel

    def run(self, **call: Any) -> dict[str, Any]:
        result = self.run_batch([call])[0]
        if isinstance(result, BaseException):  # score() may give a call its own error
            raise result
        return result

    def run_batch(self, calls: list[dict[str, Any]]) -> list[Any]:
        images = self.model.embed_images([c["image"] for c in calls])
        return self.score(images, calls)

    def score(self, images: np.ndarray, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise NotImplementedError


class ClipClassify(ImageNode):
    """``clip.classify``: zero-shot classification with prompt-template ensembling.

    ``scores`` are the model's probabilities (softmax for CLIP, sigmoid for SigLIP); ``ranked``
    lists the classes best first (``top_k`` of them when set).

    Example:
        >>> ClipClassify.outputs["scores"]
        dict[str, float]
    """

    outputs = {"label": str, "scores": dict[str, float], "ranked": list[str]}

    def __init__(self, model: ClipModel, templates: list[str] | None = None,
                 top_k: int | None = None, batch_size: int | None = None) -> None:
        self.model = model
        self.templates = list(templates or DEFAULT_TEMPLATES)
        self.top_k = top_k
        self.batch_size = batch_size

    def run(self, image: Image, classes: list[str]) -> dict[str, Any]:  # type: ignore[override]
        return self.run_batch([{"image": image, "classes": classes}])[0]

    def score(self, images: np.ndarray, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[Any] = [None] * len(calls)
        for (classes,), idx in group_by(calls, "classes").items():
            if not classes:
                raise SocraticError("clip.classify got an empty class list")
            cls = self.model.class_embeddings(list(classes), self.templates)
            probs = self.model.probabilities(self.model.logits(images[idx], cls))
            for row, i in zip(probs, idx, strict=True):
                order = np.argsort(-row, kind="stable")[: self.top_k]
                out[i] = {
                    "label": classes[int(order[0])],
                    "scores": {c: float(p) for c, p in zip(classes, row, strict=True)},
                    "ranked": [classes[int(j)] for j in order],
                }
        return out


class ClipRank(ImageNode):
    """``clip.rank``: texts sorted by cosine similarity to the image (re-ranking captions).
    Texts are stripped of surrounding whitespace first (LLM answers often start with a space or
    a newline), so what is scored is what is returned.

    Example:
        >>> sorted(ClipRank.outputs)
        ['best', 'ranked', 'scores']
    """

    outputs = {"best": str, "ranked": list[str], "scores": list[float]}

    def __init__(self, model: ClipModel, top_k: int | None = None,
                 batch_size: int | None = None) -> None:
        self.model = model
        self.top_k = top_k
        self.batch_size = batch_size

    def run(self, image: Image, texts: list[str]) -> dict[str, Any]:  # type: ignore[override]
        return self.run_batch([{"image": image, "texts": texts}])[0]

    def score(self, images: np.ndarray, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[Any] = [None] * len(calls)
        for (texts,), idx in group_by(calls, "texts").items():
            if not texts:
                raise SocraticError("clip.rank got no texts to rank")
            texts = [t.strip() for t in texts]
            sims = images[idx] @ self.model.embed_texts(list(texts)).T
            for row, i in zip(sims, idx, strict=True):
                order = np.argsort(-row, kind="stable")[: self.top_k]
                out[i] = {
                    "best": texts[int(order[0])],
                    "ranked": [texts[int(j)] for j in order],
                    "scores": [float(row[j]) for j in order],
                }
        return out


class EmbedImage(ImageNode):
    """``clip.embed_image``: the unit-norm image embedding.

    Example:
        >>> EmbedImage.outputs
        {'embedding': <class 'socratic.types.Embedding'>}
    """

    outputs = {"embedding": Embedding}

    def __init__(self, model: ClipModel, batch_size: int | None = None) -> None:
        self.model = model
        self.batch_size = batch_size

    def run(self, image: Image) -> dict[str, Any]:  # type: ignore[override]
        return self.run_batch([{"image": image}])[0]

    def score(self, images: np.ndarray, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"embedding": Embedding(v, model=self.model.name, normalized=True)} for v in images]


class EmbedText(Node):
    """``clip.embed_text``: the unit-norm text embedding (cached per model and text).

    Example:
        >>> EmbedText.outputs
        {'embedding': <class 'socratic.types.Embedding'>}
    """

    model_kind = "clip"
    batchable = True
    blocking = True
    outputs = {"embedding": Embedding}

    def __init__(self, model: ClipModel) -> None:
        self.model = model

    def run(self, text: str) -> dict[str, Any]:
        return self.run_batch([{"text": text}])[0]

    def run_batch(self, calls: list[dict[str, Any]]) -> list[Any]:
        vecs = self.model.embed_texts([c["text"] for c in calls])
        return [{"embedding": Embedding(v, model=self.model.name, normalized=True)} for v in vecs]


class Compose(Node):
    """``clip.compose``: embedding arithmetic for composed queries, e.g. the image of the
    Eiffel tower + the text "snow": ``normalize(image_weight * image + text_weight * text)``.

    Example:
        >>> out = Compose().run(image=Embedding(np.array([1.0, 0.0])), text=Embedding(np.array([0.0, 1.0])))
        >>> [round(float(x), 3) for x in out["embedding"].vector]
        [0.707, 0.707]
    """

    outputs = {"embedding": Embedding}

    def __init__(self, image_weight: float = 1.0, text_weight: float = 1.0) -> None:
        self.image_weight = image_weight
        self.text_weight = text_weight

    def run(self, image: Embedding, text: Embedding) -> dict[str, Any]:
        a = l2_normalize(np.atleast_2d(np.asarray(image.vector, dtype=np.float32)))[0]
        b = l2_normalize(np.atleast_2d(np.asarray(text.vector, dtype=np.float32)))[0]
        v = l2_normalize((self.image_weight * a + self.text_weight * b)[None])[0]
        return {"embedding": Embedding(v, model=image.model or text.model, normalized=True)}
