"""Descriptor-based classification (Menon & Vondrick 2022, "Visual Classification via
Description from Large Language Models").

An LLM lists visual descriptors per class (``prompts/descriptors.j2``, parsed from "- " bullets)
or they come from a JSON file ``{class: [descriptor, ...]}`` (the format the authors released).
Each descriptor becomes a sentence "{class}, which is/has {descriptor}"; a class's score is the
mean (or max, or sum) over its descriptors of the cosine between the normalised image and
sentence embeddings. The per-descriptor cosines are the explanation of the decision.

Sentence rules:

- ``rules: paper`` (the default, so the paper's numbers reproduce): byte for byte the authors'
  ``load_gpt_descriptions``: the class name is "wordified" (``_`` -> space), the descriptor is
  kept as written (trailing period included), the test is on its first *letters*,
  case-sensitive (``startswith('a')`` -> "which is ...", so "antennae" gives "which is
  antennae"; has/often/typically/may/can -> "which ..."; used -> "which is ..."; else "which has
  ..."), an empty descriptor list becomes one empty descriptor, and ``before_text`` /
  ``after_text`` go around every sentence (the ImageNet setting appends "."). The class-name
  baseline is the bare wordified name (``templates: ["{}"]``).
- ``rules: first_word``: our improvement: the test is on the first *word* (so "antennae" gives
  "which has antennae" and "a"/"an" must be words), a trailing period is dropped, and an empty
  descriptor list is an error. The baseline defaults to CLIP's "a photo of a {}.".

Controls beside the descriptor score (they answer the critique that descriptor gains come from
ensembling prompts rather than from what the descriptors say; Roth et al. 2023): ``random``
(each class gets as many descriptors as it has, made of random words from the descriptors'
vocabulary, seeded, put in the same sentences) and ``ensemble`` (the class name in as many of
CLIP's 80 ImageNet templates as it has descriptors, scored the same way). ``socratic eval
classify`` reports every ``*label`` output side by side.

Example:
    >>> descriptor_sentence("tiger", "orange fur with black stripes.")
    'tiger, which has orange fur with black stripes.'
    >>> descriptor_sentence("trilobite", "antennae"), descriptor_sentence("golden_retriever", "")
    ('trilobite, which is antennae', 'golden retriever, which has ')
    >>> descriptor_sentence("trilobite", "antennae.", rules="first_word")
    'trilobite, which has antennae'
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
Rules = Literal["paper", "first_word"]

Descriptors = Union[dict[str, list[str]], list[list[str]]]  # noqa: UP007


def wordify(category: str) -> str:
    """A class name as the paper writes it in sentences (``golden_retriever`` -> ``golden retriever``)."""
    return category.replace("_", " ")


def descriptor_sentence(category: str, descriptor: str, before_text: str = "", after_text: str = "",
                        rules: Rules = "paper") -> str:
    """The sentence CLIP scores for one descriptor (see the module docstring)."""
    if rules == "paper":
        d = descriptor
        if d.startswith(("a", "an")):
            which = f"which is {d}"
        elif d.startswith(_BARE):
            which = f"which {d}"
        elif d.startswith("used"):
            which = f"which is {d}"
        else:
            which = f"which has {d}"
        return f"{before_text}{wordify(category)}, {which}{after_text}"
    d = descriptor.strip().rstrip(".")
    first = d.split(maxsplit=1)[0].lower() if d else ""
    which = f"which is {d}" if first in _IS else f"which {d}" if first in _BARE else f"which has {d}"
    return f"{before_text}{category}, {which}{after_text}"


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


def as_mapping(
    classes: list[str], descriptors: Any, *, allow_empty: bool = False
) -> dict[str, list[str]]:
    """Descriptors for exactly ``classes``: from a mapping, or a list aligned with classes
    (``allow_empty``: an empty list becomes one empty descriptor, as in the paper's code)."""
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
            if not allow_empty:
                raise SocraticError(f"class '{c}' has no descriptors")
            mapping[c] = [""]
    return mapping


def random_descriptors(mapping: dict[str, list[str]], seed: int = 0) -> dict[str, list[str]]:
    """The random-words control: per class as many descriptors as it has, each as many words
    long as the one it stands for, drawn (seeded) from every descriptor's words.

    Example:
        >>> random_descriptors({"cat": ["soft fur", "whiskers"], "dog": ["wet nose"]}, seed=1)
        {'cat': ['nose whiskers', 'fur'], 'dog': ['soft fur']}
    """
    import random

    vocab = sorted({w for ds in mapping.values() for d in ds for w in d.split()}) or ["thing"]
    rng = random.Random(seed)
    return {c: [" ".join(rng.choice(vocab) for _ in range(max(len(d.split()), 1))) for d in ds]
            for c, ds in mapping.items()}


def template_sentences(category: str, k: int) -> list[str]:
    """The ensemble control: ``category`` in the first ``k`` of CLIP's 80 ImageNet templates
    (open_clip's copy), cycling when ``k`` is larger."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES as templates

    return [templates[i % len(templates)](wordify(category)) for i in range(max(k, 1))]


class DescriptorClassify(ImageNode):
    """``clip.descriptor_classify``: classify an image by descriptor sentences.

    Outputs: ``label``, ``scores`` (class -> aggregated cosine), ``contributions`` (class ->
    descriptor -> cosine), ``baseline_label`` and ``baseline_scores`` (class names only, with
    ``templates``; cosines), and the controls ``random_label`` / ``random_scores`` and
    ``ensemble_label`` / ``ensemble_scores`` (see the module docstring). Options: ``rules``
    (``paper`` or ``first_word``), ``before_text`` / ``after_text`` (around every sentence),
    ``aggregate`` (``mean``, the paper; ``max``; ``sum``), ``control_seed``.

    Example:
        >>> sorted(DescriptorClassify.outputs)[:4]
        ['baseline_label', 'baseline_scores', 'contributions', 'ensemble_label']
    """

    outputs = {
        "label": str,
        "scores": dict[str, float],
        "contributions": dict[str, dict[str, float]],
        "baseline_label": str,
        "baseline_scores": dict[str, float],
        "random_label": str,
        "random_scores": dict[str, float],
        "ensemble_label": str,
        "ensemble_scores": dict[str, float],
    }

    def __init__(
        self,
        model: ClipModel,
        rules: Rules = "paper",
        aggregate: Literal["mean", "max", "sum"] = "mean",
        before_text: str = "",
        after_text: str = "",
        templates: list[str] | None = None,
        control_seed: int = 0,
        batch_size: int | None = None,
    ) -> None:
        self.model = model
        self.rules = rules
        self.aggregate = aggregate
        self.before_text, self.after_text = before_text, after_text
        self.templates = list(templates or (["{}"] if rules == "paper" else ["a photo of a {}."]))
        self.control_seed = control_seed
        self.batch_size = batch_size

    def _sentences(self, mapping: dict[str, list[str]]) -> list[str]:
        return [descriptor_sentence(c, d, self.before_text, self.after_text, self.rules)
                for c, ds in mapping.items() for d in ds]

    def _scores(self, images: np.ndarray, classes: list[str], sentences: list[str],
                counts: list[int]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Per image, each class's aggregated cosine, and the per-sentence cosines by class."""
        sims = images @ self.model.embed_texts(sentences).T  # [B, T]
        bounds = np.cumsum([0, *counts])
        reduce = {"mean": np.mean, "max": np.max, "sum": np.sum}[self.aggregate]
        per_class = [sims[:, bounds[k] : bounds[k + 1]] for k in range(len(classes))]
        return np.stack([reduce(v, axis=1) for v in per_class], axis=1), per_class

    def run(self, image: Image, classes: list[str], descriptors: Descriptors) -> dict[str, Any]:  # type: ignore[override]
        return self.run_batch([{"image": image, "classes": classes, "descriptors": descriptors}])[0]

    def score(self, images: np.ndarray, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[Any] = [None] * len(calls)
        for _, idx in group_by(calls, "classes", "descriptors").items():
            first = calls[idx[0]]
            classes = list(first["classes"])
            mapping = as_mapping(classes, first["descriptors"], allow_empty=self.rules == "paper")
            counts = [len(mapping[c]) for c in classes]
            imgs = images[idx]
            scores, per_class = self._scores(imgs, classes, self._sentences(mapping), counts)
            noise = self._sentences(random_descriptors(mapping, self.control_seed))
            rand, _ = self._scores(imgs, classes, noise, counts)
            ensemble = [t for c, k in zip(classes, counts, strict=True) for t in template_sentences(c, k)]
            ens, _ = self._scores(imgs, classes, ensemble, counts)
            names = [wordify(c) if self.rules == "paper" else c for c in classes]
            base = imgs @ self.model.class_embeddings(names, self.templates).T  # [B, C]
            for j, i in enumerate(idx):
                out[i] = {"contributions": {
                    c: {d: float(s) for d, s in zip(mapping[c], per_class[k][j], strict=True)}
                    for k, c in enumerate(classes)}}
                for name, rows in (("", scores), ("baseline_", base), ("random_", rand), ("ensemble_", ens)):
                    out[i][f"{name}label"] = classes[int(np.argmax(rows[j]))]
                    out[i][f"{name}scores"] = {c: float(v) for c, v in zip(classes, rows[j], strict=True)}
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
