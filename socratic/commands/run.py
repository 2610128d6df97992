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
    from ..spec import load_graph

    graph = load_graph(args.graph, overrides=args.set, context=context_from(args))
    with usage.track() as stats:
        if args.data:
            from ..runner import RowRunner

            if args.input or args.inputs:
                raise InputError("--data takes inputs from each row; do not combine with -i/--inputs")
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
            values = graph.prepare_inputs(_inputs(graph, args))
            plan = graph.plan()

            async def once() -> dict:
                return await plan.arun(values, RunContext(concurrency=args.concurrency))

            try:
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
