"""Cost before running: ``socratic plan GRAPH.yaml --data rows.jsonl [--sample K]``.

The graph runs over the rows in *planning mode*: every LLM request is looked up in the response
cache and, where it is not there, counted and **not sent** (the row stops at that node, as it
would wait for the answer). Local vision models (CLIP, captioners) run, because their outputs
are what the prompts say; their image embeddings are computed, their text embeddings come from
the cache. Per model, the plan gives:

- ``calls``: calls of nodes to the model; ``cached``: of those, answered wholly by the cache;
- ``rows cached``: rows whose calls to this model are all in the cache already;
- ``prompt tokens``: of the requests that would be sent, counted with the model's tokenizer for
  ``hf`` models (chat template included), else the documented estimate: 4 characters a token
  plus 4 per message, and 85 per image (OpenAI's low-detail image cost);
- ``completion bound``: ``max_tokens`` x ``n`` per request (``None`` when a request sets no
  ``max_tokens``);
- ``unreached``: calls of LLM nodes that a row did not reach because an earlier answer was not in
  the cache: one call a node a row (``for_each`` nodes counted as one item), so ``calls`` is then
  a lower bound (marked ``>=``);
- ``s/call``: with ``--sample K``, the mean seconds per call measured by running the first ``K``
  rows for real (requests sent, answers cached); for batchable models, batch time / batch size.

:func:`quick_estimate` is the one-line, static estimate ``run --data`` prints before a large run.

Example:
    >>> from socratic import Graph, node
    >>> @node
    ... def inc(x: int) -> int:
    ...     return x + 1
    >>> g = Graph(); g.add_input("x", int); g.add("i", inc, x="inputs.x"); g.add_output("y", "i.output")
    >>> plan_rows(g, [{"x": 1}, {"x": 2}]).rows
    2
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import SocraticError

#: estimate when no tokenizer is at hand: characters per token, tokens per message and per image
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
TOKENS_PER_IMAGE = 85


class NotSent(SocraticError):
    """Raised in place of sending an LLM request while planning."""


@dataclass
class ModelPlan:
    """The plan of one model (see the module docstring for each field).

    Example:
        >>> ModelPlan("gpt", "openai", calls=3, cached=1).row()["calls"]
        '3'
    """

    name: str
    backend: str
    calls: int = 0
    cached: int = 0
    rows_cached: int = 0
    unreached: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    tokens_exact: bool = True
    completion_bound: int | None = 0
    seconds_per_call: float | None = None
    sampled_calls: int = 0

    def row(self) -> dict[str, str]:
        """The printed row."""
        calls = f">={self.calls + self.unreached}" if self.unreached else str(self.calls)
        tokens = str(self.prompt_tokens) if self.tokens_exact else f"~{self.prompt_tokens}"
        bound = "-" if self.completion_bound is None else str(self.completion_bound)
        spc = "-" if self.seconds_per_call is None else f"{self.seconds_per_call:.4f}"
        return {"model": self.name, "backend": self.backend, "calls": calls, "cached": str(self.cached),
                "rows cached": str(self.rows_cached), "prompt tokens": tokens,
                "completion bound": bound, "s/call": spc}

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PlanReport:
    """What a run of the graph over the rows would cost, per model.

    Example:
        >>> PlanReport(rows=2).table().splitlines()[0]
        'rows: 2 (0 finish from the cache alone)'
    """

    rows: int = 0
    rows_cached: int = 0
    models: dict[str, ModelPlan] = field(default_factory=dict)
    sample: int = 0

    def table(self) -> str:
        lines = [f"rows: {self.rows} ({self.rows_cached} finish from the cache alone)"]
        rows = [m.row() for m in self.models.values()]
        if not rows:
            return "\n".join([*lines, "no model calls"])
        cols = list(rows[0])
        width = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
        lines.append("  ".join(c.ljust(width[c]) for c in cols))
        lines += ["  ".join(r[c].ljust(width[c]) for c in cols) for r in rows]
        if any(m.unreached for m in self.models.values()):
            lines.append(">= : some rows stop at an answer not in the cache; later LLM calls counted once")
        if any(not m.tokens_exact for m in self.models.values()):
            lines.append(f"~ : estimated ({CHARS_PER_TOKEN} characters a token, {TOKENS_PER_MESSAGE}"
                         f" a message, {TOKENS_PER_IMAGE} an image)")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "rows_cached": self.rows_cached, "sample": self.sample,
                "models": {k: m.as_dict() for k, m in self.models.items()}}


class _Collector:
    """A trace sink that keeps spans in memory."""

    def __init__(self) -> None:
        self.spans: list[Any] = []

    def start(self, span: Any) -> None:
        pass

    def end(self, span: Any) -> None:
        self.spans.append(span)

    def close(self) -> None:
        pass


def _llms(graph: Any) -> dict[str, Any]:
    from .llm.base import LLM

    return {name: m for name, m in graph.models.items() if isinstance(m, LLM)}


def count_prompt_tokens(model: Any, request: Any) -> tuple[int, bool]:
    """``(tokens, exact)`` of a request's prompt: the ``hf`` model's own tokenizer (and chat
    template) when it has one, else the estimate of the module docstring.

    Example:
        >>> from socratic.llm.base import LLMRequest
        >>> count_prompt_tokens(None, LLMRequest(prompt="12345678"))
        (6, False)
    """
    tok = _tokenizer(model)
    if tok is not None:
        with contextlib.suppress(Exception):
            if request.images:
                raise ValueError("images: estimate")
            if request.messages is not None and getattr(tok, "chat_template", None):
                msgs = [{"role": m["role"], "content": m["content"]} for m in request.as_messages()]
                ids = tok.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True)
                ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
                return len(ids), True
            return len(tok(request.as_prompt())["input_ids"]), True
    from .llm.base import content_images, content_text

    total = 0
    for m in request.as_messages():
        total += TOKENS_PER_MESSAGE + math.ceil(len(content_text(m["content"])) / CHARS_PER_TOKEN)
        total += TOKENS_PER_IMAGE * len(content_images(m["content"]))
    return total, False


def _tokenizer(model: Any) -> Any:
    if getattr(model, "backend", None) != "hf":
        return None
    cached = model.__dict__.get("_plan_tokenizer", False)
    if cached is not False:
        return cached
    tok = None
    with contextlib.suppress(Exception):
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model.config.model)
    model.__dict__["_plan_tokenizer"] = tok
    return tok


@contextlib.contextmanager
def _unsent(graph: Any, found: list[tuple[str, Any]]) -> Iterator[None]:
    """LLM requests that miss the cache are noted in ``found`` and not sent."""
    models = _llms(graph)

    def make(name: str, model: Any) -> Any:
        async def send(request: Any) -> Any:
            found.append((name, request))
            raise NotSent(f"not sent: model '{name}' (planning)")

        return send

    for name, model in models.items():
        model.__dict__["send"] = make(name, model)
    try:
        yield
    finally:
        for model in models.values():
            model.__dict__.pop("send", None)


def _traced_run(graph: Any, rows: list[Any], concurrency: int) -> tuple[list[dict[str, Any]], list[Any]]:
    from .runner import RowRunner
    from .trace import tracing

    sink = _Collector()
    with tracing(sink, otel=False):
        records = RowRunner(graph, concurrency=concurrency).collect(rows)
    return records, sink.spans


def _model_of(graph: Any) -> dict[str, str]:
    """Node name -> model entry name (nodes with a model)."""
    names = {id(m): n for n, m in graph.models.items()}
    out = {}
    for node_name, entry in graph.nodes.items():
        models = entry.node.models()
        if models and id(models[0]) in names:
            out[node_name] = names[id(models[0])]
    return out


def plan_rows(graph: Any, rows: Iterable[Any], *, sample: int = 0, concurrency: int = 8) -> PlanReport:
    """Plan a run of ``graph`` over ``rows`` (see the module docstring); ``sample``: run the first
    rows for real to measure seconds per call."""
    rows = list(rows)
    report = PlanReport(rows=len(rows), sample=min(sample, len(rows)))
    for name, model in graph.models.items():
        report.models[name] = ModelPlan(name, getattr(model, "backend", "") or "")
    node_model = _model_of(graph)
    llm_names = set(_llms(graph))
    found: list[tuple[str, Any]] = []
    with _unsent(graph, found):
        records, spans = _traced_run(graph, rows, concurrency)
    for name, request in found:
        plan = report.models[name]
        tokens, exact = count_prompt_tokens(graph.models[name], request)
        plan.requests += 1
        plan.prompt_tokens += tokens
        plan.tokens_exact = plan.tokens_exact and exact
        if request.max_tokens is None or plan.completion_bound is None:
            plan.completion_bound = None
        else:
            plan.completion_bound += request.max_tokens * request.n
    model_calls: dict[tuple[int, str], list[bool]] = {}  # (row, model) -> cache hit per call
    ran: dict[int, set[str]] = {}
    for span in spans:
        if span.kind == "node" and span.row is not None:
            ran.setdefault(span.row, set()).add(span.name)
        if span.kind != "model" or span.row is None:
            continue
        name = node_model.get(span.attrs.get("node", ""))
        if name is None:
            continue
        plan = report.models[name]
        plan.calls += 1
        hit = bool(span.attrs.get("cache_hit")) and span.status == "ok"
        plan.cached += hit
        model_calls.setdefault((span.row, name), []).append(hit or name not in llm_names)
    stopped = {r["index"] for r in records if "error" in r and "(planning)" in r["error"]}
    report.rows_cached = sum(1 for r in records if "error" not in r)
    for (row, name), hits in model_calls.items():
        if all(hits) and row not in stopped:
            report.models[name].rows_cached += 1
    for row in stopped:
        for node, name in node_model.items():
            if name in llm_names and node not in ran.get(row, set()):
                report.models[name].unreached += 1
    failed = [r for r in records if "error" in r and r["index"] not in stopped]
    if failed:
        report.models.setdefault("(errors)", ModelPlan("(errors)", f"{len(failed)} rows fail: "
                                                       f"{failed[0]['error'][:60]}"))
    if sample:
        _measure(graph, rows[:sample], report, node_model, concurrency)
    return report


def _measure(graph: Any, rows: list[Any], report: PlanReport, node_model: dict[str, str],
             concurrency: int) -> None:
    """Seconds per call of each model, from running ``rows`` for real."""
    _, spans = _traced_run(graph, rows, concurrency)
    by_id = {s.id: s for s in spans}
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    for span in spans:
        if span.kind != "model":
            continue
        name = node_model.get(span.attrs.get("node", ""))
        if name is None or span.attrs.get("cache_hit"):
            continue
        batch = by_id.get(span.attrs.get("batch"))
        cost = (batch.ms / max(1, batch.attrs.get("size", 1))) if batch is not None else span.ms
        seconds[name] = seconds.get(name, 0.0) + cost / 1000
        counts[name] = counts.get(name, 0) + 1
    for name, total in seconds.items():
        report.models[name].seconds_per_call = total / counts[name]
        report.models[name].sampled_calls = counts[name]


def quick_estimate(graph: Any, n_rows: int | None) -> str | None:
    """One line, from the graph alone: LLM calls and the completion-token bound of ``n_rows``
    rows (``for_each`` nodes counted once a row, so the figures are lower bounds); None when
    the graph calls no LLM or the row count is unknown.

    Example:
        >>> from socratic import Graph
        >>> g = Graph(); g.add_input("t", str); g.add_output("same", "inputs.t")
        >>> quick_estimate(g, 10) is None
        True
    """
    from .nodes.llm import Generate

    if not n_rows:
        return None
    nodes = [(n, e) for n, e in graph.nodes.items() if isinstance(e.node, Generate)]
    if not nodes:
        return None
    fan = any(e.for_each for _, e in nodes)
    bound: int | None = 0
    for _, e in nodes:
        max_tokens = e.node.sampling.get("max_tokens") or getattr(e.node.model.config, "max_tokens", None)
        bound = None if bound is None or max_tokens is None else bound + max_tokens * e.node.n
    calls = n_rows * len(nodes)
    tokens = "no max_tokens bound" if bound is None else f"<= {n_rows * bound} completion tokens"
    ge = ">=" if fan else ""
    return (f"estimate: {n_rows} rows x {len(nodes)} LLM node(s) ({', '.join(n for n, _ in nodes)}):"
            f" {ge}{calls} calls before the cache, {tokens}; `socratic plan` for the details")
