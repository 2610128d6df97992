"""One row runner: a graph over many rows, behind ``socratic run --data``, ``socratic eval`` and
``Graph.run_many`` / ``Graph.aiter_many``.

What it does for every engine: bounded concurrency, a progress bar, error rows (a failing row
never stops the others), pass-through columns (row keys that are not graph inputs are copied to
the result unchanged, so ids and references travel), output in input order (a bounded reorder
window), resume by row id (a re-run with the same ``out`` keeps finished rows and runs the rest;
a half-written last line from a killed run is dropped), and a summary with the most common
errors. Engines run the rows (rows in, result rows out): :class:`LocalEngine` (asyncio, calls to
batchable models grouped across rows) and the Ray engine (:mod:`socratic.engines`: the graph cut
into stages, models as actor pools), which also reads data files itself in parallel
(:class:`DataEngine`). Results go to stdout, a JSONL file or a Parquet folder
(:mod:`socratic.results`).

Result records: ``{"index": i, ...extra columns, "outputs": {...}}``,
``{"index": i, ...extra columns, "error": "...", "node": "..."}``, or, for a row a filter node
removed (:class:`~socratic.errors.RowDropped`), ``{"index": i, ...extra columns, "dropped":
"reason"}`` (not a failure; counted by reason in the summary; done for resuming).

Example:
    >>> from socratic import Graph, node
    >>> @node
    ... def inc(x: int) -> int:
    ...     return x + 1
    >>> g = Graph(); g.add_input("x", int); g.add("i", inc, x="inputs.x")
    >>> g.add_output("y", "i.output")
    >>> runner = RowRunner(g)
    >>> for record in runner.collect([{"x": 1, "id": "a"}, {"x": "bad", "id": "b"}]):
    ...     print(record)
    {'index': 0, 'id': 'a', 'outputs': {'y': 2}}
    {'index': 1, 'id': 'b', 'error': "input 'x' expects int, got str 'bad'"}
    >>> runner.summary.as_dict()
    {'rows': 2, 'done': 1, 'failed': 1, 'skipped': 0}
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from .datasets import TextRow
from .errors import DataError, InputError, NodeError, RowDropped, SocraticError, shorten
from .types import parse_cli_value, to_jsonable

#: result fields a data column may not use
RESERVED = ("index", "outputs", "error", "node", "dropped")


class Engine(Protocol):
    """Runs a graph over rows: ``(index, inputs or an Exception)`` in, ``(index, result)`` out in
    any order, where ``result`` is ``{"outputs": ...}`` or ``{"error": ..., "node": ...}``. At
    most ``concurrency`` rows are in flight; with ``max_ahead``, no row starts more than that
    many places after the earliest unfinished one (bounds the reorder window)."""

    name: str

    def results(self, graph: Any, items: Iterable[tuple[int, Any]], *, concurrency: int,
                max_ahead: int | None = None) -> AsyncIterator[tuple[int, dict[str, Any]]]: ...


class DataEngine(Engine, Protocol):
    """An engine that also reads data files itself (in parallel, where the rows are): result
    records ``{"index", ...pass-through columns, "outputs" | "error"/"node"}`` of every row of
    ``data`` whose id (``runner.id_key`` column, else index) is not in ``skip``; it sets
    ``runner.summary.rows``. ``ordered``: records in row order."""

    def records(self, runner: RowRunner, data: str | os.PathLike[str], *, format: str,
                skip: set[Any]) -> AsyncIterator[dict[str, Any]]: ...


def split_row(graph: Any, row: Any) -> tuple[dict[str, Any] | Exception, dict[str, Any]]:
    """``(graph inputs or the row's error, pass-through columns)`` of one data row: keys that are
    graph inputs (CSV text read by each input's type) and the rest.

    Example:
        >>> from socratic import Graph
        >>> g = Graph(); g.add_input("t", str); g.add_output("same", "inputs.t")
        >>> split_row(g, {"t": "a", "id": 7})
        ({'t': 'a'}, {'id': 7})
    """
    if isinstance(row, Exception):
        return row, {}
    if not isinstance(row, dict):
        return DataError(f"a row must be a mapping, got {type(row).__name__}"), {}
    inputs = graph.inputs
    extras = {k: v for k, v in row.items() if k not in inputs}
    clash = [k for k in extras if k in RESERVED]
    if clash:
        return DataError(f"column '{clash[0]}' has the name of a result field ({', '.join(RESERVED)});"
                         " rename it"), {k: v for k, v in extras.items() if k not in RESERVED}
    given = {k: v for k, v in row.items() if k in inputs}
    if isinstance(row, TextRow):
        try:
            given = {k: _from_text(v, inputs[k].type, k) for k, v in given.items()}
        except InputError as exc:
            return exc, extras
    return given, extras


def image_inputs(graph: Any) -> tuple[str, ...]:
    """Graph inputs that take images: their relative paths are relative to the data file."""
    from .types import type_name

    return tuple(n for n, i in graph.inputs.items() if "image" in type_name(i.type))


def error_result(exc: BaseException) -> dict[str, Any]:
    """The result record of a failed row (one readable message; the node when one failed), or
    of a row a filter dropped."""
    cause = exc.cause if isinstance(exc, NodeError) else exc
    if isinstance(cause, RowDropped):
        return {"dropped": str(cause)}
    if isinstance(exc, NodeError):
        return {"error": str(exc), "node": exc.node}
    if isinstance(exc, SocraticError):
        return {"error": str(exc)}
    return {"error": f"{type(exc).__name__}: {exc}"}


class LocalEngine:
    """The asyncio engine: rows share one run context, so calls to batchable models (CLIP,
    local LMs, captioners) from concurrent rows are grouped into real batches.

    Example:
        >>> LocalEngine().name
        'local'
    """

    name = "local"

    async def results(self, graph: Any, items: Iterable[tuple[int, Any]], *, concurrency: int,
                      max_ahead: int | None = None) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        from .scheduler import RunContext
        from .trace import current

        tracer = current()
        plan = graph.plan() if tracer is None else tracer.plan(graph)
        concurrency = max(1, int(concurrency))
        ctx = RunContext(concurrency=concurrency * 4)
        pending: dict[asyncio.Future[tuple[int, dict[str, Any]]], int] = {}

        async def one(index: int, row: Any) -> tuple[int, dict[str, Any]]:
            try:
                if isinstance(row, BaseException):
                    raise row
                return index, {"outputs": await plan.arun(graph.prepare_inputs(row), ctx)}
            except Exception as exc:
                return index, error_result(exc)

        if tracer is not None:
            one = tracer.rows(one)
        it = iter(items)
        waiting: tuple[int, Any] | None = None
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < concurrency:
                    if waiting is None:
                        try:
                            waiting = next(it)
                        except StopIteration:
                            exhausted = True
                            break
                    if max_ahead and pending and waiting[0] - min(pending.values()) >= max_ahead:
                        break
                    pending[asyncio.ensure_future(one(*waiting))] = waiting[0]
                    waiting = None
                if not pending:
                    break
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    del pending[task]
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()


@dataclass
class RunSummary:
    """Counts of a run and its most common errors.

    Example:
        >>> s = RunSummary(rows=3, done=1, failed=2, errors=Counter({"boom": 2}))
        >>> s.report()
        ['2 x boom']
    """

    rows: int | None = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        counts = {"rows": self.rows, "done": self.done, "failed": self.failed, "skipped": self.skipped}
        if self.dropped:
            counts["dropped"] = sum(self.dropped.values())
        return counts

    def report(self, most: int = 5) -> list[str]:
        """The ``most`` most frequent distinct errors, ``COUNT x MESSAGE``."""
        return [f"{n} x {shorten(msg, 300)}" for msg, n in self.errors.most_common(most)]

    def drops(self, most: int = 10) -> list[str]:
        """Why rows were dropped, most frequent first: ``COUNT x REASON``."""
        return [f"{n} x {shorten(msg, 300)}" for msg, n in self.dropped.most_common(most)]


class RowRunner:
    """Runs ``graph`` over rows with ``engine`` (default :class:`LocalEngine`); see the module
    docstring. ``ordered``: results in input order (default), else as they finish.
    ``id_key``: the column that identifies a row for resuming (default: its position).

    Example:
        >>> from socratic import Graph
        >>> g = Graph(); g.add_input("t", str); g.add_output("same", "inputs.t")
        >>> RowRunner(g, ordered=False).collect([{"t": "a"}])[0]["outputs"]
        {'same': 'a'}
    """

    def __init__(self, graph: Any, *, engine: Engine | None = None, concurrency: int = 8,
                 progress: bool = False, ordered: bool = True, id_key: str | None = None,
                 window: int = 1024) -> None:
        self.graph = graph
        self.engine = engine or LocalEngine()
        self.concurrency = max(1, int(concurrency))
        self.progress = progress
        self.ordered = ordered
        self.id_key = id_key
        self.window = max(window, self.concurrency)
        self.summary = RunSummary()

    # -- rows -------------------------------------------------------------------------------
    def split(self, row: Any) -> tuple[dict[str, Any] | Exception, dict[str, Any]]:
        """``(graph inputs or the row's error, pass-through columns)`` (:func:`split_row`)."""
        return split_row(self.graph, row)

    def _row_id(self, index: int, extras: dict[str, Any]) -> Any:
        return extras.get(self.id_key, index) if self.id_key else index

    # -- running ----------------------------------------------------------------------------
    async def aiter(
        self, rows: Iterable[Any], *, skip: set[Any] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Result records (see the module docstring), in input order when ``ordered``."""
        skip = skip or set()
        extras: dict[int, dict[str, Any]] = {}
        self.summary.skipped = 0

        def items() -> Iterator[tuple[int, Any]]:
            for index, row in enumerate(rows):
                given, extra = self.split(row)
                if skip and self._row_id(index, extra) in skip:
                    self.summary.skipped += 1
                    continue
                extras[index] = extra
                yield index, given

        held: dict[int, dict[str, Any]] = {}
        order: deque[int] = deque()  # indices started, in order (ordered mode)
        feed = _Recording(items(), order)
        results = self.engine.results(self.graph, feed, concurrency=self.concurrency,
                                      max_ahead=self.window if self.ordered else None)
        async for index, result in results:
            record = {"index": index, **extras.pop(index, {}), **to_jsonable(result)}
            self.count(record)
            if not self.ordered:
                yield record
                continue
            held[index] = record
            while order and order[0] in held:
                yield held.pop(order.popleft())

    def count(self, record: dict[str, Any]) -> None:
        """Count a finished record in the summary."""
        if "error" in record:
            self.summary.failed += 1
            self.summary.errors[record["error"]] += 1
        elif "dropped" in record:
            self.summary.dropped[record["dropped"]] += 1
        else:
            self.summary.done += 1

    def collect(self, rows: Iterable[Any]) -> list[dict[str, Any]]:
        """Run in memory; every result record, in input order."""
        self.summary = RunSummary()

        async def go() -> list[dict[str, Any]]:
            out = [r async for r in self.aiter(rows)]
            return sorted(out, key=lambda r: r["index"])

        out = asyncio.run(go())
        self.summary.rows = len(out)
        return out

    def run(self, data: str | os.PathLike[str] | Iterable[Any], out: str | os.PathLike[str] | None = None,
            *, format: str = "auto", rows_per_file: int = 1000) -> RunSummary:
        """Run over a data file or folder (any :mod:`socratic.datasets` format) or rows; write each
        record as it is ready to ``out`` (a JSONL file, or a Parquet folder for ``.parquet`` / a
        folder, ``rows_per_file`` rows a file; resumable, see :mod:`socratic.results`), or to
        stdout."""
        from .datasets import count_records, iter_records
        from .results import open_results

        self.summary = RunSummary()
        writer = open_results(out, id_key=self.id_key, rows_per_file=rows_per_file) if out else _Stdout()
        skip = writer.done
        reads_files = isinstance(data, (str, os.PathLike)) and hasattr(self.engine, "records")
        if reads_files:
            records = self.engine.records(self, data, format=format, skip=skip)  # type: ignore[attr-defined]
        elif isinstance(data, (str, os.PathLike)):
            rows: Iterable[Any] = iter_records(data, format, errors="yield", resolve=image_inputs(self.graph))
            self.summary.rows = count_records(data, format)
            records = self.aiter(rows, skip=skip)
        else:
            self.summary.rows = len(data) if isinstance(data, list) else None
            records = self.aiter(data, skip=skip)
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=self.summary.rows, initial=len(skip), unit="row", file=sys.stderr,
                       mininterval=0.5, desc=self.graph.name)

        async def go() -> None:
            async for record in records:
                if reads_files:
                    self.count(record)
                writer.write(record)
                if bar is not None:
                    bar.update(1)

        try:
            asyncio.run(go())
        finally:
            if bar is not None:
                bar.close()
            writer.close(ordered=self.ordered)
        if reads_files and self.summary.rows is not None:
            self.summary.skipped = self.summary.rows - self.summary.done - self.summary.failed
        return self.summary


class _Stdout:
    """Records printed as JSON lines (no resuming)."""

    done: frozenset[Any] = frozenset()

    def write(self, record: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def close(self, *, ordered: bool = False) -> None:
        pass


class _Recording:
    """An iterator that notes the index of each item it hands out (for ordered output)."""

    def __init__(self, items: Iterator[tuple[int, Any]], order: deque[int]) -> None:
        self.items, self.order = items, order

    def __iter__(self) -> _Recording:
        return self

    def __next__(self) -> tuple[int, Any]:
        item = next(self.items)
        self.order.append(item[0])
        return item


def _from_text(value: Any, tp: Any, name: str) -> Any:
    if not isinstance(value, str) or tp in (str, Any):
        return value
    try:
        return parse_cli_value(value, tp, what=f"column '{name}'")
    except TypeError as exc:
        raise InputError(str(exc)) from None
