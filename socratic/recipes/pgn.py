"""``pgn.classify``: classify images with a prompt-adapted frozen ViT (``socratic train`` with
``task: pgn``: a PGN, fixed visual prompts or a linear probe), batched across rows.

Example (YAML):
    classify:
      type: pgn.classify
      path: runs/pgn/pgn/model
      image: ${inputs.image}
"""

from __future__ import annotations

from typing import Any

from ..node import Node
from ..types import Image
from .trained import load_once


def _load(path: str, device: str) -> Any:
    from socratic.adapters.pgn.io import load_pgn

    return load_pgn(path, device)


class PGNClassify(Node):
    """``pgn.classify``: ``label`` (the most probable class), ``scores`` (class -> probability)
    and ``ranked`` (classes best first, ``top_k`` of them when set).

    Example:
        >>> sorted(PGNClassify.outputs)
        ['label', 'ranked', 'scores']
    """

    batchable = True
    blocking = True
    outputs = {"label": str, "scores": dict[str, float], "ranked": list[str]}

    def __init__(self, path: str, top_k: int | None = None, device: str = "cpu") -> None:
        self.path, self.top_k, self.device = path, top_k, device

    def loaded(self) -> Any:
        return load_once("pgn", self.path, self.device, _load)

    def run(self, image: Image) -> dict[str, Any]:
        return self.run_batch([{"image": image}])[0]

    def run_batch(self, calls: list[dict[str, Any]]) -> list[Any]:
        model = self.loaded()
        probs = model.predict([Image.from_value(c["image"]).pil() for c in calls])
        out = []
        for row in probs.tolist():
            scores = dict(zip(model.classes, row, strict=True))
            ranked = sorted(scores, key=lambda c: -scores[c])
            out.append({"label": ranked[0], "scores": scores, "ranked": ranked[: self.top_k or len(ranked)]})
        return out
