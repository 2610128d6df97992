"""Scheduler overhead: socratic's Graph.run / Graph.arun against plain calls and LangChain.

Measures, per node (or per branch), the time the scheduler adds on top of calling the same
trivial functions (``x + 1``) directly:

- a chain of 1,000 sync ``@node`` functions via ``Graph.run`` (no event loop: all inline);
- a 100-way fan-out (100 independent nodes fed by one input, 100 graph outputs);
- the same chain and fan-out with ``async def`` nodes via ``Graph.arun`` in one event loop;
- LangChain's ``RunnableSequence`` of 1,000 ``RunnableLambda`` s and a 100-way
  ``RunnableParallel`` (sync ``invoke`` and async ``ainvoke``), in the same process.

Each figure is the best of several repeats (least disturbed by the machine). Target: under
10 us per node for socratic's sync chain. ``--profile`` prints where the sync chain's time goes.

Run: ``python bench/bench_scheduler.py [--repeats 7] [--profile]``
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import io
import os
import platform
import pstats
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

os.environ.pop("LANGCHAIN_TRACING_V2", None)  # no tracing callbacks in LangChain's numbers
os.environ.pop("LANGSMITH_TRACING", None)

from socratic import Graph, node

CHAIN = 1000
FAN = 100


def add1(x: int) -> int:
    """The trivial work of every node."""
    return x + 1


async def add1_async(x: int) -> int:
    """The trivial work of every async node."""
    return x + 1


SyncNode = node(add1, name="bench.add1", register=False)
AsyncNode = node(add1_async, name="bench.add1_async", register=False)


def chain_graph(node_cls: Any, n: int = CHAIN) -> Graph:
    """``inputs.x -> n0 -> n1 -> ... -> n{n-1}``; names sort in chain order."""
    g = Graph(f"chain{n}")
    g.add_input("x", int)
    prev = "inputs.x"
    for i in range(n):
        name = f"n{i:05d}"
        g.add(name, node_cls, x=prev)
        prev = f"{name}.output"
    g.add_output("y", prev)
    g.plan()  # compile once, outside the timing
    return g


def fan_graph(node_cls: Any, n: int = FAN) -> Graph:
    """``inputs.x`` feeds ``n`` independent nodes, each one a graph output."""
    g = Graph(f"fan{n}")
    g.add_input("x", int)
    for i in range(n):
        g.add(f"b{i:03d}", node_cls, x="inputs.x")
        g.add_output(f"o{i:03d}", f"b{i:03d}.output")
    g.plan()
    return g


def best_of(fn: Callable[[], Any], repeats: int, inner: int) -> float:
    """Best (smallest) mean seconds per call of ``fn`` over ``repeats`` x ``inner`` calls."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def best_of_async(fn: Callable[[], Awaitable[Any]], repeats: int, inner: int) -> float:
    """Like :func:`best_of`, awaiting ``fn()`` inside one event loop."""

    async def main() -> float:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(inner):
                await fn()
            best = min(best, (time.perf_counter() - t0) / inner)
        return best

    return asyncio.run(main())


def direct_chain() -> int:
    x = 0
    for _ in range(CHAIN):
        x = add1(x)
    return x


def direct_fan() -> dict[str, int]:
    return {f"o{i:03d}": add1(0) for i in range(FAN)}


async def direct_chain_async() -> int:
    x = 0
    for _ in range(CHAIN):
        x = await add1_async(x)
    return x


async def direct_fan_async() -> list[int]:
    return list(await asyncio.gather(*(add1_async(0) for _ in range(FAN))))


def langchain_rows(repeats: int) -> list[tuple[str, float, float]]:
    """(case, seconds per call, units) for LangChain, or [] when langchain-core is missing."""
    try:
        from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnableSequence
    except ImportError:
        print("langchain-core not installed: LangChain rows skipped", file=sys.stderr)
        return []
    seq = RunnableSequence(*[RunnableLambda(add1) for _ in range(CHAIN)])
    par = RunnableParallel({f"o{i:03d}": RunnableLambda(add1) for i in range(FAN)})
    aseq = RunnableSequence(*[RunnableLambda(add1_async) for _ in range(CHAIN)])
    apar = RunnableParallel({f"o{i:03d}": RunnableLambda(add1_async) for i in range(FAN)})
    assert seq.invoke(0) == CHAIN and par.invoke(0)["o000"] == 1
    reps = max(3, repeats // 2)
    return [
        ("LangChain RunnableSequence x1000 (invoke)", best_of(lambda: seq.invoke(0), reps, 1), CHAIN),
        ("LangChain RunnableParallel x100 (invoke)", best_of(lambda: par.invoke(0), reps, 3), FAN),
        ("LangChain RunnableSequence x1000 (ainvoke)",
         best_of_async(lambda: aseq.ainvoke(0), reps, 1), CHAIN),
        ("LangChain RunnableParallel x100 (ainvoke)",
         best_of_async(lambda: apar.ainvoke(0), reps, 3), FAN),
    ]


def profile_chain(graph: Graph, calls: int = 200) -> str:
    """cProfile of ``calls`` runs of the sync chain: the top functions by own time."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        graph.run(x=0)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="repeats per case (best is shown)")
    ap.add_argument("--profile", action="store_true", help="cProfile the sync chain")
    ap.add_argument("--no-langchain", action="store_true", help="skip the LangChain rows")
    args = ap.parse_args(argv)
    r = args.repeats

    sync_chain, sync_fan = chain_graph(SyncNode), fan_graph(SyncNode)
    async_chain, async_fan = chain_graph(AsyncNode), fan_graph(AsyncNode)
    assert sync_chain.run(x=0) == {"y": CHAIN} and sync_fan.run(x=0)["o099"] == 1
    assert sync_chain.plan().all_inline and not async_chain.plan().all_inline

    base_chain = best_of(direct_chain, r, 20)
    base_fan = best_of(direct_fan, r, 100)
    base_achain = best_of_async(direct_chain_async, r, 20)
    base_afan = best_of_async(direct_fan_async, r, 50)
    rows: list[tuple[str, float, float, float | None]] = [
        ("socratic Graph.run chain x1000 (sync)",
         best_of(functools.partial(sync_chain.run, x=0), r, 20), CHAIN, base_chain),
        ("socratic Graph.run fan-out x100 (sync)",
         best_of(functools.partial(sync_fan.run, x=0), r, 100), FAN, base_fan),
        ("socratic Graph.arun chain x1000 (async)",
         best_of_async(functools.partial(async_chain.arun, x=0), r, 5), CHAIN, base_achain),
        ("socratic Graph.arun fan-out x100 (async)",
         best_of_async(functools.partial(async_fan.arun, x=0), r, 20), FAN, base_afan),
    ]
    lc = [] if args.no_langchain else langchain_rows(r)
    rows += [(name, sec, units, None) for name, sec, units in lc]

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# bench_scheduler: Python {platform.python_version()}, {cores} usable cores "
          f"({os.cpu_count()} on the machine); socratic runs on 1 thread "
          f"(threads alive now: {threading.active_count()}); best of {r} repeats")
    print(f"{'case':<44} {'total ms':>9} {'us/node':>8} {'direct us':>9} {'overhead us':>11} {'x direct':>8}")
    for name, sec, units, base in rows:
        per = sec / units * 1e6
        if base is None:
            print(f"{name:<44} {sec * 1e3:9.2f} {per:8.2f} {'':>9} {'':>11} {'':>8}")
        else:
            b = base / units * 1e6
            print(f"{name:<44} {sec * 1e3:9.2f} {per:8.2f} {b:9.3f} {per - b:11.2f} {sec / base:8.1f}")
    ours = rows[0][1] / CHAIN * 1e6
    print(f"target: socratic sync chain < 10 us/node: {'met' if ours < 10 else 'NOT met'} ({ours:.2f} us)")
    for name, sec, units, _ in rows[: len(rows) - len(lc)]:
        for lname, lsec, lunits in lc:
            same = ("chain" in name) == ("Sequence" in lname) and ("async" in name) == ("ainvoke" in lname)
            if same:
                print(f"  {lname} / {name}: {lsec / lunits / (sec / units):.0f}x per node")
    if args.profile:
        print(profile_chain(sync_chain))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
