"""Executes a validated graph: sync nodes inline, async and blocking nodes as tasks.

- A pure-sync stretch of the graph pays no asyncio cost: ready sync nodes run inline, in
  topological order, straight from the scheduler loop (a graph of only such nodes runs with no
  event loop at all).
- Async nodes and ``blocking`` nodes (run in worker threads) run concurrently under a global
  limit and each model's own limit (``max_concurrency``).
- ``batchable`` nodes get a :class:`Batcher`: calls from ``for_each`` items and from concurrent
  rows of a dataset run are grouped into real batches (while one batch computes, the next one
  fills). If a batch fails, its calls are retried one by one so one bad row fails alone.

Example:
    >>> from socratic import Graph, node
    >>> @node
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> g = Graph(); g.add_input("x", int); g.add("d", double, x="inputs.x")
    >>> g.add_output("y", "d.output")
    >>> g.plan().all_inline
    True
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .errors import NodeError
from .node import FunctionNode, Node
from .refs import INPUTS, Pack, Ref

Key = tuple[str, str]


@dataclass
class Step:
    """One node of the compiled plan."""

    index: int
    name: str
    node: Node
    args: list[tuple[str, Key]]
    consts: dict[str, Any]
    fan: list[tuple[str, Key]]
    out_names: list[str]
    inline: bool
    #: sockets bound to lists/mappings with references inside: (socket, pack)
    packs: list[tuple[str, Any]] = field(default_factory=list)
    dependents: list[int] = field(default_factory=list)
    n_deps: int = 0
    #: a single-output sync function node: call the function and store its value directly
    fast_fn: Any = None
    single: str = ""


class Batcher:
    """Groups calls to one batchable node into batches (continuous batching).

    Example:
        >>> import asyncio
        >>> from socratic.node import Node
        >>> class Square(Node):
        ...     outputs = {"y": int}
        ...     batchable = True
        ...     sizes = []
        ...     def run(self, x: int):
        ...         return {"y": x * x}
        ...     def run_batch(self, calls):
        ...         Square.sizes.append(len(calls))
        ...         return [{"y": c["x"] ** 2} for c in calls]
        >>> async def main():
        ...     b = Batcher(Square())
        ...     return await asyncio.gather(*(b.submit({"x": i}) for i in range(5)))
        >>> [r["y"] for r in asyncio.run(main())], Square.sizes
        ([0, 1, 4, 9, 16], [5])
    """

    def __init__(self, node: Node, limiter: asyncio.Semaphore | None = None) -> None:
        self.node = node
        self.max_batch = int(getattr(node, "batch_size", None) or node.max_batch_size)
        self.limiter = limiter
        self.queue: deque[tuple[dict[str, Any], asyncio.Future[Any]]] = deque()
        self.worker: asyncio.Task[None] | None = None
        self.batches = 0

    async def submit(self, call: dict[str, Any]) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queue.append((call, fut))
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self._work())
        return await fut

    async def _run(self, calls: list[dict[str, Any]]) -> list[Any]:
        if self.limiter is None:
            return await self.node.arun_batch(calls)
        async with self.limiter:
            return await self.node.arun_batch(calls)

    async def _work(self) -> None:
        while self.queue:
            for _ in range(4):  # let rows that are about to submit do so
                await asyncio.sleep(0)
            batch = [self.queue.popleft() for _ in range(min(self.max_batch, len(self.queue)))]
            calls = [c for c, _ in batch]
            self.batches += 1
            try:
                results = await self._run(calls)
                if len(results) != len(calls):
                    raise RuntimeError(
                        f"run_batch returned {len(results)} results for {len(calls)} calls"
                    )
            except Exception as batch_exc:
                if len(batch) == 1 or _fails_every_call(batch_exc):
                    for _, fut in batch:  # nothing to isolate: every call gets the error
                        if not fut.done():
                            fut.set_exception(batch_exc)
                    continue
                else:  # isolate the failing call(s): one by one
                    for call, fut in batch:
                        try:
                            (res,) = await self._run([call])
                        except Exception as exc:
                            if not fut.done():
                                fut.set_exception(exc)
                        else:
                            if not fut.done():
                                fut.set_result(res)
                    continue
            for (_, fut), res in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if isinstance(res, BaseException):  # this call's own outcome (e.g. a dropped row)
                    fut.set_exception(res)
                else:
                    fut.set_result(res)


def _fails_every_call(exc: BaseException) -> bool:
    """Errors that no call of the batch can escape (a model that cannot load)."""
    from .errors import ModelLoadError

    return isinstance(exc, ModelLoadError)


class RunContext:
    """State shared by the rows of one run: batchers, concurrency limits."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = max(1, concurrency)
        self.global_limit = asyncio.Semaphore(self.concurrency)
        self.batchers: dict[int, Batcher] = {}
        self.model_limits: dict[int, asyncio.Semaphore] = {}
        self._lock = threading.Lock()

    def model_limit(self, node: Node) -> asyncio.Semaphore | None:
        models = node.models()
        if not models or (not node.blocking and not node.batchable):
            return None
        model = models[0]
        sem = self.model_limits.get(id(model))
        if sem is None:
            limit = int(getattr(model, "max_concurrency", 1) or 1)
            sem = self.model_limits[id(model)] = asyncio.Semaphore(limit)
        return sem

    def batcher(self, node: Node) -> Batcher:
        b = self.batchers.get(id(node))
        if b is None:
            b = self.batchers[id(node)] = Batcher(node, self.model_limit(node))
        return b


def _output(step: Step, result: Any) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise TypeError(
            f"node returned {type(result).__name__}, expected a dict with {step.out_names}"
        )
    missing = [n for n in step.out_names if n not in result]
    if missing:
        raise KeyError(f"node returned no output '{missing[0]}' (it returned {list(result)})")
    return result


class Plan:
    """A graph compiled for execution (built by :func:`compile_plan`)."""

    def __init__(self, steps: list[Step], outputs: dict[str, Key]) -> None:
        self.steps = steps
        self.outputs = outputs
        self.roots = [s.index for s in steps if s.n_deps == 0]
        self.all_inline = all(s.inline for s in steps)

    # -- helpers --------------------------------------------------------------------------
    @staticmethod
    def _kwargs(step: Step, values: dict[Key, Any]) -> dict[str, Any]:
        kw = dict(step.consts) if step.consts else {}
        for socket, key in step.args:
            kw[socket] = values[key]
        for socket, pack in step.packs:
            kw[socket] = pack.build(lambda ref: values[(ref.node, ref.socket)])
        return kw

    def _store(self, step: Step, result: dict[str, Any], values: dict[Key, Any]) -> None:
        name = step.name
        for out in step.out_names:
            values[(name, out)] = result[out]

    def _collect(self, values: dict[Key, Any]) -> dict[str, Any]:
        return {name: values[key] for name, key in self.outputs.items()}

    # -- pure sync --------------------------------------------------------------------------
    def _exec_inline(self, step: Step, vals: dict[Key, Any]) -> None:
        """Run a sync, non-blocking node right here and store its outputs."""
        kw = self._kwargs(step, vals)
        try:
            if step.fast_fn is not None:
                vals[(step.name, step.single)] = step.fast_fn(**kw)
                return
            result = self._fan_sync(step, kw, vals) if step.fan else _output(step, step.node.run(**kw))
        except NodeError:
            raise
        except Exception as exc:
            raise NodeError(step.name, exc) from exc
        self._store(step, result, vals)

    def run_sync(self, values: dict[str, Any]) -> dict[str, Any]:
        vals: dict[Key, Any] = {(INPUTS, k): v for k, v in values.items()}
        return self._collect(self.execute_sync(vals))

    def execute_sync(self, vals: dict[Key, Any]) -> dict[Key, Any]:
        """Run every step inline on ``vals`` (the values keyed ``(node, socket)`` the steps read,
        graph inputs under ``"inputs"``) and return it with the steps' outputs added."""
        for step in self.steps:  # steps are in topological order
            self._exec_inline(step, vals)
        return vals

    def _fan_items(self, step: Step, kw: dict[str, Any], values: dict[Key, Any]) -> list[dict]:
        lists = [(socket, values[key]) for socket, key in step.fan]
        lengths = {len(v) for _, v in lists}
        if len(lengths) > 1:
            desc = ", ".join(f"{s}: {len(v)}" for s, v in lists)
            raise ValueError(f"for_each lists have different lengths ({desc})")
        n = lengths.pop() if lengths else 0
        return [{**kw, **{s: v[i] for s, v in lists}} for i in range(n)]

    def _fan_sync(self, step: Step, kw: dict[str, Any], values: dict[Key, Any]) -> dict:
        outs: dict[str, list[Any]] = {n: [] for n in step.out_names}
        for i, item in enumerate(self._fan_items(step, kw, values)):
            try:
                r = _output(step, step.node.run(**item))
            except Exception as exc:
                raise NodeError(step.name, exc, item=i) from exc
            for n in step.out_names:
                outs[n].append(r[n])
        return outs

    # -- async --------------------------------------------------------------------------
    async def _call(self, step: Step, call: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        node = step.node
        if node.batchable:
            return _output(step, await ctx.batcher(node).submit(call))
        limit = ctx.model_limit(node)
        async with ctx.global_limit:
            if limit is None:
                return _output(step, await node.arun(**call))
            async with limit:
                return _output(step, await node.arun(**call))

    async def _run_step(
        self, step: Step, values: dict[Key, Any], ctx: RunContext
    ) -> dict[str, Any]:
        kw = self._kwargs(step, values)
        if not step.fan:
            try:
                return await self._call(step, kw, ctx)
            except NodeError:
                raise
            except Exception as exc:
                raise NodeError(step.name, exc) from exc
        try:
            items = self._fan_items(step, kw, values)
        except Exception as exc:
            raise NodeError(step.name, exc) from exc

        async def one(i: int, item: dict[str, Any]) -> dict[str, Any]:
            try:
                return await self._call(step, item, ctx)
            except Exception as exc:
                raise NodeError(step.name, exc, item=i) from exc

        tasks = [asyncio.ensure_future(one(i, it)) for i, it in enumerate(items)]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            raise
        return {n: [r[n] for r in results] for n in step.out_names}

    async def arun(
        self, values: dict[str, Any], ctx: RunContext | None = None
    ) -> dict[str, Any]:
        vals: dict[Key, Any] = {(INPUTS, k): v for k, v in values.items()}
        return self._collect(await self.execute(vals, ctx))

    async def execute(self, vals: dict[Key, Any], ctx: RunContext | None = None) -> dict[Key, Any]:
        """Run the steps on ``vals`` (see :meth:`execute_sync`), concurrently where they allow."""
        ctx = ctx or RunContext(concurrency=16)
        steps = self.steps
        remaining = [s.n_deps for s in steps]
        ready = deque(self.roots)
        running: dict[asyncio.Future[Any], Step] = {}

        def release(step: Step) -> None:
            for d in step.dependents:
                remaining[d] -= 1
                if remaining[d] == 0:
                    ready.append(d)

        try:
            while ready or running:
                while ready:
                    step = steps[ready.popleft()]
                    if step.inline:
                        self._exec_inline(step, vals)
                        release(step)
                    elif not ready and not running:  # the only work left: no task needed
                        self._store(step, await self._run_step(step, vals, ctx), vals)
                        release(step)
                    else:
                        task = asyncio.ensure_future(self._run_step(step, vals, ctx))
                        running[task] = step
                if running:
                    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        step = running.pop(task)
                        self._store(step, task.result(), vals)
                        release(step)
        finally:
            for task in running:
                task.cancel()
        return vals


def compile_plan(graph: Any) -> Plan:
    """Topologically order the graph's nodes (``graphlib``; insertion order among peers) and
    precompute each node's argument sources."""
    from graphlib import TopologicalSorter

    deps = graph.dependencies()
    sorter = TopologicalSorter(deps)
    sorter.prepare()
    rank = {n: i for i, n in enumerate(graph.nodes)}
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=rank.__getitem__)
        order += ready
        sorter.done(*ready)
    index = {n: i for i, n in enumerate(order)}
    users: dict[str, list[str]] = {n: [] for n in order}
    for n, ds in deps.items():
        for d in ds:
            users[d].append(n)
    steps: list[Step] = []
    for n in order:
        entry = graph.nodes[n]
        node = entry.node
        inline = not (node.is_async or node.blocking or node.batchable)
        fast = (
            isinstance(node, FunctionNode) and inline and node.single_output is not None
            and not entry.for_each
        )
        steps.append(
            Step(
                index=index[n],
                name=n,
                node=node,
                args=[(s, (r.node, r.socket)) for s, r in entry.bindings.items() if isinstance(r, Ref)],
                packs=[(s, r) for s, r in entry.bindings.items() if isinstance(r, Pack)],
                consts=dict(entry.constants),
                fan=[(s, (r.node, r.socket)) for s, r in entry.for_each.items()],
                out_names=list(entry.outputs),
                inline=inline,
                n_deps=len(deps[n]),
                dependents=sorted(index[u] for u in users[n]),
                fast_fn=type(node).fn if fast else None,
                single=node.single_output if fast else "",
            )
        )
    outputs = {name: (r.node, r.socket) for name, r in graph.outputs.items()}
    return Plan(steps, outputs)
