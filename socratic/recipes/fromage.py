"""``fromage.respond``: a trained FROMAGe model (``socratic train`` with ``task: fromage``) answers
a prompt (and optionally an image) with text, and with images from an image collection when its
answer ends in ``[RET]`` ("a picture of a red circle" -> the nearest image to the ``[RET]`` state).

The collection (a folder, searched recursively, or a JSONL file of ``{"image": path}`` rows) is
embedded once with the model's image map and kept as an :class:`~socratic.vision.index.ImageIndex`
(saved to ``index_dir`` when given).

Example (YAML):
    respond:
      type: fromage.respond
      path: runs/fromage/model
      images: photos/
      prompt: ${inputs.prompt}
      ret_scale_factor: 3.0
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

from ..errors import SocraticError
from ..node import Node
from ..types import Image
from .trained import load_once


def _load(path: str, device: str) -> Any:
    from socratic.adapters.fromage.io import load_fromage

    return load_fromage(path, device)


class FromageRespond(Node):
    """``fromage.respond``: ``text`` (the answer, ``[RET]`` removed), ``images`` and ``scores``
    (the ``k`` nearest images of the collection when the answer ended in ``[RET]``, else empty).

    ``retrieve``: ``auto`` (when the model emits ``[RET]``), ``always`` (``[RET]`` appended when
    it did not), ``never``. ``ret_scale_factor`` multiplies the ``[RET]`` logit (FROMAGe's knob).

    Example:
        >>> sorted(FromageRespond.outputs)
        ['images', 'scores', 'text']
    """

    blocking = True
    outputs = {"text": str, "images": list[Image], "scores": list[float]}

    def __init__(
        self,
        path: str,
        images: str | None = None,
        index_dir: str | None = None,
        k: int = 1,
        retrieve: Literal["auto", "always", "never"] = "auto",
        ret_scale_factor: float = 1.0,
        max_new_tokens: int = 24,
        device: str = "cpu",
    ) -> None:
        self.path, self.images, self.index_dir = path, images, index_dir
        self.k, self.retrieve, self.ret_scale_factor = k, retrieve, ret_scale_factor
        self.max_new_tokens, self.device = max_new_tokens, device
        self._index: Any = None
        self._lock = threading.Lock()

    def loaded(self) -> Any:
        return load_once("fromage", self.path, self.device, _load)

    def index(self) -> Any:
        """The collection's index in the model's retrieval space (built or loaded once)."""
        from ..vision.index import ImageIndex
        from .retrieval import collection_paths

        with self._lock:
            if self._index is not None:
                return self._index
            name = f"fromage:{Path(self.path).resolve()}"
            saved = Path(self.index_dir) if self.index_dir else None
            if saved is not None and (saved / "ids.json").exists():
                index = ImageIndex.load(saved)
                if index.model != name:
                    raise SocraticError(
                        f"index {saved} was built with {index.model or 'another model'}, not {name}"
                    )
            else:
                if not self.images:
                    raise SocraticError("fromage.respond: set 'images' (a collection) to answer with images")
                index = self._build(collection_paths(self.images), name)
                if saved is not None:
                    index.save(saved)
            self._index = index
            return index

    def _build(self, paths: list[str], name: str) -> Any:
        import torch

        from ..vision.index import ImageIndex

        model, rows = self.loaded(), []
        for s in range(0, len(paths), 64):
            pils = [Image(p).pil() for p in paths[s : s + 64]]
            with torch.inference_mode():
                rows.append(model.image_embeddings(model.encode_images(model.preprocess(pils))).cpu())
        return ImageIndex(torch.cat(rows).numpy(), paths, model=name)

    def run(self, prompt: str = "", image: Image | None = None) -> dict[str, Any]:
        model = self.loaded()
        pil = Image.from_value(image).pil() if image is not None else None
        answer = model.respond(
            prompt,
            pil,
            retrieve=self.retrieve,
            max_new_tokens=self.max_new_tokens,
            ret_scale_factor=self.ret_scale_factor,
        )
        if answer.retrieval is None:
            return {"text": answer.text, "images": [], "scores": []}
        hits = self.index().search(answer.retrieval.cpu().numpy(), k=self.k)
        return {"text": answer.text, "images": [Image(h[0]) for h in hits], "scores": [h[1] for h in hits]}
