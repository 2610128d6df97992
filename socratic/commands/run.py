"""``socratic run``: one run with inputs from flags, or a streamed, resumable dataset run."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import cache, usage
from ..errors import InputError
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


def cmd_run(args: argparse.Namespace) -> int:
    from ..spec import load_graph

    cache.configure(args.cache_dir, enabled=not args.no_cache)
    graph = load_graph(args.graph, overrides=args.set)
    with usage.track() as stats:
        if args.data:
            from ..dataset_run import run_dataset

            if args.input or args.inputs:
                raise InputError("--data takes inputs from each row; do not combine with -i/--inputs")
            summary = run_dataset(
                graph, args.data, args.out, concurrency=args.concurrency,
                progress=not args.no_progress,
            )
            print(json.dumps(summary), file=sys.stderr if args.out is None else sys.stdout)
            code = 0 if summary["failed"] == 0 else 1
        else:
            import asyncio

            from ..cli import print_json
            from ..scheduler import RunContext

            if args.out:
                raise InputError("--out writes one line per row of --data; give --data too")
            values = graph.prepare_inputs(_inputs(graph, args))
            plan = graph.plan()

            async def once() -> dict:
                return await plan.arun(values, RunContext(concurrency=args.concurrency))

            outputs = plan.run_sync(values) if plan.all_inline else asyncio.run(once())
            print_json(outputs)
            code = 0
    if args.stats:
        print(json.dumps({"usage": stats.as_dict()}), file=sys.stderr)
    return code
