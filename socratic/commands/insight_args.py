"""Arguments of ``socratic plan``, ``tune`` and ``report`` (kept apart from cli.py; no heavy import)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_insight_commands(sub: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the three subcommands on ``sub`` (the CLI's subparsers)."""
    plan = sub.add_parser("plan", help="what a run over --data would cost, per model, before running it")
    plan.add_argument("graph", help="graph file (YAML)")
    plan.add_argument("--data", required=True, metavar="ROWS", help="rows (any data format run reads)")
    plan.add_argument("--sample", type=int, default=0, metavar="K",
                      help="run the first K rows for real to measure seconds per call")
    plan.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    plan.add_argument("--concurrency", type=int, default=8)
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.add_argument("--no-cache", action="store_true")
    plan.add_argument("--cache-dir", help="cache folder (default $SOCRATIC_CACHE_DIR or user cache)")
    add_common(plan)

    tune = sub.add_parser("tune", help="tune a graph's tune: knobs on training rows, report on dev rows")
    tune.add_argument("graph", help="graph file (YAML) with a tune: section")
    tune.add_argument("--train", required=True, metavar="ROWS", help="rows to tune on")
    tune.add_argument("--dev", required=True, metavar="ROWS", help="held-out rows to report on")
    tune.add_argument("--metric", default=None, choices=["accuracy", "exact_match"],
                      help="default: tune.metric")
    tune.add_argument("--out", default=None, metavar="GRAPH.tuned.yaml",
                      help="where the tuned graph goes (default: next to GRAPH)")
    tune.add_argument("--report", default=None, metavar="DIR",
                      help="folder for the table and plot (default: the tuned graph's folder)")
    tune.add_argument("--budget", type=int, default=None, help="model calls the search may spend")
    tune.add_argument("--seed", type=int, default=None)
    tune.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    tune.add_argument("--concurrency", type=int, default=16)
    tune.add_argument("--no-cache", action="store_true")
    tune.add_argument("--cache-dir", help="cache folder (default $SOCRATIC_CACHE_DIR or user cache)")
    add_common(tune)

    report = sub.add_parser("report", help="one static HTML page of a run --out file or a trace")
    report.add_argument("source", help="a run --out JSONL file or Parquet folder, or a trace JSONL")
    report.add_argument("-o", "--output", default="report.html", help="the HTML file to write")
    report.add_argument("--data", default=None, metavar="ROWS",
                        help="the rows the run read (inputs such as images; joined by row index)")
    report.add_argument("--trace", default=None, metavar="TRACE.jsonl",
                        help="a trace of the same run (model calls, prompts and answers per row)")
    report.add_argument("--truth", default=None, metavar="COLUMN",
                        help="the column with the right answer (rows marked correct / wrong)")
    report.add_argument("--compare", default=None, metavar="OUTPUT",
                        help="the graph output compared with --truth (default: label, caption, answer)")
    report.add_argument("--title", default=None)
    report.add_argument("--link-images", action="store_true", help="link images instead of embedding them")
    add_common(report)
