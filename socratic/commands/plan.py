"""``socratic plan``: per-model calls, cache hits, tokens and seconds before running."""

from __future__ import annotations

import argparse
import json

from .run import context_from


def cmd_plan(args: argparse.Namespace) -> int:
    from ..datasets import iter_records
    from ..plan import plan_rows
    from ..runner import image_inputs
    from ..spec import load_graph

    graph = load_graph(args.graph, overrides=args.set, context=context_from(args))
    rows = list(iter_records(args.data, "auto", errors="yield", resolve=image_inputs(graph)))
    report = plan_rows(graph, rows, sample=max(0, args.sample), concurrency=args.concurrency)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.table())
    return 0
