"""``socratic tune``: tune a graph's ``tune:`` knobs; write GRAPH.tuned.yaml and a report."""

from __future__ import annotations

import argparse

from .run import context_from


def cmd_tune(args: argparse.Namespace) -> int:
    from ..tune import tune_graph
    from ..tune.report import summary_table

    result = tune_graph(args.graph, args.train, args.dev, metric=args.metric, out=args.out,
                        report_dir=args.report, budget=args.budget, seed=args.seed, overrides=args.set,
                        context=context_from(args), concurrency=args.concurrency)
    from ..tune import read_spec
    from ..yaml_source import load_yaml_file

    spec = read_spec(load_yaml_file(args.graph), metric=args.metric)
    print(summary_table(result, spec))
    print(f"\n{len(result.trials)} trials, {result.calls} model calls")
    for key, value in result.values.items():
        print(f"set {key} = {str(value)[:100]}")
    print(f"tuned graph: {result.tuned_graph}")
    print("report: " + "  ".join(result.report.values()))
    return 0
