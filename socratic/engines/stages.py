"""The stage plan of a graph: the graph cut into stages at model boundaries, and what runs one
stage over a batch of rows. Pure Python (no Ray import): the Ray engine maps each stage to a
``map_batches`` operator, tests run the stages one after another without Ray.

A **model stage** runs the nodes that use one model (or one set of models); under Ray it is an
actor pool whose actors build the model once and keep it. A **task stage** runs light nodes
(no model: templates, parsers, votes ...), fused into plain tasks. Stages follow a topological
order of the graph; ready light nodes go first, then the ready nodes of the first model in
graph order, each stage taking every node that becomes ready with the same key, so a stage is
as large as the graph allows. A model used again after another model's stage gets a second
stage (its own actor pool: a linear pipeline cannot go back).

Rows travel between stages as a :class:`RowState`: pass-through columns, the values later
stages still read (``keeps``), or the row's error.

Example:
    >>> from socratic.spec import load_graph_text
    >>> g = load_graph_text('''
    ... inputs: {text: str}
    ... nodes:
    ...   up: {type: text.template, template: "{{ t | upper }}", t: "${inputs.text}"}
    ... outputs: {out: "${up.output}"}
    ... ''')
    >>> plan = plan_stages(g)
    >>> [(s.kind, s.nodes) for s in plan.stages]
    [('task', ['up'])]
    >>> states = [RowState(extras={"id": 1}, values={("inputs", "text"): "hi"})]
    >>> plan.stages[0].executor(plan).run(states)[0].values
    {('up', 'output'): 'HI'}
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

from ..refs import INPUTS
from ..runner import error_result
from ..scheduler import Key, Plan, RunContext, Step

#: backends that wait on another machine (an API, a file): a small CPU share by default
REMOTE_BACKENDS = frozenset({"openai", "langchain", "replay"})


@dataclass
class RowState:
    """One row between stages: pass-through columns, the values computed so far that later
    stages read (keyed ``(node, socket)``; graph inputs under ``"inputs"``), or its error."""

    extras: dict[str, Any] = field(default_factory=dict)
    values: dict[Key, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    index: int | None = None


@dataclass
class StageResources:
    """What one actor of a model stage asks for; ``given`` names what the models: entry set
    (the rest are defaults, which the engine may fit to the cluster)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    replicas: tuple[int, int] = (1, 1)
    batch_size: int = 64
    given: frozenset[str] = frozenset()
    note: str = ""

    def describe(self) -> str:
        def mark(name: str, text: str) -> str:
            return text if name in self.given else f"{text}*"

        low, high = self.replicas
        reps = str(low) if low == high else f"{low}-{high}"
        parts = [mark("replicas", f"actors {reps}"), mark("num_cpus", f"num_cpus {_num(self.num_cpus)}"),
                 mark("num_gpus", f"num_gpus {_num(self.num_gpus)}"),
                 mark("batch_size", f"batch {self.batch_size}")]
        text = ", ".join(parts)
        return f"{text} ({self.note})" if self.note else text


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.3g}"


@dataclass
class Stage:
    """One stage: its nodes (in plan order), the model(s) they share (``None``: a task
    stage), what it reads from earlier stages and what it passes on."""

    index: int
    kind: str
    nodes: list[str]
    models: dict[str, Any] = field(default_factory=dict)
    resources: StageResources = field(default_factory=StageResources)
    reads: set[Key] = field(default_factory=set)
    keeps: set[Key] = field(default_factory=set)

    @property
    def name(self) -> str:
        return f"{self.kind}:{'+'.join(self.models)}" if self.models else "task"

    def executor(self, plan: StagePlan, concurrency: int = 64) -> StageExecutor:
        """What runs this stage's nodes over rows (in this process)."""
        steps = [s for s in plan.steps if s.name in set(self.nodes)]
        return StageExecutor(steps, self.keeps, concurrency)


@dataclass
class StagePlan:
    """A graph cut into stages (see the module docstring)."""

    graph: Any
    stages: list[Stage]
    steps: list[Step]
    outputs: dict[str, Key]

    def text(self) -> str:
        """The plan as ``socratic show --engine ray`` prints it."""
        lines = [f"ray plan of '{self.graph.name}': {len(self.stages)} stage(s), rows flow top to bottom",
                 "  read    data parts in parallel tasks (JSONL, CSV, Parquet, image folders), row checks"]
        for s in self.stages:
            if s.models:
                names = ", ".join(f"{n} ({getattr(m, 'name', type(m).__name__)})"
                                  for n, m in s.models.items())
                lines.append(f"  {s.index + 1}. model stage, actor pool of {names}: {', '.join(s.nodes)}")
                lines.append(f"       {s.resources.describe()}")
            else:
                lines.append(f"  {s.index + 1}. task stage (fused, no model): {', '.join(s.nodes)}")
            carried = sorted(f"{n}.{k}" for n, k in s.keeps)
            lines.append(f"       passes on: {', '.join(carried) or 'outputs only'}")
        lines.append("  write   result records to the driver: JSONL file or Parquet folder (resumable)")
        lines.append("  (* = default, fitted to the cluster's CPUs and GPUs at run time; a models: entry")
        lines.append("   sets resources: {num_gpus, num_cpus, replicas, batch_size})")
        return "\n".join(lines)

    def as_dict(self) -> list[dict[str, Any]]:
        return [{"stage": s.index + 1, "kind": s.kind, "nodes": s.nodes,
                 "models": {n: getattr(m, "name", type(m).__name__) for n, m in s.models.items()},
                 **({"resources": {"num_cpus": s.resources.num_cpus, "num_gpus": s.resources.num_gpus,
                                   "replicas": list(s.resources.replicas),
                                   "batch_size": s.resources.batch_size}} if s.models else {})}
                for s in self.stages]


def plan_stages(graph: Any) -> StagePlan:
    """Cut a validated graph into stages (see the module docstring)."""
    plan: Plan = graph.plan()
    steps = plan.steps
    names = {id(m): n for n, m in graph.models.items()}
    deps = graph.dependencies()

    def key(step: Step) -> tuple[int, ...] | None:
        models = step.node.models()
        return tuple(id(m) for m in models) if models else None

    done: set[str] = set()
    stages: list[Stage] = []
    while len(done) < len(steps):
        ready = [s for s in steps if s.name not in done and deps[s.name] <= done]
        light = [s for s in ready if key(s) is None]
        want = None if light else key(ready[0])
        members: list[Step] = []
        while True:
            new = [s for s in steps if s.name not in done and deps[s.name] <= done and key(s) == want]
            if not new:
                break
            members += new
            done.update(s.name for s in new)
        models: dict[str, Any] = {}
        for s in members:
            for m in s.node.models():
                models.setdefault(names.get(id(m)) or getattr(m, "name", None) or f"model{len(models)}", m)
        stages.append(Stage(len(stages), "model" if want else "task", [s.name for s in members], models))
    _liveness(stages, steps, plan.outputs)
    for stage in stages:
        if stage.models:
            stage.resources = default_resources(stage, steps)
    return StagePlan(graph, stages, steps, dict(plan.outputs))


def _liveness(stages: list[Stage], steps: list[Step], outputs: dict[str, Key]) -> None:
    """What each stage reads from earlier ones and must pass on to later ones."""
    by_name = {s.name: s for s in steps}
    needed: set[Key] = set(outputs.values())
    for stage in reversed(stages):
        stage.keeps = set(needed)
        made = {(n, out) for n in stage.nodes for out in by_name[n].out_names}
        reads = {key for n in stage.nodes for key in _step_reads(by_name[n])}
        stage.reads = reads - made
        needed = (needed - made) | stage.reads


def _step_reads(step: Step) -> set[Key]:
    keys = {key for _, key in step.args} | {key for _, key in step.fan}
    for _, pack in step.packs:
        keys |= {(ref.node, ref.socket) for _, ref in pack.refs}
    return keys


def default_resources(stage: Stage, steps: list[Step]) -> StageResources:
    """A model stage's resources: the first ``resources:`` entry among its models, defaults for
    what it leaves unset (remote backends ``num_cpus`` 0.25, others 1; ``num_gpus`` from the
    backend, else 0; one actor; batch: the largest batch of its batchable nodes, else the
    model's concurrency, at most 256)."""
    given: dict[str, Any] = {}
    for m in stage.models.values():
        res = getattr(getattr(m, "config", None), "resources", None)
        if res is not None:
            given = res.model_dump(exclude_none=True)
            break
    first = next(iter(stage.models.values()))
    defaults = dict(getattr(first, "default_resources", None) or {})
    remote = getattr(first, "backend", "") in REMOTE_BACKENDS
    by_name = {s.name: s for s in steps}
    batch_sizes = [int(getattr(by_name[n].node, "batch_size", None) or by_name[n].node.max_batch_size)
                   for n in stage.nodes if by_name[n].node.batchable]
    batch = max(batch_sizes) if batch_sizes else int(getattr(first, "max_concurrency", 1) or 1)
    replicas = given.get("replicas", defaults.get("replicas", 1))
    return StageResources(
        num_cpus=float(given.get("num_cpus", defaults.get("num_cpus", 0.25 if remote else 1.0))),
        num_gpus=float(given.get("num_gpus", defaults.get("num_gpus", 0.0))),
        replicas=(replicas, replicas) if isinstance(replicas, int) else tuple(replicas),
        batch_size=int(given.get("batch_size", defaults.get("batch_size", min(256, max(1, batch))))),
        given=frozenset(given),
    )


def fit_resources(plan: StagePlan, cpus: float, gpus: float = 0.0) -> list[str]:
    """Fit the default resources of model stages to a cluster of ``cpus`` CPUs and ``gpus``
    GPUs, in place; returns warnings about values the graph set. One CPU (half of a 1-CPU
    cluster) is left for read, task and write work: with every CPU held by actors, read tasks
    cannot run and the pipeline stalls. Local models default to one GPU each when the cluster
    has GPUs; defaults are scaled down (fractions share a CPU or GPU) until they fit.

    Example:
        >>> from socratic.spec import load_graph_text
        >>> plan = plan_stages(load_graph_text(_TWO_MODELS))
        >>> _ = fit_resources(plan, cpus=2)
        >>> [s.resources.num_cpus for s in plan.stages if s.models]   # 0.25 and 1, scaled to 1 CPU
        [0.2, 0.8]
    """
    warnings: list[str] = []
    model_stages = [s for s in plan.stages if s.models]
    for s in model_stages:
        r = s.resources
        remote = getattr(next(iter(s.models.values())), "backend", "") in REMOTE_BACKENDS
        if gpus and "num_gpus" not in r.given and not remote and r.num_gpus == 0:
            device = str(getattr(next(iter(s.models.values())).config, "device", "auto"))
            if device != "cpu":
                r.num_gpus = 1.0
    for resource, total, reserve in (("num_cpus", cpus, min(1.0, cpus / 2)), ("num_gpus", gpus, 0.0)):
        budget = total - reserve
        fixed = sum(getattr(s.resources, resource) * s.resources.replicas[1] for s in model_stages
                    if resource in s.resources.given)
        free = [s for s in model_stages if resource not in s.resources.given
                and getattr(s.resources, resource) > 0]
        want = sum(getattr(s.resources, resource) * s.resources.replicas[1] for s in free)
        if fixed > budget and fixed > 0:
            unit = "CPU" if resource == "num_cpus" else "GPU"
            warnings.append(f"the graph's models ask for {_num(fixed)} {unit}(s) but the"
                            f" cluster has {_num(total)}" + (f", {_num(reserve)} of which is left for"
                                                            " reading and writing" if reserve else "")
                            + ": the pipeline may wait for resources that never come")
        room = max(budget - fixed, 0.0)
        if want > room and free:
            scale = room / want if room > 0 else 0.0
            for s in free:
                value = getattr(s.resources, resource) * scale
                if resource == "num_cpus":
                    value = max(value, 0.05)
                setattr(s.resources, resource, round(value, 3))
                s.resources.note = f"defaults fitted to {_num(cpus)} CPU, {_num(gpus)} GPU"
    return warnings


_TWO_MODELS = """
models:
  a: {backend: replay, path: a.jsonl}
  b: {backend: hf, model: ./lm}
nodes:
  one: {type: llm.generate, model: a, template: "{{ x }}", x: "${inputs.x}"}
  two: {type: llm.generate, model: b, template: "{{ y }}", y: "${one.text}"}
inputs: {x: str}
outputs: {y: "${two.text}"}
"""


class StageExecutor:
    """Runs some steps of a compiled plan over a batch of :class:`RowState` s, in place: calls
    to batchable nodes from the rows are grouped into real batches (the local scheduler's
    :class:`~socratic.scheduler.Batcher`), a failing row gets its error and the rest go on.

    Example:
        >>> from socratic import Graph, node
        >>> @node
        ... def inc(x: int) -> int:
        ...     return x + 1
        >>> g = Graph(); g.add_input("x", int); g.add("i", inc, x="inputs.x"); g.add_output("y", "i.output")
        >>> ex = StageExecutor(g.plan().steps, keeps={("i", "output")})
        >>> rows = ex.run([RowState(values={("inputs", "x"): 1}), RowState(values={("inputs", "x"): "a"})])
        >>> rows[0].values, rows[1].error["node"]
        ({('i', 'output'): 2}, 'i')
    """

    def __init__(self, steps: list[Step], keeps: set[Key], concurrency: int = 64) -> None:
        self.plan = _subplan(steps)
        self.keeps = keeps
        self.concurrency = max(1, concurrency)

    def run(self, rows: list[RowState]) -> list[RowState]:
        live = [r for r in rows if r.error is None]
        if self.plan.steps and live:
            if self.plan.all_inline:
                for row in live:
                    try:
                        self.plan.execute_sync(row.values)
                    except Exception as exc:
                        row.error = error_result(exc)
            else:
                asyncio.run(self._arun(live))
        for row in rows:
            row.values = {} if row.error else {k: v for k, v in row.values.items() if k in self.keeps}
        return rows

    async def _arun(self, rows: list[RowState]) -> None:
        ctx = RunContext(concurrency=self.concurrency)
        limit = asyncio.Semaphore(self.concurrency)

        async def one(row: RowState) -> None:
            async with limit:
                try:
                    await self.plan.execute(row.values, ctx)
                except Exception as exc:
                    row.error = error_result(exc)

        await asyncio.gather(*(one(r) for r in rows))


def _subplan(steps: list[Step]) -> Plan:
    """A plan of some steps (in their order); values from outside them come in with the rows."""
    index = {s.name: i for i, s in enumerate(steps)}
    by_old = {s.index: s.name for s in steps}
    out: list[Step] = []
    for i, s in enumerate(steps):
        inside = {n for n, _ in _step_reads(s) if n != INPUTS and n in index}
        out.append(replace(s, index=i, n_deps=len(inside),
                           dependents=sorted(index[by_old[d]] for d in s.dependents if d in by_old)))
    return Plan(out, {})
