"""The ``tune:`` section of a graph file: what to compare, the knobs, the search budget.

Example (YAML, beside ``nodes:``)::

    tune:
      target: label            # the data column with the right answer
      output: label            # the graph output compared with it (default: target)
      metric: accuracy         # accuracy | exact_match
      budget: 5000             # model calls the search may spend (cache hits are free)
      seed: 0
      rounds: 2                # passes of coordinate ascent over the knobs
      knobs:
        - {kind: descriptors, node: load, min_keep: 1}
        - {kind: choice, path: nodes.classify.aggregate, values: [mean, max]}
        - {kind: templates, path: nodes.classify.templates, values: [["a {}"], ["{}"]]}
        - {kind: number, path: nodes.rank.top_k, values: [1, 3, 5]}
        - {kind: prompt, path: nodes.ask.prompt, values: [caption_v1, caption_v2]}
        - {kind: demos, node: ask, values: [0, 2, 4], candidates: 4}

Knob kinds:

- ``choice``: any option value at ``path`` (a dotted path into the graph file, as ``--set``);
- ``number``: the same, numbers only (re-rank depth ``n``/``top_k``, self-consistency ``n``);
- ``templates``: CLIP prompt templates (each a list of strings with ``{}``);
- ``prompt``: prompt template variants of an ``llm.generate`` node (``path`` ending in ``prompt``
  for template names, or ``template`` for inline Jinja2);
- ``descriptors``: descriptor subsets of a ``descriptors.load`` node: for each class, greedily
  drop a descriptor when the training metric rises without it, keeping at least ``min_keep``;
- ``demos``: few-shot demos for an ``llm.generate`` node, bootstrapped (as DSPy's
  ``BootstrapFewShot``) from training rows the graph answered correctly: ``values`` are how
  many, ``candidates`` how many seeded random draws of that many are tried (which).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

METRICS = ("accuracy", "exact_match")


class Knob(BaseModel):
    """One tunable thing (see the module docstring for the kinds).

    Example:
        >>> Knob(kind="choice", path="nodes.c.aggregate", values=["mean", "max"]).label
        'nodes.c.aggregate'
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["choice", "number", "templates", "prompt", "descriptors", "demos"]
    path: str | None = None
    node: str | None = None
    values: list[Any] = Field(default_factory=list)
    min_keep: int = Field(1, ge=1)
    candidates: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _fits_kind(self) -> Knob:
        if self.kind in ("choice", "number", "templates", "prompt"):
            if not self.path or not self.values:
                raise ValueError(f"a {self.kind} knob needs 'path' and 'values'")
            if not self.path.startswith("nodes."):
                raise ValueError(f"knob path '{self.path}' must start with 'nodes.'")
        if self.kind == "number" and not all(isinstance(v, (int, float)) for v in self.values):
            raise ValueError("a number knob takes numbers")
        if self.kind == "templates" and not all(
                isinstance(v, list) and v and all(isinstance(t, str) and "{}" in t for t in v)
                for v in self.values):
            raise ValueError("a templates knob takes lists of templates, each with {}")
        if self.kind == "prompt" and not self.path.endswith((".prompt", ".template")):  # type: ignore[union-attr]
            raise ValueError("a prompt knob's path ends in .prompt (names) or .template (inline)")
        if self.kind in ("descriptors", "demos") and not self.node:
            raise ValueError(f"a {self.kind} knob needs 'node'")
        if self.kind == "demos" and not all(isinstance(v, int) and v >= 0 for v in self.values or [0]):
            raise ValueError("a demos knob's values are how many demos (integers >= 0)")
        return self

    @property
    def label(self) -> str:
        return self.path or f"{self.kind}:{self.node}"


class TuneSpec(BaseModel):
    """The whole ``tune:`` section.

    Example:
        >>> TuneSpec(target="label", knobs=[]).output
        'label'
    """

    model_config = ConfigDict(extra="forbid")
    target: str
    output: str | None = None
    metric: Literal["accuracy", "exact_match"] = "accuracy"
    budget: int | None = Field(None, ge=1)
    seed: int = 0
    rounds: int = Field(2, ge=1)
    knobs: list[Knob]

    @model_validator(mode="after")
    def _default_output(self) -> TuneSpec:
        if self.output is None:
            self.output = self.target
        return self


def score(metric: str, predicted: Any, truth: Any) -> float:
    """1.0 when ``predicted`` is right: ``accuracy`` compares labels as written (one of several
    right answers when ``truth`` is a list), ``exact_match`` compares lower-cased text with runs of
    spaces and a final period removed.

    Example:
        >>> score("exact_match", "A red circle.", ["a red  circle"]), score("accuracy", "cat", "dog")
        (1.0, 0.0)
    """
    truths = truth if isinstance(truth, list) else [truth]
    if metric == "exact_match":
        def norm(x: Any) -> str:
            return " ".join(str(x).lower().split()).rstrip(".")

        return float(any(norm(predicted) == norm(t) for t in truths))
    return float(any(predicted == t for t in truths))


def check_tune(doc: Any, raw: Any, nodes: set[str]) -> list[Any]:
    """Problems of a graph file's ``tune:`` section, located in the file (``socratic validate``
    reports them): its schema, and knobs naming nodes the graph does not have."""
    from ..errors import did_you_mean
    from ..yaml_source import validate_model

    spec, problems = validate_model(doc, TuneSpec, raw, root=("tune",), prefix="tune: ")
    if spec is None:
        return problems
    for i, knob in enumerate(spec.knobs):
        parts = (knob.path or "").split(".")
        name = knob.node or (parts[1] if len(parts) > 2 else None)
        if name is not None and name not in nodes:
            where = ("tune", "knobs", i, "node" if knob.node else "path")
            problems.append(doc.error(f"tune: knob {i + 1} names node '{name}', which the graph does not have"
                                      f"{did_you_mean(name, nodes)}", where))
    return problems
