"""Tracing overhead: the row runner's per-row time with tracing off, against the runner as it was
before the trace hooks (``socratic/runner.py`` at a git revision, loaded as its own module), and
with tracing on (spans to an in-memory JSONL sink).

The graph: one input, a chain of ``--nodes`` trivial sync nodes and one trivial async node (so
every row goes through the event loop and the scheduler's task path), run over ``--rows`` rows
with ``RowRunner.collect`` (local engine). Off vs baseline is the cost of the hooks when nobody
traces (target: within noise, ratio ~1.00); on vs off is what a trace costs per span.

Each figure is the best of ``--repeats`` interleaved runs (least disturbed by the machine).

Run: ``python bench/bench_trace.py [--rows 2000] [--nodes 10] [--repeats 7] [--base REV]``
(``REV`` default: the last commit before the hooks, found as the newest commit whose runner.py does
not mention the tracer).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from socratic import Graph, node  # noqa: E402
from socratic.runner import RowRunner  # noqa: E402
from socratic.trace import JsonlSink, tracing  # noqa: E402


def add1(x: int) -> int:
    return x + 1


async def add1_async(x: int) -> int:
    return x + 1


SyncNode = node(add1, name="bench.trace.add1", register=False)
AsyncNode = node(add1_async, name="bench.trace.add1_async", register=False)


def graph(n: int) -> Graph:
    g = Graph("trace-bench")
    g.add_input("x", int)
    prev = "inputs.x"
    for i in range(n):
        g.add(f"n{i:03d}", SyncNode(), x=prev)
        prev = f"n{i:03d}.output"
    g.add("last", AsyncNode(), x=prev)
    g.add_output("y", "last.output")
    return g


def base_revision() -> str:
    """The newest commit whose socratic/runner.py has no tracer."""
    revs = subprocess.run(["git", "-C", str(ROOT), "log", "--format=%H", "--", "socratic/runner.py"],
                          capture_output=True, text=True, check=True).stdout.split()
    for rev in revs:
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:socratic/runner.py"],
                              capture_output=True, text=True, check=True).stdout
        if "tracer" not in text:
            return rev
    raise SystemExit("no revision of socratic/runner.py without the tracer")


def load_runner(rev: str) -> Any:
    """``socratic/runner.py`` at ``rev`` as module ``socratic._runner_base`` (its relative imports
    resolve inside the installed socratic package)."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:socratic/runner.py"],
                          capture_output=True, text=True, check=True).stdout
    folder = Path(tempfile.mkdtemp())
    path = folder / "runner_base.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("socratic._runner_base", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["socratic._runner_base"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--nodes", type=int, default=10)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--base", default=None, help="git revision of the runner without hooks")
    args = p.parse_args()
    rev = args.base or base_revision()
    base = load_runner(rev)
    g = graph(args.nodes)
    rows = [{"x": i} for i in range(args.rows)]
    spans = 0

    def off() -> None:
        RowRunner(g, concurrency=8).collect(rows)

    def baseline() -> None:
        base.RowRunner(g, concurrency=8).collect(rows)

    def on() -> None:
        nonlocal spans
        buf = io.StringIO()
        with tracing(JsonlSink(buf), otel=False):
            RowRunner(g, concurrency=8).collect(rows)
        spans = buf.getvalue().count("\n")

    best = {"baseline (no hooks)": float("inf"), "tracing off": float("inf"), "tracing on": float("inf")}
    for _ in range(args.repeats):  # interleaved, so drift of the machine hits all three alike
        for name, fn in (("baseline (no hooks)", baseline), ("tracing off", off), ("tracing on", on)):
            best[name] = min(best[name], timed(fn))
    print(f"python {platform.python_version()}, {os.cpu_count()} cores; {args.rows} rows x "
          f"({args.nodes} sync + 1 async) nodes; best of {args.repeats}; baseline runner.py @ {rev[:10]}")
    ref = best["baseline (no hooks)"]
    print(f"{'runner':<22}{'us/row':>10}{'ratio':>9}")
    for name, t in best.items():
        print(f"{name:<22}{t / args.rows * 1e6:>10.1f}{t / ref:>9.2f}")
    print(f"tracing on: {spans} spans, {(best['tracing on'] - best['tracing off']) / max(1, spans) * 1e6:.2f}"
          " us per span")


if __name__ == "__main__":
    main()
