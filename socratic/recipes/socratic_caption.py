"""Socratic captioning (Zeng et al. 2022, "Socratic Models"): CLIP -> LLM -> CLIP.

``socratic.evidence`` asks CLIP, zero-shot, what the image is: its type (photo, cartoon, sketch,
painting), whether there are people and how many, the top places and the top objects from
vocabularies. Those picks fill ``prompts/socratic_caption.j2``; an LLM writes candidate captions
at a temperature; ``clip.rank`` re-ranks them against the image.

Vocabularies are plain text files, one entry a line (``#`` comments allowed). Places365's
``categories_places365.txt`` lines (``/a/airfield 0``) are read as "airfield".

Example:
    >>> read_vocabulary_text("/a/airfield 0\\n/b/bus_station/indoor 45\\n# note\\ntree")
    ['airfield', 'bus station indoor', 'tree']
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SocraticError
from ..nodes.clip import ImageNode
from ..types import Image
from ..vision.lazy import np

if TYPE_CHECKING:
    from ..vision.clip_base import ClipModel

IMAGE_TYPES = ["photo", "cartoon", "sketch", "painting"]
PEOPLE = ["no people", "people"]
PEOPLE_COUNTS = ["is one person", "are two people", "are three people", "are several people",
                 "are many people"]


def read_vocabulary_text(text: str) -> list[str]:
    """Entries of a vocabulary file (see the module docstring)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^/[a-z]/(\S+)(?:\s+\d+)?$", line)
        if m:  # the notebook: parts after the letter; "name/qualifier" -> "qualifier name"
            parts = m.group(1).split("/")
            line = f"{parts[1]} {parts[0]}" if len(parts) > 1 else parts[0]
        out.append(line.replace("_", " "))
    return out


def read_vocabulary(path: str | None, default: str) -> list[str]:
    """A user file, or one of the shipped defaults (``places`` / ``objects``)."""
    if path is None:
        text = (files("socratic") / "data" / f"{default}.txt").read_text(encoding="utf-8")
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SocraticError(f"cannot read vocabulary {path}: {exc.strerror}") from None
    vocab = read_vocabulary_text(text)
    if not vocab:
        raise SocraticError(f"vocabulary {path or default} is empty")
    return vocab


class SocraticEvidence(ImageNode):
    """``socratic.evidence``: CLIP's zero-shot picks that become the caption prompt.

    Outputs ``img_type``, ``num_people`` (the phrase the prompt uses: "are no people", "is one
    person" ...), ``places`` (top ``top_places``) and ``objects`` (top ``top_objects``), as in
    the Socratic Models captioning code (prompts "This is a {}.", "There are {} in this photo.",
    "Photo of a {}.").

    Example:
        >>> sorted(SocraticEvidence.outputs)
        ['img_type', 'num_people', 'objects', 'places']
    """

    outputs = {"img_type": str, "num_people": str, "places": list[str], "objects": list[str]}

    def __init__(self, model: ClipModel, places_file: str | None = None,
                 objects_file: str | None = None, top_places: int = 3, top_objects: int = 10,
                 image_types: list[str] | None = None, batch_size: int | None = None) -> None:
        self.model = model
        self.places = read_vocabulary(places_file, "places")
        self.objects = read_vocabulary(objects_file, "objects")
        if len(self.places) < 3:
            raise SocraticError("the places vocabulary needs at least 3 entries (the prompt names 3)")
        self.top_places, self.top_objects = top_places, top_objects
        self.image_types = list(image_types or IMAGE_TYPES)
        self.batch_size = batch_size

    def run(self, image: Image) -> dict[str, Any]:  # type: ignore[override]
        return self.run_batch([{"image": image}])[0]

    def _top(self, images: np.ndarray, texts: list[str], k: int) -> np.ndarray:
        sims = images @ self.model.embed_texts(texts).T
        return np.argsort(-sims, axis=1, kind="stable")[:, :k]

    def score(self, images: np.ndarray, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        types = self._top(images, [f"This is a {t}." for t in self.image_types], 1)[:, 0]
        people = self._top(images, [f"There are {p} in this photo." for p in PEOPLE], 1)[:, 0]
        counts = self._top(images, [f"There {p} in this photo." for p in PEOPLE_COUNTS], 1)[:, 0]
        places = self._top(images, [f"Photo of a {p}." for p in self.places], self.top_places)
        objects = self._top(images, [f"Photo of a {o}." for o in self.objects], self.top_objects)
        out = []
        for i in range(len(calls)):
            out.append({
                "img_type": self.image_types[int(types[i])],
                "num_people": "are no people" if people[i] == 0 else PEOPLE_COUNTS[int(counts[i])],
                "places": [self.places[int(j)] for j in places[i]],
                "objects": [self.objects[int(j)] for j in objects[i]],
            })
        return out
