"""Traces: one span per row, node and model call of a run, as JSON lines (and OpenTelemetry).

``socratic run GRAPH --data rows.jsonl --trace trace.jsonl`` (or :func:`tracing` in Python)
records, for the local engine:

- ``row`` spans (``row``: the row index; ``status`` ok / error / dropped, ``error``);
- ``node`` spans inside them (``node``, ``type``, ``items`` for a ``for_each`` node, ``ms``);
- ``model`` spans inside those: one per call of a node to its model (``node``, ``model``, ``backend``,
  ``ms``; ``requests`` sent, ``cache_hits``, ``cache_hit`` when every sample came from the
  response cache, ``retries``, ``prompt_tokens`` / ``completion_tokens``; for LLM nodes the
  rendered ``prompt`` and the ``answer`` text, each cut at 4000 characters; for batchable models
  ``batch`` (the id of the ``batch`` span that served the call) and ``batch_size``);
- ``batch`` spans: one per real batch a batchable model ran (``size``, ``ms``, the counts above;
  no parent: a batch serves calls of many rows);
- one ``run`` span at the end (``rows``, ``graph``).

Every line: ``{"trace", "span", "parent", "kind", "name", "row", "start" (unix seconds), "ms",
"status", ...}``. Off (no :func:`tracing` scope), the scheduler runs the plain plan: the traced
plan is a subclass used only while tracing, so tracing costs nothing when off
(``bench/bench_trace.py`` measures it). The Ray engine is not traced (``--trace`` is refused
with ``--engine ray``).

OpenTelemetry: with the ``otel`` extra and ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or any ``OTEL_*``
setting the SDK reads) set, the same spans also go to an OTLP exporter
(:class:`OtelSink`; ``otel=True`` in :func:`tracing` forces it).

Example:
    >>> import io, json
    >>> from socratic import Graph, node
    >>> @node
    ... def inc(x: int) -> int:
    ...     return x + 1
    >>> g = Graph(); g.add_input("x", int); g.add("i", inc, x="inputs.x"); g.add_output("y", "i.output")
    >>> buf = io.StringIO()
    >>> with tracing(JsonlSink(buf)):
    ...     _ = g.run_many([{"x": 1}, {"x": "bad"}])
    >>> [(s["kind"], s["row"], s["status"]) for s in map(json.loads, buf.getvalue().splitlines())]
    [('node', 0, 'ok'), ('row', 0, 'ok'), ('row', 1, 'error'), ('run', None, 'ok')]
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import json
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from . import usage
from .scheduler import Batcher, Plan, RunContext, Step

_tracer: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar("socratic_tracer", default=None)
_parent: contextvars.ContextVar[Span | None] = contextvars.ContextVar("socratic_span", default=None)

#: usage counters copied onto model and batch spans
_COUNTS = ("requests", "cache_hits", "retries", "prompt_tokens", "completion_tokens")


@dataclass
class Span:
    """One timed piece of a run (see the module docstring for kinds and attributes).

    Example:
        >>> s = Span(id=1, kind="node", name="ask", trace="t")
        >>> s.record()["kind"], s.record()["status"]
        ('node', 'ok')
    """

    id: int
    kind: str
    name: str
    trace: str
    parent: int | None = None
    row: int | None = None
    start: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    ms: float = 0.0
    status: str = "ok"
    attrs: dict[str, Any] = field(default_factory=dict)

    def finish(self, error: BaseException | None = None) -> None:
        self.ms = round((time.perf_counter() - self.t0) * 1000, 3)
        if error is not None:
            self.fail(error)

    def fail(self, error: BaseException | str) -> None:
        from .errors import NodeError, RowDropped

        cause = error.cause if isinstance(error, NodeError) else error
        if isinstance(cause, RowDropped):
            self.status, self.attrs["dropped"] = "dropped", str(cause)
        else:
            self.status = "error"
            self.attrs["error"] = error if isinstance(error, str) else f"{type(error).__name__}: {error}"

    def record(self) -> dict[str, Any]:
        return {"trace": self.trace, "span": self.id, "parent": self.parent, "kind": self.kind,
                "name": self.name, "row": self.row, "start": round(self.start, 6), "ms": self.ms,
                "status": self.status, **self.attrs}


class JsonlSink:
    """Finished spans as JSON lines, to a path (appended) or an open text stream.

    Example:
        >>> import io
        >>> buf = io.StringIO(); JsonlSink(buf).end(Span(id=1, kind="row", name="row 0", trace="t"))
        >>> buf.getvalue().startswith('{"trace": "t", "span": 1')
        True
    """

    def __init__(self, target: str | os.PathLike[str] | IO[str]) -> None:
        self._own = not hasattr(target, "write")
        self._file: IO[str] = open(target, "a", encoding="utf-8") if self._own else target  # type: ignore[arg-type]  # noqa: SIM115
        self._lock = threading.Lock()

    def start(self, span: Span) -> None:
        pass

    def end(self, span: Span) -> None:
        line = json.dumps(span.record(), ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self._file.write(line)

    def close(self) -> None:
        with self._lock:
            if self._own:
                self._file.close()
            else:
                self._file.flush()


class OtelSink:
    """The same spans as OpenTelemetry spans (``otel`` extra). Without ``tracer_provider``, an
    SDK provider with an OTLP exporter configured by the standard ``OTEL_*`` variables.

    Example:
        >>> OtelSink  # doctest: +SKIP
    """

    def __init__(self, tracer_provider: Any = None) -> None:
        from .extras import require

        trace_api = require("opentelemetry.trace", "otel", "OpenTelemetry traces")
        self._own = tracer_provider is None
        if tracer_provider is None:
            sdk = require("opentelemetry.sdk.trace", "otel", "OpenTelemetry traces")
            export = require("opentelemetry.sdk.trace.export", "otel", "OpenTelemetry traces")
            otlp = require("opentelemetry.exporter.otlp.proto.http.trace_exporter", "otel",
                           "the OTLP exporter")
            tracer_provider = sdk.TracerProvider()
            tracer_provider.add_span_processor(export.BatchSpanProcessor(otlp.OTLPSpanExporter()))
        self.provider = tracer_provider
        self._api = trace_api
        self._tracer = tracer_provider.get_tracer("socratic")
        self._open: dict[int, Any] = {}
        self._lock = threading.Lock()

    def start(self, span: Span) -> None:
        with self._lock:
            parent = self._open.get(span.parent) if span.parent is not None else None
        ctx = self._api.set_span_in_context(parent) if parent is not None else None
        otel = self._tracer.start_span(f"{span.kind} {span.name}", context=ctx,
                                       start_time=int(span.start * 1e9))
        with self._lock:
            self._open[span.id] = otel

    def end(self, span: Span) -> None:
        with self._lock:
            otel = self._open.pop(span.id, None)
        if otel is None:
            return
        for key, value in span.record().items():
            if key not in ("start", "parent", "span", "trace") and value is not None:
                otel.set_attribute(f"socratic.{key}", value if isinstance(value, (str, bool, int, float))
                                   else json.dumps(value, default=str))
        if span.status == "error":
            otel.set_status(self._api.Status(self._api.StatusCode.ERROR, span.attrs.get("error", "")))
        otel.end(end_time=int((span.start + span.ms / 1000) * 1e9))

    def close(self) -> None:
        if self._own:
            self.provider.shutdown()
        else:
            self.provider.force_flush()


class Tracer:
    """Makes spans and hands them to sinks; :func:`tracing` makes one current.

    Example:
        >>> import io
        >>> t = Tracer(JsonlSink(io.StringIO()))
        >>> with t.span("node", "ask") as s:
        ...     pass
        >>> s.kind, s.status
        ('node', 'ok')
    """

    def __init__(self, *sinks: Any, trace_id: str | None = None) -> None:
        self.sinks = list(sinks)
        self.trace_id = trace_id or uuid.uuid4().hex
        self._ids = itertools.count(1)
        self.n_rows = 0

    def open(self, kind: str, name: str, *, parent: Span | None = None, root: bool = False,
             row: int | None = None, **attrs: Any) -> Span:
        """Start a span (child of the current one unless ``root`` or ``parent``)."""
        if parent is None and not root:
            parent = _parent.get()
        span = Span(id=next(self._ids), kind=kind, name=name, trace=self.trace_id,
                    parent=parent.id if parent else None,
                    row=row if row is not None else (parent.row if parent else None), attrs=attrs)
        for sink in self.sinks:
            sink.start(span)
        return span

    def close_span(self, span: Span, error: BaseException | None = None) -> None:
        span.finish(error)
        if span.kind == "row":
            self.n_rows += 1
        for sink in self.sinks:
            sink.end(span)

    @contextlib.contextmanager
    def span(self, kind: str, name: str, **kw: Any) -> Iterator[Span]:
        """A span around a block; it is the parent of spans opened inside."""
        span = self.open(kind, name, **kw)
        token = _parent.set(span)
        try:
            yield span
        except BaseException as exc:
            _parent.reset(token)
            self.close_span(span, exc)
            raise
        _parent.reset(token)
        self.close_span(span)

    # -- hooks used by the runner -------------------------------------------------------
    def plan(self, graph: Any) -> TracedPlan:
        """The graph's plan with trace hooks (see :class:`TracedPlan`)."""
        return TracedPlan.of(graph.plan(), self)

    def rows(self, one: Callable[[int, Any], Awaitable[tuple[int, dict[str, Any]]]]
             ) -> Callable[[int, Any], Awaitable[tuple[int, dict[str, Any]]]]:
        """Wrap an engine's per-row coroutine function with a ``row`` span."""

        async def traced(index: int, row: Any) -> tuple[int, dict[str, Any]]:
            span = self.open("row", f"row {index}", root=True, row=index)
            token = _parent.set(span)
            try:
                index, result = await one(index, row)
            finally:
                _parent.reset(token)
            if "error" in result:
                span.fail(str(result["error"]))
                if result.get("node"):
                    span.attrs["node"] = result["node"]
            elif "dropped" in result:
                span.status, span.attrs["dropped"] = "dropped", result["dropped"]
            self.close_span(span)
            return index, result

        return traced

    def close(self, **attrs: Any) -> None:
        span = self.open("run", attrs.pop("name", "run"), root=True, rows=self.n_rows, **attrs)
        self.close_span(span)
        for sink in self.sinks:
            sink.close()


class TracedPlan(Plan):
    """A compiled plan that records node and model spans (used only while tracing, so the
    untraced scheduler carries no hook).

    Example:
        >>> from socratic import Graph
        >>> g = Graph(); g.add_input("t", str); g.add_output("same", "inputs.t")
        >>> isinstance(TracedPlan.of(g.plan(), Tracer()), Plan)
        True
    """

    tracer: Tracer

    @classmethod
    def of(cls, plan: Plan, tracer: Tracer) -> TracedPlan:
        traced = cls.__new__(cls)
        traced.__dict__.update(plan.__dict__)
        traced.tracer = tracer
        return traced

    def _exec_inline(self, step: Step, vals: dict[Any, Any]) -> None:
        with self.tracer.span("node", step.name, **_node_attrs(step)):
            super()._exec_inline(step, vals)

    async def _run_step(self, step: Step, values: dict[Any, Any], ctx: RunContext) -> dict[str, Any]:
        span = self.tracer.open("node", step.name, **_node_attrs(step))
        token = _parent.set(span)
        try:
            result = await super()._run_step(step, values, ctx)
        except BaseException as exc:
            self.tracer.close_span(span, exc)
            raise
        finally:
            _parent.reset(token)
        if step.fan:
            span.attrs["items"] = len(next(iter(result.values()), []))
        self.tracer.close_span(span)
        return result

    async def _call(self, step: Step, call: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        node = step.node
        models = node.models()
        if not models:
            return await super()._call(step, call, ctx)
        model = models[0]
        span = self.tracer.open("model", getattr(model, "name", "") or step.name, node=step.name,
                                model=getattr(model, "name", None), backend=getattr(model, "backend", None))
        batcher = None
        if node.batchable:
            batcher = ctx.batchers.get(id(node))
            if not isinstance(batcher, TracedBatcher):
                batcher = ctx.batchers[id(node)] = TracedBatcher(node, ctx.model_limit(node), self.tracer)
            try:
                result = await super()._call(step, call, ctx)
            except BaseException as exc:
                self.tracer.close_span(span, exc)
                raise
            finally:
                span.attrs.update(batcher.served.pop(id(call), {}))
            self.tracer.close_span(span)
            return result
        if hasattr(node, "build_request"):  # an LLM node: what it asks
            span.attrs["prompt"] = _prompt_text(node, call)
        with usage.track() as counts:
            try:
                result = await super()._call(step, call, ctx)
            except BaseException as exc:
                _add_counts(span, counts)
                self.tracer.close_span(span, exc)
                raise
        _add_counts(span, counts)
        if "prompt" in span.attrs and isinstance(result, dict) and "text" in result:
            span.attrs["answer"] = _clip(result["text"])
        self.tracer.close_span(span)
        return result


class TracedBatcher(Batcher):
    """A :class:`~socratic.scheduler.Batcher` that records a ``batch`` span per batch and notes,
    per call, which batch served it."""

    def __init__(self, node: Any, limiter: Any, tracer: Tracer) -> None:
        super().__init__(node, limiter)
        self.tracer = tracer
        self.served: dict[int, dict[str, Any]] = {}

    async def _run(self, calls: list[dict[str, Any]]) -> list[Any]:
        model = (self.node.models() or [None])[0]
        span = self.tracer.open("batch", getattr(model, "name", "") or type(self.node).__name__,
                                root=True, model=getattr(model, "name", None), size=len(calls))
        for call in calls:
            self.served[id(call)] = {"batch": span.id, "batch_size": len(calls)}
        with usage.track() as counts:
            try:
                result = await super()._run(calls)
            except BaseException as exc:
                _add_counts(span, counts)
                self.tracer.close_span(span, exc)
                raise
        _add_counts(span, counts)
        self.tracer.close_span(span)
        return result


#: longest prompt or answer text kept on a span
MAX_TEXT = 4000


def _clip(value: Any) -> Any:
    if isinstance(value, list):
        return [_clip(v) for v in value]
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " [...]"


def _prompt_text(node: Any, call: dict[str, Any]) -> str:
    """The rendered messages of an LLM node's call, ``ROLE: text`` (images as ``[image PATH]``)."""
    try:
        request = node.build_request(call)
    except Exception as exc:  # the node itself will report it
        return f"(could not render: {type(exc).__name__})"
    lines = []
    for m in request.as_messages():
        content = m["content"]
        if not isinstance(content, str):
            content = " ".join(p["text"] if p["type"] == "text"
                               else f"[image {getattr(p['image'], 'path', '')}]" for p in content)
        lines.append(f"{m['role']}: {content}")
    return _clip("\n".join(lines))


def _node_attrs(step: Step) -> dict[str, Any]:
    return {"node": step.name, "type": step.node.type_name or type(step.node).__name__}


def _add_counts(span: Span, counts: usage.UsageStats) -> None:
    for key in _COUNTS:
        span.attrs[key] = getattr(counts, key)
    span.attrs["cache_hit"] = counts.requests == 0 and counts.cache_hits > 0


def current() -> Tracer | None:
    """The tracer of the current :func:`tracing` scope, else None."""
    return _tracer.get()


@contextlib.contextmanager
def tracing(target: str | os.PathLike[str] | IO[str] | Any | None = None, *, otel: bool | None = None,
            name: str = "run") -> Iterator[Tracer]:
    """Trace runs inside the block to ``target`` (a JSONL path or stream, or a sink) and, with
    ``otel`` (default: when an ``OTEL_EXPORTER_OTLP_*ENDPOINT`` variable is set), to
    OpenTelemetry. The ``run`` span and the sinks close at the end."""
    sinks: list[Any] = []
    if target is not None:
        sinks.append(target if hasattr(target, "end") else JsonlSink(target))
    if otel is None:
        otel = any(k.startswith("OTEL_EXPORTER_OTLP") and k.endswith("ENDPOINT") for k in os.environ)
    if otel:
        sinks.append(OtelSink())
    tracer = Tracer(*sinks)
    token = _tracer.set(tracer)
    try:
        yield tracer
    finally:
        _tracer.reset(token)
        tracer.close(name=name)
