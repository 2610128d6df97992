"""The ``socratic`` command line: run, validate, show, nodes, cache, train, eval.

Exit codes: 0 success, 1 runtime failure (one clear message), 2 bad usage or invalid graph
(one ``FILE:LINE:COL: error: ...`` line per problem). No traceback unless ``--debug``.
Nothing heavy is imported here: ``socratic --help`` and ``socratic validate`` stay fast.

Example:
    $ socratic validate examples/*.yaml
    $ socratic run examples/hello.yaml -i topic=owls
    $ socratic run examples/hello.yaml --data rows.jsonl --out results.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    GraphError,
    SocraticError,
    ValidationFailed,
    exit_code_of,
    shorten,
)

#: longest error message the command line prints (user values echoed in it are cut)
MAX_MESSAGE = 4000


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exit code 2 and one line
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="socratic",
        description="Typed prompt graphs that compose CLIP, captioners and LLMs.",
        epilog="Exit codes: 0 ok, 1 runtime failure, 2 bad usage or invalid graph.",
    )
    parser.add_argument("--version", action="version", version=f"socratic {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="run a YAML graph (once, or over a JSONL dataset)")
    run.add_argument("graph", help="graph file (YAML)")
    run.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE",
                     help="a graph input (read as YAML unless the input is str or image)")
    run.add_argument("--inputs", metavar="FILE.json", help="graph inputs from a JSON object")
    run.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                     help="override a value of the file, e.g. models.llm.model=gpt-4o")
    run.add_argument("--data", metavar="ROWS",
                     help="run once per row: JSONL, CSV/TSV, COCO captions JSON, Parquet, or a folder"
                          " of class folders; columns that are not inputs are copied to the output")
    run.add_argument("--out", metavar="OUT.jsonl",
                     help="write each finished row here (a .jsonl file, or a folder of Parquet files for"
                          " OUT.parquet or OUT/); a re-run skips rows already done")
    run.add_argument("--rows-per-file", type=_positive_int, default=1000, metavar="N",
                     help="Parquet output: rows per file (a killed run loses at most the unwritten ones)")
    run.add_argument("--unordered", action="store_true",
                     help="write rows as they finish (default: output line i is input row i)")
    run.add_argument("--id-column", metavar="NAME",
                     help="the column that identifies a row when resuming (default: its position)")
    run.add_argument("--concurrency", type=_positive_int, default=8,
                     help="rows in flight with --data; calls in flight for one run")
    run.add_argument("--engine", choices=["local", "ray"], default="local",
                     help="what runs a --data run: this process (local), or Ray Data (ray: the graph in"
                          " stages, each model an actor pool; needs the 'ray' extra)")
    run.add_argument("--ray-address", metavar="auto|HOST:PORT",
                     help="with --engine ray: the cluster to join (auto: the one `ray start` began here);"
                          " default: a local cluster on this machine")
    run.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    run.add_argument("--cache-dir", help="cache folder (default $SOCRATIC_CACHE_DIR or user cache)")
    run.add_argument("--stats", action="store_true", help="print usage counts to stderr")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--trace", metavar="TRACE.jsonl",
                     help="record a span per row, node and model call as JSON lines (docs/tracing.md)")
    run.add_argument("--stream", action="store_true",
                     help="print the final text output's tokens as they arrive (one run)")
    _add_common(run)

    val = sub.add_parser("validate", help="check graph files completely, offline")
    val.add_argument("graphs", nargs="+", help="graph files")
    val.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    _add_common(val)

    show = sub.add_parser("show", help="print a graph as text, mermaid, dot or json")
    show.add_argument("graph")
    show.add_argument("--format", choices=["text", "mermaid", "dot", "json", "yaml"],
                      default="text")
    show.add_argument("--engine", choices=["local", "ray"], default="local",
                      help="ray: the stage plan --engine ray runs (stages, actor pools, resources)")
    show.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    _add_common(show)

    nodes = sub.add_parser("nodes", help="list every node type with its typed sockets")
    nodes.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    _add_common(nodes)

    backends = sub.add_parser("backends", help="list every model backend with its options")
    backends.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    _add_common(backends)

    cache = sub.add_parser("cache", help="response / embedding cache: stats or clear")
    cache.add_argument("action", choices=["stats", "clear"])
    cache.add_argument("--cache-dir")
    cache.add_argument("--namespace", help="only this namespace (clear)")
    _add_common(cache)

    train = sub.add_parser(
        "train",
        help="train what a config's task: names (bridge, lora, contrastive, qformer_stage1, llava, fromage,"
             " flamingo, pgn, mae)",
    )
    train.add_argument("config", help="training config (YAML)")
    train.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    train.add_argument("--print-launch", action="store_true",
                       help="print the command that launches this config on the visible devices, and exit")
    _add_common(train)

    ev = sub.add_parser("eval", help="evaluate classification, retrieval or captioning")
    ev.add_argument("task", choices=["classify", "retrieval", "caption"])
    ev.add_argument("graph", nargs="?", help="graph to run and evaluate (or give --predictions)")
    ev.add_argument("--data", required=True,
                    help="labelled / captioned rows: image folder, JSONL, CSV or COCO captions JSON")
    ev.add_argument("--predictions", metavar="OUT.jsonl",
                    help="score what `socratic run --data ROWS --out OUT.jsonl` wrote (no graph run)")
    ev.add_argument("--key", metavar="COLUMN",
                    help="join --predictions to data rows by this column (default: row position)")
    ev.add_argument("--output", metavar="NAME", help="the graph output to score (label / caption)")
    ev.add_argument("--out", default="eval_results", help="output folder (JSON + PNG plots)")
    ev.add_argument("--compare", nargs="+", metavar="GRAPH", default=[],
                    help="more graphs run on the same rows (e.g. a direct VLM beside a Socratic"
                         " pipeline): one table and plot of metrics, requests, tokens, seconds")
    ev.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    ev.add_argument("--concurrency", type=_positive_int, default=8)
    ev.add_argument("--no-cache", action="store_true")
    ev.add_argument("--cache-dir", help="cache folder (default $SOCRATIC_CACHE_DIR or user cache)")
    _add_common(ev)

    demo = sub.add_parser("demo", help="the offline shapes-world demo of every recipe")
    demo.add_argument("--out", default="demo_output", help="output folder")
    demo.add_argument("--quick", action="store_true", help="a smaller, faster run")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-clipcap", action="store_true", help="skip training the ClipCap bridge")
    demo.add_argument("--prepare-data", metavar="DIR",
                      help="only write the shapes data and tiny models that examples/train_*.yaml"
                           " read (e.g. examples/data/shapes), then stop")
    _add_common(demo)
    from .commands.insight_args import add_insight_commands

    add_insight_commands(sub, _add_common)
    return parser


def _guard(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; every error becomes one clear message and its class's exit code (the one
    place that maps errors to exit codes)."""
    try:
        return fn(args)
    except SocraticError as exc:
        if args.debug:
            raise
        if isinstance(exc, ValidationFailed):
            for e in exc.errors:
                print(shorten(str(e), MAX_MESSAGE), file=sys.stderr)
        else:
            text = str(exc) if isinstance(exc, GraphError) else f"error: {exc}"
            print(shorten(text, MAX_MESSAGE), file=sys.stderr)
        return exit_code_of(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `socratic nodes | head`: the reader left; nothing to report
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        print(shorten(f"error: {type(exc).__name__}: {exc}", MAX_MESSAGE)
              + " (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    import logging

    from . import commands

    handler = getattr(commands, f"cmd_{args.command}")
    if getattr(args, "debug", False):
        return _guard(handler, args)
    # libraries' log lines (hub retries, "failed to download") would bury the one clear message
    # socratic prints; --debug shows them
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        return _guard(handler, args)
    finally:
        logging.disable(previous)


def print_json(value: Any) -> None:
    from .types import to_jsonable

    json.dump(to_jsonable(value), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
