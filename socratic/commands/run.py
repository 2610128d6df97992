"""``socratic run``: one run with inputs from flags, or a streamed, resumable dataset run."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import usage
from ..context import BuildContext
from ..errors import InputError, NodeError, RowDropped
from ..types import parse_cli_value


def _inputs(graph: Any, args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if args.inputs:
        try:
            with open(args.inputs, encoding="utf-8") as f:
                loaded = json.load(f)
        except OSError as exc:
            raise InputError(f"--inputs {args.inputs}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"--inputs {args.inputs}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
        if not isinstance(loaded, dict):
            raise InputError(f"--inputs {args.inputs}: expected a JSON object")
        values.update(loaded)
    for item in args.input:
        name, sep, text = item.partition("=")
        if not sep:
            raise InputError(f"-i {item!r}: expected NAME=VALUE")
        if name not in graph.inputs:
            names = ", ".join(graph.inputs) or "none"
            raise InputError(f"-i {name}: graph '{graph.name}' has no input '{name}'; inputs: {names}")
        try:
            values[name] = parse_cli_value(text, graph.inputs[name].type, what=f"-i {name}")
        except TypeError as exc:
            raise InputError(str(exc)) from None
    return values


def context_from(args: argparse.Namespace) -> BuildContext:
    """The build context of the CLI's flags (``--no-cache``, ``--cache-dir``)."""
    if getattr(args, "no_cache", False):
        return BuildContext(cache=None)
    if getattr(args, "cache_dir", None):
        from ..cache import Cache

        return BuildContext(cache=Cache(args.cache_dir))
    return BuildContext()


def _engine(args: argparse.Namespace) -> Any:
    """The engine of ``--engine`` / ``--ray-address``."""
    from ..engines import make_engine

    address = getattr(args, "ray_address", None)
    if address and args.engine != "ray":
        raise InputError("--ray-address goes with --engine ray")
    return make_engine(args.engine, address=address) if args.engine == "ray" else make_engine("local")


def cmd_run(args: argparse.Namespace) -> int:
    import contextlib

    from ..spec import load_graph

    graph = load_graph(args.graph, overrides=args.set, context=context_from(args))
    traced = contextlib.nullcontext()
    if getattr(args, "trace", None):
        from ..trace import tracing

        if args.engine != "local":
            raise InputError("--trace records the local engine's spans; --engine ray is not traced"
                             " (see docs/tracing.md)")
        traced = tracing(args.trace, name=graph.name)
    with traced, usage.track() as stats:
        if args.data:
            from ..runner import RowRunner

            if args.input or args.inputs:
                raise InputError("--data takes inputs from each row; do not combine with -i/--inputs")
            if getattr(args, "stream", False):
                raise InputError("--stream prints the tokens of one run; it does not combine with --data")
            _estimate(graph, args.data)
            engine = _engine(args)
            runner = RowRunner(graph, engine=engine, concurrency=args.concurrency,
                               progress=not args.no_progress, ordered=not args.unordered,
                               id_key=args.id_column)
            try:
                summary = runner.run(args.data, args.out, rows_per_file=args.rows_per_file)
            finally:
                getattr(engine, "close", lambda: None)()
            print(json.dumps(summary.as_dict()), file=sys.stderr if args.out is None else sys.stdout)
            for line in summary.drops():
                print(f"dropped: {line}", file=sys.stderr)
            for line in summary.report():
                print(f"error: {line}", file=sys.stderr)
            code = 0 if summary.failed == 0 else 1
        else:
            import asyncio

            from ..cli import print_json
            from ..scheduler import RunContext

            if args.out:
                raise InputError("--out writes one line per row of --data; give --data too")
            if args.engine != "local":
                raise InputError(f"--engine {args.engine} runs a dataset: give --data (and --out)")
            if getattr(args, "stream", False):
                return _streamed(graph, _inputs(graph, args), args, stats)
            values = graph.prepare_inputs(_inputs(graph, args))
            from ..trace import current

            tracer = current()
            plan = graph.plan() if tracer is None else tracer.plan(graph)

            async def once() -> dict:
                return await plan.arun(values, RunContext(concurrency=args.concurrency))

            row_span = tracer.span("row", "row 0", root=True, row=0) if tracer else contextlib.nullcontext()
            try:
                with row_span:  # traced, the one run is row 0
                    outputs = plan.run_sync(values) if plan.all_inline else asyncio.run(once())
            except NodeError as exc:
                if not isinstance(exc.cause, RowDropped):
                    raise
                outputs = {"dropped": str(exc.cause)}  # a filter removed this input: not a failure
            print_json(outputs)
            code = 0
    if args.stats:
        print(json.dumps({"usage": stats.as_dict()}), file=sys.stderr)
    return code


#: rows from which ``run --data`` prints the one-line estimate first
LARGE_RUN = 100


def _estimate(graph: Any, data: str) -> None:
    """The one-line cost estimate (:func:`socratic.plan.quick_estimate`) before a large run."""
    from ..datasets import count_records
    from ..errors import DataError
    from ..plan import quick_estimate

    try:
        n = count_records(data, "auto")
    except (DataError, OSError):
        return
    line = quick_estimate(graph, n) if n is not None and n >= LARGE_RUN else None
    if line:
        print(line, file=sys.stderr)


def stream_target(graph: Any) -> tuple[str, str] | None:
    """``(output name, node)``: the last graph output that is text made by an LLM node."""
    from ..nodes.llm import Generate

    found = None
    for name, ref in graph.outputs.items():
        entry = graph.nodes.get(ref.node)
        if entry is not None and isinstance(entry.node, Generate) and ref.socket in ("text", "output"):
            found = (name, ref.node)
    return found


def _streamed(graph: Any, given: dict[str, Any], args: argparse.Namespace, stats: Any) -> int:
    """``run --stream``: the tokens of the final text output on stdout as they arrive; the
    other outputs (if any) as JSON on stderr at the end."""
    import asyncio

    target = stream_target(graph)
    if target is None:
        raise InputError(f"--stream: graph '{graph.name}' has no output made by an llm.generate node")
    name, node = target

    async def go() -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        item = None
        async for event in graph.astream(concurrency=args.concurrency, **given):
            if event.kind == "token" and event.node == node and event.index == 0:
                if item is not None and event.item != item:
                    sys.stdout.write("\n")
                item = event.item
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif event.kind == "finished":
                outputs = event.outputs or {}
        sys.stdout.write("\n")
        sys.stdout.flush()
        return outputs

    outputs = asyncio.run(go())
    rest = {k: v for k, v in outputs.items() if k != name}
    if rest:
        from ..types import to_jsonable

        print(json.dumps(to_jsonable(rest)), file=sys.stderr)
    if args.stats:
        print(json.dumps({"usage": stats.as_dict()}), file=sys.stderr)
    return 0
