"""Trials: the graph file with some knob values set, built, run over rows, scored.

Every trial is built from the graph file's data with the trial's values written in (so what is
measured is exactly what ``GRAPH.tuned.yaml`` will say), then its models are swapped for the
ones of the first build: weights load once, text embeddings stay in the model's cache, image
embeddings are kept per image for the whole search, and LLM answers come from the response
cache. A trial with the same values as an earlier one is not run again.

Cost (the search budget) is counted in *model calls*: LLM requests sent (cache misses) plus images
and texts run through vision encoders; what comes from a cache costs nothing.

Example:
    >>> set_path({"nodes": {"c": {"k": 1}}}, "nodes.c.k", 3)
    {'nodes': {'c': {'k': 3}}}
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import usage
from ..context import BuildContext
from ..models import ModelBackend
from .config import TuneSpec, score


def set_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set a dotted ``path`` in nested mappings (missing sections are made)."""
    keys = path.split(".")
    target = data
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value
    return data


def get_path(data: dict[str, Any], path: str, default: Any = None) -> Any:
    """The value at a dotted ``path``, else ``default``."""
    target: Any = data
    for key in path.split("."):
        if not isinstance(target, dict) or key not in target:
            return default
        target = target[key]
    return target


@dataclass
class Evaluation:
    """One trial on one split: the metric of each compared output, the cost, the records."""

    metric: float
    controls: dict[str, float]
    calls: int
    seconds: float
    records: list[dict[str, Any]] = field(repr=False, default_factory=list)
    failed: int = 0


@dataclass
class Trial:
    """A row of the tuning table."""

    index: int
    knob: str
    values: dict[str, Any]
    split: str
    metric: float
    calls: int
    seconds: float
    note: str = ""


class Trials:
    """Builds and scores trials of one graph file (see the module docstring).

    Example:
        >>> Trials  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, spec: TuneSpec, rows: dict[str, list[Any]], *,
                 context: BuildContext | None = None, concurrency: int = 16, doc: Any = None) -> None:
        from ..yaml_source import load_yaml_file

        self.path = Path(path)
        self.doc = doc if doc is not None else load_yaml_file(self.path)
        self.base = {k: v for k, v in self.doc.data.items() if k != "tune"}
        self.spec = spec
        self.rows = rows
        self.context = context or BuildContext()
        self.concurrency = concurrency
        self.shared: dict[str, ModelBackend] = {}
        self.memo: dict[tuple[str, str], Evaluation] = {}
        self.spent = 0
        self.history: list[Trial] = []
        self._images: dict[str, Any] = {}

    # -- building ----------------------------------------------------------------------------
    def data(self, values: dict[str, Any]) -> dict[str, Any]:
        """The graph file's data with ``values`` (dotted path -> value) written in."""
        data = copy.deepcopy(self.base)
        for path, value in values.items():
            set_path(data, path, value)
        return data

    def build(self, values: dict[str, Any]) -> Any:
        from ..spec import graph_from_document

        doc = copy.copy(self.doc)
        doc.data = self.data(values)
        graph = graph_from_document(doc, None, self.context)
        self._share(graph)
        return graph

    def _share(self, graph: Any) -> None:
        """Point the graph's nodes at the models of the first build."""
        if not self.shared:
            self.shared = dict(graph.models)
            for model in self.shared.values():
                self._keep_images(model)
        swap = {id(m): self.shared[n] for n, m in graph.models.items() if n in self.shared}
        for entry in graph.nodes.values():
            node = entry.node
            for key, value in node.params().items():
                shared = swap.get(id(value)) if isinstance(value, ModelBackend) else None
                if shared is not None and getattr(node, key, None) is value:
                    setattr(node, key, shared)
        graph.models.update({n: self.shared[n] for n in graph.models if n in self.shared})

    def _keep_images(self, model: Any) -> None:
        """Image embeddings kept per image path for the whole search."""
        embed = getattr(model, "embed_images", None)
        if embed is None:
            return
        store = self._images
        name = getattr(model, "name", "")

        def embed_images(images: Any) -> Any:
            import numpy as np

            items = list(images)
            keys = [(name, getattr(x, "path", x)) for x in items]
            if not items or not all(isinstance(k[1], str) for k in keys):
                return embed(items)
            todo = [i for i, k in enumerate(keys) if k not in store]
            if todo:
                for i, vec in zip(todo, embed([items[i] for i in todo]), strict=True):
                    store[keys[i]] = vec
            return np.stack([store[k] for k in keys])

        model.__dict__["embed_images"] = embed_images

    # -- running -----------------------------------------------------------------------------
    def _encoded(self) -> int:
        return sum(int(getattr(m, "images_encoded", 0)) + int(getattr(m, "texts_encoded", 0))
                   for m in self.shared.values())

    def evaluate(self, values: dict[str, Any], split: str) -> Evaluation:
        """Score the graph with ``values`` on ``split`` (memoised: a repeat costs nothing)."""
        key = (json.dumps(values, sort_keys=True, default=str), split)
        if key in self.memo:
            return dataclasses.replace(self.memo[key], calls=0, seconds=0.0)
        from ..runner import RowRunner

        t0 = time.perf_counter()
        graph = self.build(values)
        before = self._encoded()
        with usage.track() as counts:
            records = RowRunner(graph, concurrency=self.concurrency).collect(self.rows[split])
        calls = counts.requests + self._encoded() - before
        self.spent += calls
        out, target = self.spec.output, self.spec.target
        controls: dict[str, list[float]] = {}
        failed = 0
        for r in records:
            outputs = r.get("outputs")
            if outputs is None:
                failed += 1
            for name in self.compared(graph):
                value = outputs.get(name) if outputs else None
                right = 0.0 if value is None else score(self.spec.metric, value, r.get(target))
                controls.setdefault(name, []).append(right)
        means = {k: sum(v) / len(v) for k, v in controls.items() if v}
        result = Evaluation(means.get(out or "", 0.0), means, calls, time.perf_counter() - t0, records,
                            failed)
        self.memo[key] = result
        return result

    def compared(self, graph: Any) -> list[str]:
        """The compared output and the controls beside it (outputs ``*_<output>``, as
        ``socratic eval classify`` reports every ``*label`` output)."""
        out = self.spec.output or ""
        if out not in graph.outputs:
            from ..errors import InputError

            raise InputError(f"tune: graph '{graph.name}' has no output '{out}'; outputs: "
                             f"{', '.join(graph.outputs)}")
        return [out] + [n for n in graph.outputs if n != out and n.endswith(f"_{out}")]

    def over_budget(self) -> bool:
        return self.spec.budget is not None and self.spent >= self.spec.budget

    def note(self, knob: str, values: dict[str, Any], split: str, ev: Evaluation, note: str = "") -> Trial:
        trial = Trial(len(self.history), knob, dict(values), split, ev.metric, ev.calls,
                      round(ev.seconds, 3), note)
        self.history.append(trial)
        return trial
