"""Graph: typed nodes wired socket to socket, checked as you build it, run async.

Connections are type-checked at once (:func:`socratic.types.is_assignable`); a list is never
silently turned into a scalar: to run a node once per element use ``for_each``. ``validate``
reports every problem at once (unknown references, type mismatches, cycles, unbound required
inputs); graphs loaded from YAML carry file/line/column for each.

Example:
    >>> from socratic import Graph, node
    >>> @node
    ... def upper(text: str) -> str:
    ...     return text.upper()
    >>> @node
    ... def exclaim(text: str, times: int = 1) -> str:
    ...     return text + "!" * times
    >>> g = Graph("shout")
    >>> g.add_input("text", str)
    >>> g.add("up", upper, text="inputs.text")
    >>> g.add("ex", exclaim, text="up.output", times=Const(2))
    >>> g.add_output("result", "ex.output")
    >>> g.run(text="hi")
    {'result': 'HI!!'}
    >>> try:
    ...     g.connect("inputs.text", "ex.times")
    ... except GraphError as exc:
    ...     print(exc.message)
    type mismatch: ${inputs.text} is str but 'ex.times' expects int
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import GraphError, InputError, Location, ValidationFailed, did_you_mean, shorten
from .node import REQUIRED, Node, Socket
from .refs import INPUTS, Const, Pack, Ref, read_value
from .types import coerce_value, element_type, is_assignable, leaves, path_text, type_at, type_name


@dataclass
class GraphInput:
    """A named, typed input of a graph (optional when it has a default)."""

    name: str
    type: Any
    default: Any = REQUIRED
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass
class NodeEntry:
    """A node placed in a graph, with its bindings (references / constants) and fan-out."""

    name: str
    node: Node
    bindings: dict[str, Ref | Pack] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    for_each: dict[str, Ref] = field(default_factory=dict)
    locations: dict[str, Location] = field(default_factory=dict)
    inputs: dict[str, Socket] = field(default_factory=dict)
    outputs: dict[str, Socket] = field(default_factory=dict)

    def where(self, key: str = "") -> Location:
        return self.locations.get(key) or self.locations.get("") or Location()

    def sources(self) -> Iterator[tuple[str, Ref]]:
        """``(socket, reference)`` for every reference the node reads (inside packs too)."""
        for socket, b in self.bindings.items():
            if isinstance(b, Pack):
                yield from ((socket, ref) for _, ref in b.refs)
            else:
                yield socket, b
        yield from self.for_each.items()


class Graph:
    """A typed prompt graph (see the module docstring).

    ``models`` holds the named model resources (from a YAML ``models:`` section); nodes hold
    references to the same objects, so each is loaded once and shared.
    """

    def __init__(self, name: str = "graph", *, description: str = "", file: str | None = None):
        self.name = name
        self.description = description
        self.file = file
        self.inputs: dict[str, GraphInput] = {}
        self.nodes: dict[str, NodeEntry] = {}
        self.outputs: dict[str, Ref] = {}
        self.output_locations: dict[str, Location] = {}
        self.input_locations: dict[str, Location] = {}
        self.models: dict[str, Any] = {}
        self.prompt_dirs: list[str] = []
        self._plan: Any = None

    # -- building ------------------------------------------------------------------------
    def add_input(
        self, name: str, type: Any = Any, *, default: Any = REQUIRED, description: str = ""
    ) -> None:
        """Declare a graph input; a default makes it optional."""
        if default is not REQUIRED:  # None only for optional (or any) types
            default = coerce_value(default, type, what=f"default of input '{name}'")
        self.inputs[name] = GraphInput(name, type, default, description)
        self._plan = None

    def add(
        self,
        name: str,
        node: Node | type[Node],
        /,
        *,
        for_each: dict[str, str | Ref] | None = None,
        **bindings: Any,
    ) -> None:
        """Add a node. String (or :class:`Ref`) bindings are references, checked at once; lists
        and dicts with :class:`Ref` objects inside are packs (each reference checked against its
        element's type); :class:`Const` or other values are constants. ``for_each`` maps a socket
        to a list-typed source: the node runs once per element and its outputs become lists."""
        if name in self.nodes or name == INPUTS:
            raise GraphError(f"a node named '{name}' already exists")
        entry = self.add_node(name, node)
        try:
            for socket, src in (for_each or {}).items():
                self._bind(entry, socket, src, fan=True, check=True, fresh=True)
            for socket, value in bindings.items():
                if isinstance(value, Const):
                    self.set_constant(name, socket, value.value)
                    continue
                value = value if isinstance(value, str) else read_value(value, refs_as=Ref)
                if isinstance(value, (str, Ref, Pack)):
                    self._bind(entry, socket, value, check=True, fresh=True)
                else:
                    self.set_constant(name, socket, value)
        except GraphError:
            del self.nodes[name]
            raise

    def add_node(self, name: str, node: Node | type[Node]) -> NodeEntry:
        """Place a node without binding or checking anything (loaders that bind sockets one by
        one and call :meth:`validate` at the end use this); returns its entry."""
        if isinstance(node, type):
            node = node()
        if not isinstance(node, Node):
            raise GraphError(f"node '{name}': expected a Node, got {type(node).__name__}")
        entry = NodeEntry(name, node, inputs=node.input_sockets(), outputs=node.output_sockets())
        self.nodes[name] = entry
        self._plan = None
        return entry

    def connect(self, source: str | Ref, target: str) -> None:
        """Connect ``source`` (``inputs.X`` or ``node.socket``) to ``target`` (``node.socket``)."""
        dst = Ref.parse(target)
        if dst.node not in self.nodes:
            raise GraphError(self._unknown_node_message(dst.node))
        self._bind(self.nodes[dst.node], dst.socket, source, check=True)

    def set_constant(self, node: str, socket: str, value: Any) -> None:
        """Bind a constant value to a node's input socket (checked against its type)."""
        entry = self.nodes[node]
        if socket not in entry.inputs:
            raise GraphError(self._no_input_message(entry, socket))
        tp = entry.inputs[socket].type
        try:
            value = coerce_value(value, tp, what=f"'{node}.{socket}'")
        except TypeError as exc:
            raise GraphError(str(exc)) from None
        entry.bindings.pop(socket, None)
        entry.constants[socket] = value
        self._plan = None

    def _bind(
        self,
        entry: NodeEntry,
        socket: str,
        source: str | Ref | Pack,
        *,
        fan: bool = False,
        check: bool,
        fresh: bool = False,
    ) -> None:
        """Bind a socket; ``fresh``: the node was just added, so nothing reads it yet and no
        edge into it can close a cycle (building a graph node by node stays linear)."""
        ref = source if isinstance(source, (Ref, Pack)) else Ref.parse(source)
        if isinstance(ref, Pack):
            ref = self.coerce_pack(entry, socket, ref)
        target = entry.for_each if fan else entry.bindings
        other = entry.bindings if fan else entry.for_each
        other.pop(socket, None)
        entry.constants.pop(socket, None)
        target[socket] = ref
        self._plan = None
        if check:
            problems = self._check_binding(entry, socket, ref, fan)
            if not problems and not fresh:
                problems = self._cycle_errors(only_through=entry.name)
            if problems:
                del target[socket]
                raise problems[0]

    def add_output(self, name: str, source: str | Ref) -> None:
        """Expose a node output (or an input) as a graph output."""
        ref = source if isinstance(source, Ref) else Ref.parse(source)
        problem = self._check_ref(ref, f"output '{name}'", None)
        if problem:
            raise problem
        self.outputs[name] = ref
        self._plan = None

    # -- types ---------------------------------------------------------------------------
    def ref_type(self, ref: Ref) -> Any:
        """The type a reference carries (node outputs become lists under ``for_each``)."""
        if ref.is_input:
            return self.inputs[ref.socket].type
        entry = self.nodes[ref.node]
        tp = entry.outputs[ref.socket].type
        return list[tp] if entry.for_each else tp

    @property
    def input_types(self) -> dict[str, Any]:
        return {n: i.type for n, i in self.inputs.items()}

    @property
    def output_types(self) -> dict[str, Any]:
        out = {}
        for name, ref in self.outputs.items():
            try:
                out[name] = self.ref_type(ref)
            except KeyError:
                out[name] = Any
        return out

    # -- validation ----------------------------------------------------------------------
    def _unknown_node_message(self, name: str) -> str:
        return f"no node named '{shorten(name, 100)}'{did_you_mean(name, [*self.nodes, INPUTS])}"

    def _no_input_message(self, entry: NodeEntry, socket: str) -> str:
        names = ", ".join(entry.inputs) or "none"
        hint = did_you_mean(socket, entry.inputs)
        return f"node '{entry.name}' has no input '{shorten(socket, 100)}'{hint}; its inputs: {names}"

    def _err(self, message: str, loc: Location | None, **structure: Any) -> GraphError:
        loc = loc or Location(self.file)
        return GraphError(message, file=loc.file or self.file, line=loc.line, col=loc.col, **structure)

    def _check_ref(self, ref: Ref, used_by: str, loc: Location | None, **where: Any) -> GraphError | None:
        if ref.is_input:
            if ref.socket not in self.inputs:
                names = ", ".join(self.inputs) or "none"
                hint = did_you_mean(ref.socket, self.inputs)
                return self._err(
                    f"{used_by}: {ref} refers to an unknown graph input '{ref.socket}'{hint};"
                    f" inputs: {names}", loc, kind="unknown_input", **where)
            return None
        if ref.node not in self.nodes:
            return self._err(f"{used_by}: {ref} refers to {self._unknown_node_message(ref.node)}", loc,
                             kind="unknown_node", ref_node=ref.node, **where)
        outs = self.nodes[ref.node].outputs
        if ref.socket not in outs:
            hint = did_you_mean(ref.socket, outs)
            return self._err(
                f"{used_by}: node '{ref.node}' has no output '{ref.socket}'{hint};"
                f" its outputs: {', '.join(outs) or 'none'}", loc,
                kind="unknown_output", ref_node=ref.node, **where)
        return None

    def _check_binding(
        self, entry: NodeEntry, socket: str, ref: Ref | Pack, fan: bool
    ) -> list[GraphError]:
        key = f"for_each.{socket}" if fan else socket
        loc = entry.where(key)
        where = {"node": entry.name, "socket": socket}
        if socket not in entry.inputs:
            return [self._err(self._no_input_message(entry, socket), loc, kind="no_such_input", **where)]
        if isinstance(ref, Pack):
            return self._check_pack(entry, socket, ref)
        target = f"'{entry.name}.{socket}'"
        problem = self._check_ref(ref, f"input {target}", loc, **where)
        if problem:
            return [problem]
        src_t = self.ref_type(ref)
        dst_t = entry.inputs[socket].type
        if fan:
            elem = element_type(src_t)
            if elem is None:
                return [self._err(
                    f"for_each needs a list: {ref} is {type_name(src_t)}, so {target}"
                    f" (expects {type_name(dst_t)}) cannot run once per element", loc, kind="type", **where)]
            if not is_assignable(elem, dst_t):
                return [self._err(
                    f"type mismatch: for_each over {ref} gives {type_name(elem)} items but"
                    f" {target} expects {type_name(dst_t)}", loc, kind="type", **where)]
            return []
        if not is_assignable(src_t, dst_t):
            hint = ""
            if element_type(src_t) is not None and is_assignable(element_type(src_t), dst_t):
                hint = " (to run once per element, use for_each)"
            return [self._err(
                f"type mismatch: {ref} is {type_name(src_t)} but {target} expects"
                f" {type_name(dst_t)}{hint}", loc, kind="type", **where)]
        return []

    def _check_pack(self, entry: NodeEntry, socket: str, pack: Pack) -> list[GraphError]:
        """Each reference inside a list/mapping against the socket type's element at its
        place; the constants around them against theirs."""
        dst_t = entry.inputs[socket].type
        errors: list[GraphError] = []
        where = {"node": entry.name, "socket": socket}
        for path, ref in pack.refs:
            label = f"'{entry.name}.{socket}{path_text(path)}'"
            loc = entry.where(f"{socket}{path_text(path)}")
            problem = self._check_ref(ref, f"input {label}", loc, **where)
            if problem:
                errors.append(problem)
                continue
            expected = type_at(dst_t, path)
            src_t = self.ref_type(ref)
            if expected is None:
                errors.append(self._err(f"{ref} is placed at {label}, but the socket's type"
                                        f" {type_name(dst_t)} has no element there", loc,
                                        kind="type", **where))
            elif not is_assignable(src_t, expected):
                errors.append(self._err(f"type mismatch: {ref} is {type_name(src_t)} but {label}"
                                        f" expects {type_name(expected)}", loc, kind="type", **where))
        return errors

    def coerce_pack(self, entry: NodeEntry, socket: str, pack: Pack) -> Pack:
        """The pack with its constants checked and converted (paths become images for image
        elements ...) against the socket type; raises :class:`GraphError` for the first bad one."""
        dst_t = entry.inputs[socket].type if socket in entry.inputs else Any
        skip = {path for path, _ in pack.refs}
        template = copy.deepcopy(pack.template)
        for path, value in leaves(template, skip):
            label = f"'{entry.name}.{socket}{path_text(path)}'"
            expected = type_at(dst_t, path)
            if expected is None:
                raise GraphError(f"{label}: the socket's type {type_name(dst_t)} has no element there",
                                 kind="type", node=entry.name, socket=socket)
            try:
                converted = coerce_value(value, expected, what=label)
            except TypeError as exc:
                raise GraphError(str(exc), kind="type", node=entry.name, socket=socket) from None
            if path:
                target = template
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = converted
        return Pack(template, pack.refs)

    def dependencies(self) -> dict[str, set[str]]:
        """Node -> the nodes it reads from (references to unknown nodes left out)."""
        return {name: {r.node for _, r in e.sources() if not r.is_input and r.node in self.nodes}
                for name, e in self.nodes.items()}

    def _cycle_errors(self, only_through: str | None = None) -> list[GraphError]:
        """Every cycle (``graphlib`` finds one at a time; its nodes are set aside and the
        search goes on), or only those through the node ``only_through``."""
        from graphlib import CycleError, TopologicalSorter

        deps = self.dependencies()
        errors: list[GraphError] = []
        while True:
            try:
                TopologicalSorter(deps).prepare()
                return errors
            except CycleError as exc:
                cycle = list(reversed(exc.args[1]))  # a -> b: a reads from b
                first = min(range(len(cycle) - 1), key=lambda i: cycle[i])
                cycle = [*cycle[first:-1], *cycle[:first], cycle[first]]
                if only_through is None or only_through in cycle:
                    errors.append(self._err(f"cycle: {' -> '.join(cycle)}", self.nodes[cycle[0]].where(),
                                            kind="cycle", node=cycle[0]))
                for n in cycle:
                    deps.pop(n, None)
                deps = {n: d - set(cycle) for n, d in deps.items()}

    def validate(self) -> list[GraphError]:
        """Every problem at once, structured (``node``, ``socket``, ``kind``): references,
        types, cycles, unbound inputs, outputs."""
        errors: list[GraphError] = []
        for entry in self.nodes.values():
            for socket, ref in entry.bindings.items():
                errors += self._check_binding(entry, socket, ref, False)
            for socket, ref in entry.for_each.items():
                errors += self._check_binding(entry, socket, ref, True)
            for socket in entry.constants:
                if socket not in entry.inputs:
                    errors.append(self._err(self._no_input_message(entry, socket), entry.where(socket),
                                            kind="no_such_input", node=entry.name, socket=socket))
            bound = {*entry.bindings, *entry.constants, *entry.for_each}
            for message in getattr(entry.node, "binding_problems", lambda _: [])(bound):
                errors.append(self._err(f"node '{entry.name}': {message}", entry.where(),
                                        kind="binding", node=entry.name))
            for sname, sock in entry.inputs.items():
                if sock.required and sname not in bound:
                    origin = f" ({sock.description})" if sock.description else ""
                    errors.append(self._err(
                        f"node '{entry.name}': required input '{sname}'"
                        f" ({type_name(sock.type)}){origin} has no source", entry.where(),
                        kind="unbound", node=entry.name, socket=sname))
        for name, ref in self.outputs.items():
            problem = self._check_ref(ref, f"output '{name}'", self.output_locations.get(name))
            if problem:
                errors.append(problem)
        errors += self._cycle_errors()
        return errors

    def check(self) -> Graph:
        """Raise :class:`ValidationFailed` listing every problem, or return the graph."""
        errors = self.validate()
        if errors:
            raise ValidationFailed(errors)
        return self

    # -- running -------------------------------------------------------------------------
    def prepare_inputs(self, given: dict[str, Any]) -> dict[str, Any]:
        """Check names and types of run inputs and fill in defaults."""
        unknown = [k for k in given if k not in self.inputs]
        if unknown:
            names = ", ".join(self.inputs) or "none"
            raise InputError(f"unknown input '{unknown[0]}' for graph '{self.name}'; inputs: {names}")
        values: dict[str, Any] = {}
        for name, spec in self.inputs.items():
            if name in given:
                try:
                    values[name] = coerce_value(given[name], spec.type, what=f"input '{name}'")
                except TypeError as exc:
                    raise InputError(str(exc)) from None
            elif spec.required:
                raise InputError(
                    f"missing required input '{name}' ({type_name(spec.type)}) for graph"
                    f" '{self.name}'"
                )
            else:
                d = spec.default
                values[name] = copy.deepcopy(d) if isinstance(d, (list, dict)) else d
        return values

    def plan(self) -> Any:
        if self._plan is None:
            from .scheduler import compile_plan

            self.check()
            self._plan = compile_plan(self)
        return self._plan

    def run(self, /, **inputs: Any) -> dict[str, Any]:
        """Run once and return the outputs (pure-sync graphs run without an event loop)."""
        plan = self.plan()
        values = self.prepare_inputs(inputs)
        if plan.all_inline:
            return plan.run_sync(values)
        import asyncio

        return asyncio.run(plan.arun(values))

    async def arun(self, /, **inputs: Any) -> dict[str, Any]:
        """Run once inside an event loop."""
        plan = self.plan()
        return await plan.arun(self.prepare_inputs(inputs))

    async def astream(
        self, rows: Iterable[Any] | None = None, /, *, concurrency: int = 8, **inputs: Any
    ) -> AsyncIterator[Any]:
        """Run and yield :class:`~socratic.scheduler.Event` objects as things happen: nodes
        started / finished / failed, token deltas of LLM nodes (``token``), and the end
        (``finished`` with the outputs). One run takes ``inputs`` (a failure raises after its
        ``node_failed`` event); a dataset run takes ``rows`` (events carry the row index, each
        row ends with ``finished`` or ``failed``, and a failing row never stops the others).

        Example:
            >>> import asyncio
            >>> from socratic import Graph, node
            >>> @node
            ... def up(text: str) -> str:
            ...     return text.upper()
            >>> g = Graph(); g.add_input("x", str); g.add("up", up, text="inputs.x")
            >>> g.add_output("y", "up.output")
            >>> async def kinds():
            ...     return [(e.kind, e.node) async for e in g.astream(x="hi")]
            >>> asyncio.run(kinds())
            [('node_started', 'up'), ('node_finished', 'up'), ('finished', None)]
        """
        import asyncio

        from .scheduler import Emitter, Event, RunContext, _emitter

        plan = self.plan()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        done = object()
        ctx = RunContext(concurrency=max(16, concurrency))

        async def one(row: int | None, given: dict[str, Any]) -> None:
            emitter = Emitter(queue, row)
            _emitter.set(emitter)  # this task's context only
            try:
                outputs = await plan.arun(self.prepare_inputs(given), ctx)
            except Exception as exc:
                emitter.emit("failed", node=getattr(exc, "node", None), error=exc)
                if row is None:
                    raise
                return
            emitter.emit("finished", outputs=outputs)

        async def drive() -> None:
            try:
                if rows is None:
                    await one(None, inputs)
                    return
                limit = asyncio.Semaphore(concurrency)
                tasks = []
                for i, row in enumerate(rows):
                    await limit.acquire()
                    if isinstance(row, BaseException) or not isinstance(row, dict):
                        error = row if isinstance(row, BaseException) else InputError(
                            f"row {i} is {type(row).__name__}, not a mapping of inputs")
                        queue.put_nowait(Event("failed", row=i, error=error))
                        limit.release()
                        continue
                    given = {k: v for k, v in row.items() if k in self.inputs}
                    task = asyncio.ensure_future(one(i, given))
                    task.add_done_callback(lambda _t: limit.release())
                    tasks.append(task)
                await asyncio.gather(*tasks)
            finally:
                queue.put_nowait(done)

        runner = asyncio.ensure_future(drive())
        try:
            while True:
                event = await queue.get()
                if event is done:
                    break
                yield event
            await runner  # raises a single run's error
        finally:
            if not runner.done():
                runner.cancel()

    def run_many(
        self, rows: Iterable[dict[str, Any]], *, concurrency: int = 8
    ) -> list[dict[str, Any]]:
        """Run over many input rows; each result is ``{"outputs": ...}`` or ``{"error": ...}``,
        in row order. A failing row never stops the others; keys that are not graph inputs are
        ignored. Batchable nodes get real batches across rows (see :mod:`socratic.runner`)."""
        from .runner import RowRunner

        records = RowRunner(self, concurrency=concurrency).collect(rows)
        return [{k: r[k] for k in ("outputs", "error", "node") if k in r} for r in records]

    async def aiter_many(
        self, rows: Iterable[Any], *, concurrency: int = 8
    ) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        """Yield ``(row_index, result)`` as rows finish, reading ``rows`` lazily (memory stays
        flat). A row that is an exception (an unreadable line) is reported as that row's error.
        """
        from .runner import LocalEngine, RowRunner

        runner = RowRunner(self, engine=LocalEngine(), concurrency=concurrency, ordered=False)
        async for rec in runner.aiter(rows):
            yield rec["index"], {k: rec[k] for k in ("outputs", "error", "node") if k in rec}

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        from .spec import graph_to_dict

        return graph_to_dict(self)

    def to_yaml(self) -> str:
        from .spec import graph_to_yaml

        return graph_to_yaml(self)

    @classmethod
    def from_yaml(cls, path: str, *, overrides: list[str] | None = None) -> Graph:
        """Load and validate a YAML graph file (raises ValidationFailed with every problem)."""
        from .spec import load_graph

        return load_graph(path, overrides=overrides)

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, nodes={list(self.nodes)})"
