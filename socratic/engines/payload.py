"""What one Ray stage carries to its workers, and how a batch of rows is encoded between stages.

Between stages a batch is an Arrow table of two columns: ``_socratic_index`` (the row number,
-1 when unknown) and ``_socratic_state`` (a pickled :class:`~socratic.engines.stages.RowState`),
so values of any type (images, embeddings, lists of scores) travel unchanged and Arrow never
has to guess a schema. The first stage turns source rows into states (``entry``), the last
turns states into results (``exit``):

- entry ``raw``: rows read by :func:`socratic.engines.ray_data.read_rows` (a pickled row or its
  read error); ``given``: graph inputs already split from their row (in-memory runs);
  ``columns``: the columns of any ``ray.data.Dataset`` (every column that is not a graph
  input passes through).
- exit ``json``: one result record a row as JSON text (``_socratic_record``), what ``socratic
  run`` writes; ``result``: the pickled result (in-memory runs); ``table``: the result table of
  :func:`socratic.results.records_to_table` (``index`` when known, pass-through columns,
  ``outputs`` as JSON text, ``error``, ``node``).

Nodes travel as their class and constructor options, and models as their class and
constructor arguments (:meth:`socratic.models.ModelBackend.__reduce__`): a worker builds them
again, and each actor of a model stage loads its model once, when it starts.
"""

from __future__ import annotations

import json
import pickle
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from ..runner import error_result, split_row
from ..scheduler import Key, Step
from ..types import to_jsonable
from .stages import RowState, StageExecutor

INDEX = "_socratic_index"
STATE = "_socratic_state"
RECORD = "_socratic_record"
RESULT = "_socratic_result"


@dataclass
class NodeRecipe:
    """How a worker builds a node again: its class and constructor options."""

    cls: type
    params: dict[str, Any]

    @classmethod
    def of(cls, node: Any) -> NodeRecipe:
        return cls(type(node), node.params())

    def build(self) -> Any:
        return self.cls(**self.params)


@dataclass
class StagePayload:
    """Everything one stage needs on a worker (see the module docstring)."""

    steps: list[Step]
    recipes: list[NodeRecipe]
    keeps: set[Key]
    concurrency: int
    entry: str | None = None
    exit: str | None = None
    graph_name: str = "graph"
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Key] = field(default_factory=dict)
    load_models: bool = False
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def make(cls, steps: list[Step], keeps: set[Key], concurrency: int, graph: Any,
             **kw: Any) -> StagePayload:
        bare = [replace(s, node=None, fast_fn=None) for s in steps]
        return cls(bare, [NodeRecipe.of(s.node) for s in steps], set(keeps), concurrency,
                   graph_name=graph.name, inputs=dict(graph.inputs), outputs=dict(graph.plan().outputs), **kw)

    # -- on the worker --------------------------------------------------------------------
    def build(self) -> StageRunner:
        nodes = [r.build() for r in self.recipes]
        steps = [replace(s, node=n, fast_fn=type(n).fn if _fast(s, n) else None)
                 for s, n in zip(self.steps, nodes, strict=True)]
        if self.load_models:
            for n in nodes:
                for m in n.models():
                    try:
                        m.resource()  # once per actor; a failure is kept and reported on each row
                    except Exception:
                        pass
        return StageRunner(self, StageExecutor(steps, self.keeps, self.concurrency))


def _fast(step: Step, node: Any) -> bool:
    from ..node import FunctionNode

    return (isinstance(node, FunctionNode) and step.inline and node.single_output is not None
            and not step.fan)


class StageRunner:
    """A stage built on a worker: decodes a batch, runs the nodes, encodes the batch."""

    def __init__(self, payload: StagePayload, executor: StageExecutor) -> None:
        from ..graph import Graph

        self.payload, self.executor = payload, executor
        self.graph = Graph(payload.graph_name)
        self.graph.inputs = payload.inputs  # what split_row and prepare_inputs read

    def __call__(self, batch: Any) -> Any:
        return self.encode(self.executor.run(self.decode(batch)))

    def decode(self, batch: Any) -> list[RowState]:
        entry = self.payload.entry
        if entry is None:
            return [pickle.loads(b) for b in batch.column(STATE).to_pylist()]
        if entry == "columns":
            return [self._enter(None, *split_row(self.graph, row)) for row in batch.to_pylist()]
        states = []
        for index, blob in zip(batch.column(INDEX).to_pylist(), batch.column(STATE).to_pylist(), strict=True):
            kind, value = pickle.loads(blob)
            if kind == "error":
                states.append(RowState(error=value, index=index))
            elif kind == "row":
                states.append(self._enter(index, *split_row(self.graph, value)))
            else:
                states.append(self._enter(index, value, {}))
        return states

    def _enter(self, index: int | None, given: Any, extras: dict[str, Any]) -> RowState:
        state = RowState(extras=extras, index=index)
        try:
            if isinstance(given, Exception):
                raise given
            values = self.graph.prepare_inputs(given)
            state.values = {("inputs", k): v for k, v in values.items()}
        except Exception as exc:
            state.error = error_result(exc)
        return state

    def encode(self, states: list[RowState]) -> Any:
        import pyarrow as pa

        index = [s.index if s.index is not None else -1 for s in states]
        exit_ = self.payload.exit
        if exit_ is None:
            return pa.table({INDEX: pa.array(index, pa.int64()),
                             STATE: pa.array([pickle.dumps(s) for s in states], pa.binary())})
        records = [self._record(s) for s in states]
        if exit_ == "table":
            from ..results import records_to_table

            return records_to_table(records)
        if exit_ == "result":
            kept = ("outputs", "error", "node", "dropped")
            blobs = [pickle.dumps({k: v for k, v in r.items() if k in kept}) for r in records]
            return pa.table({INDEX: pa.array(index, pa.int64()), RESULT: pa.array(blobs, pa.binary())})
        texts = [json.dumps(r, ensure_ascii=False) for r in records]
        return pa.table({INDEX: pa.array(index, pa.int64()), RECORD: pa.array(texts, pa.string())})

    def _record(self, state: RowState) -> dict[str, Any]:
        if state.error is not None:
            result: dict[str, Any] = dict(state.error)
        else:
            result = {"outputs": {name: state.values[key] for name, key in self.payload.outputs.items()}}
        head = {"index": state.index} if state.index is not None else {}
        return {**head, **state.extras, **to_jsonable(result)}
