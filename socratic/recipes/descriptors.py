"""Descriptor-based classification (Menon & Vondrick 2022, "Visual Classification via
Description from Large Language Models").

An LLM lists visual descriptors per class (``prompts/descriptors.j2``, parsed from "- " bullets)
or they come from a JSON file ``{class: [descriptor, ...]}`` (the format the authors released).
Each descriptor becomes a sentence "{class}, which is/has {descriptor}"; a class's score is the
mean (or max, or sum) over its descriptors of the cosine between the normalised image and
sentence embeddings. The per-descriptor cosines are the explanation of the decision; the
class-name-only CLIP score is reported beside it as the baseline.

Sentence rule, by the descriptor's first word (the authors' ``make_descriptor_sentence``, which
tests the first *letters*, so "antennae" became "which is antennae"; we test the first word):
"a"/"an"/"used" -> "which is ...", "has"/"often"/"typically"/"may"/"can" -> "which ...",
anything else -> "which has ...".

Example:
    >>> descriptor_sentence("tiger", "orange fur with black stripes")
    'tiger, which has orange fur with black stripes'
    >>> descriptor_sentence("tiger", "a large cat")
    'tiger, which is a large cat'
    >>> descriptor_sentence("tiger", "often found in forests")
    'tiger, which often found in forests'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from ..errors import SocraticError
from ..node import Node
from ..nodes.clip import ImageNode, group_by
from ..types import Image
from ..vision.lazy import np

if TYPE_CHECKING:
    from ..vision.clip_base import ClipModel

_IS = ("a", "an", "used")
_BARE = ("has", "often", "typically", "may", "can")

Descriptors = Union[dict[str, list[str]], list[list[str]]]  # noqa: UP007


def descriptor_sentence(category: str, descriptor: str, prefix: str = "") -> str:
    """The sentence CLIP scores for one descriptor (see the module docstring)."""
    d = descriptor.strip().rstrip(".")
    first = d.split(maxsplit=1)[0].lower() if d else ""
    if first in _IS:
        which = f"which is {d}"
    elif first in _BARE:
        which = f"which {d}"
    else:
        which = f"which has {d}"
    return f"{prefix}{category}, {which}"


def load_descriptors(path: str | Path) -> dict[str, list[str]]:
    """Read ``{class: [descriptor, ...]}`` JSON, checking its shape (clear errors)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SocraticError(f"cannot read descriptors file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SocraticError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in data.values()
    ):
        raise SocraticError(f"{path}: expected a JSON object {{class: [descriptor, ...]}}")
    return data


def save_descriptors(descriptors: dict[str, list[str]], path: str | Path) -> Path:
    """Write descriptors as JSON (atomically), in the released format."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(descriptors, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(p)
    return p


def as_mapping(classes: list[str], descriptors: Any) -> dict[str, list[str]]:
    """Descriptors for exactly ``classes``: from a mapping, or a list aligned with classes."""
    if not classes:
        raise SocraticError("descriptor classification got an empty class list")
    if isinstance(descriptors, dict):
        missing = [c for c in classes if c not in descriptors]
        if missing:
            raise SocraticError(f"no descriptors for class '{missing[0]}'")
        mapping = {c: list(descriptors[c]) for c in classes}
    else:
        if len(descriptors) != len(classes):
            raise SocraticError(
                f"{len(descriptors)} descriptor lists for {len(classes)} classes"
            )
        mapping = {c: list(d) for c, d in zip(classes, descriptors, strict=True)}
    for c, ds in mapping.items():
        if not ds:
            raise SocraticError(f"class '{c}' has no descriptors")
    return mapping


class DescriptorClassify(ImageNode):
    """``clip.descriptor_classify``: classify an image by descriptor sentences.

    Outputs: ``label``, ``scores`` (class -> aggregated cosine), ``contributions`` (class ->
    descriptor -> cosine), ``baseline_label`` and ``baseline_scores`` (class names only, with
    ``templates``; cosines). ``aggregate``: ``mean`` (the paper), ``max`` or ``sum``.

    Example:
        >>> sorted(DescriptorClassify.outputs)
        ['baseline_label', 'baseline_scores', 'contributions', 'label', 'scores']
    """

    outputs = {
        "label": str,
        "scores": dict[str, float],
        "contributions": dict[str, dict[str, float]],
        "baseline_label": str,
        "baseline_scores": dict[str, float],
    }

    def __init__(
        self,
        model: ClipModel,
        aggregate: Literal["mean", "max", "sum"] = "mean",
        prefix: str = "",
        templates: list[str] | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.model = model
        self.aggregate = aggregate
        self.prefix = prefix
        self.templates = list(templates or ["a photo of a {}."])
        self.batch_size = batch_size

    def run(self, image: Image, classes: list[str], descriptors: Descriptors) -> dict[str, Any]:  # type: ignore[override]
        return self.run_batch([{"image": image, "classes": classes, "descriptors": descriptors}])[0]

    def score(self, images: np.ndarray, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[Any] = [None] * len(calls)
        for _, idx in group_by(calls, "classes", "descriptors").items():
            first = calls[idx[0]]
            classes = list(first["classes"])
            mapping = as_mapping(classes, first["descriptors"])
            sentences = [descriptor_sentence(c, d, self.prefix) for c in classes for d in mapping[c]]
            sims = images[idx] @ self.model.embed_texts(sentences).T  # [B, T]
            base = images[idx] @ self.model.class_embeddings(classes, self.templates).T  # [B, C]
            bounds = np.cumsum([0] + [len(mapping[c]) for c in classes])
            reduce = {"mean": np.mean, "max": np.max, "sum": np.sum}[self.aggregate]
            for row, brow, i in zip(sims, base, idx, strict=True):
                per_class = [row[bounds[k] : bounds[k + 1]] for k in range(len(classes))]
                scores = {c: float(reduce(v)) for c, v in zip(classes, per_class, strict=True)}
                contributions = {
                    c: {d: float(s) for d, s in zip(mapping[c], v, strict=True)}
                    for c, v in zip(classes, per_class, strict=True)
                }
                out[i] = {
                    "label": max(classes, key=lambda c: scores[c]),
                    "scores": scores,
                    "contributions": contributions,
                    "baseline_label": classes[int(np.argmax(brow))],
                    "baseline_scores": {c: float(s) for c, s in zip(classes, brow, strict=True)},
                }
        return out


class LoadDescriptors(Node):
    """``descriptors.load``: read a released-format descriptor JSON file (``path`` option:
    absolute, relative to the working directory, or ``./...`` relative to the graph file).

    Example:
        >>> LoadDescriptors.outputs
        {'descriptors': dict[str, list[str]], 'classes': list[str]}
    """

    outputs = {"descriptors": dict[str, list[str]], "classes": list[str]}

    def __init__(self, path: str) -> None:
        self.path = path

    def run(self) -> dict[str, Any]:
        d = load_descriptors(self.path)
        return {"descriptors": d, "classes": list(d)}


class SaveDescriptors(Node):
    """``descriptors.save``: write LLM-generated descriptors (aligned with ``classes``) as JSON,
    so a later run (or another tool) can reuse them without the LLM.

    Example:
        >>> SaveDescriptors.outputs
        {'path': <class 'str'>, 'descriptors': dict[str, list[str]]}
    """

    outputs = {"path": str, "descriptors": dict[str, list[str]]}

    def __init__(self, path: str) -> None:
        self.path = path

    def run(self, classes: list[str], descriptors: Descriptors) -> dict[str, Any]:
        mapping = as_mapping(classes, descriptors)
        return {"path": str(save_descriptors(mapping, self.path)), "descriptors": mapping}
