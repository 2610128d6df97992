"""The shapes world: classes, descriptors and recorded LLM answers for the demo.

Everything here follows from :mod:`socratic.adapters.synthetic` (coloured circles, squares and
triangles, one or two per image, with exact captions), so every result has a known answer.

- ``OBJECTS``: the 12 things a picture can hold ("red circle" ...): the zero-shot classes.
- ``UNSEEN``: classes whose *names* the tiny CLIP never read ("fire engine") but whose descriptors
  use words it did read ("red", "square"): descriptor-based classification should beat the
  class names there (Menon & Vondrick's point, in miniature).
- ``caption_answers``: what an LLM writes for the Socratic captioning prompt when CLIP says two
  objects are there: the four ways to place them. The shipped recording
  ``socratic/data/shapes_caption_llm.jsonl`` holds these answers (hand-written stand-ins for an
  LLM, made by :func:`write_caption_recording`), so the demo runs offline through the ``replay``
  backend, and a test checks the file is what this function writes.

Example:
    >>> len(OBJECTS), OBJECTS[0]
    (12, 'red circle')
    >>> caption_answers(["blue square", "red circle"])[:2]
    ['a blue square above a red circle', 'a red circle above a blue square']
"""

from __future__ import annotations

import json
from pathlib import Path

from ..adapters.synthetic import COLORS, RELATIONS, SHAPES

OBJECTS: list[str] = [f"{c} {s}" for c in COLORS for s in SHAPES]

#: unseen class name -> (colour, shape) it stands for, and its descriptors (released format)
UNSEEN: dict[str, tuple[str, str]] = {
    "fire engine": ("red", "square"),
    "tomato": ("red", "circle"),
    "sun": ("yellow", "circle"),
    "cheese wedge": ("yellow", "triangle"),
    "pine tree": ("green", "triangle"),
    "lake": ("blue", "circle"),
}


def unseen_descriptors() -> dict[str, list[str]]:
    """Descriptors of the unseen-name classes, in the released JSON format."""
    return {name: [f"a {c} {s}", c, s] for name, (c, s) in UNSEEN.items()}


def noisy_descriptors() -> dict[str, list[str]]:
    """Descriptors as an LLM writes them: the right one first, then some a picture of the world
    cannot show ("a loud siren") and some that point at another colour ("yellow stripes"):
    what ``socratic tune`` prunes."""
    extra = {
        "fire engine": ["a ladder on top", "a loud siren", "yellow stripes"],
        "tomato": ["a green stem", "shiny skin"],
        "sun": ["bright rays of light"],
        "cheese wedge": ["small holes", "a rind"],
        "pine tree": ["needles", "a brown trunk", "a red star on top"],
        "lake": ["calm water", "reeds at the shore", "ducks"],
    }
    return {name: [f"a {c} {s}", *extra[name]] for name, (c, s) in UNSEEN.items()}


def caption_answers(objects: list[str]) -> list[str]:
    """The LLM's candidate captions for two objects: each order, each relation."""
    a, b = sorted(objects)[:2]
    return [f"a {x} {rel} a {y}" for rel in RELATIONS for x, y in ((a, b), (b, a))]


def write_caption_recording(path: str | Path) -> Path:
    """Write the replay file answering the shapes caption prompt for every pair of objects."""
    from ..prompt import load_prompt

    template = load_prompt("shapes_caption")
    lines = []
    for i, a in enumerate(OBJECTS):
        for b in OBJECTS[i + 1 :]:
            pair = sorted([a, b])
            messages = template.render_messages({"objects": pair})
            lines.append({"messages": messages, "texts": caption_answers(pair), "match": "messages"})
    p = Path(path)
    p.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return p


def recording_path() -> Path:
    """The shipped recording (inside the installed package)."""
    from importlib.resources import files

    return Path(str(files("socratic") / "data" / "shapes_caption_llm.jsonl"))
