"""Fan-out of many chat requests against a server with fixed latency: ours vs the raw SDK.

256 chat requests at concurrency 16 against socratic's fake OpenAI server (127.0.0.1, in its own
process) answering after 100 ms and after 500 ms. Compared, in the same run:

- socratic graph: a graph with one ``llm.generate`` node run over 256 rows with
  ``aiter_many(concurrency=16)`` (what ``socratic run --data`` does);
- socratic: the ``openai`` backend (cache off), calls gathered with plain asyncio.gather; the
  backend's own concurrency limit (``max_concurrency: 16``) does the throttling;
- raw SDK: ``AsyncOpenAI`` + ``asyncio.Semaphore(16)``;
- LangChain: ``ChatOpenAI.abatch(..., config={"max_concurrency": 16})``;
- ideal: ``ceil(256 / 16) * latency``.

Ratios are time / ideal (1.00 = no overhead) and time / raw SDK. Each variant runs ``--repeat``
times (rounds interleave the variants) and the best time is shown. On a 2-core machine the SDK's
own CPU cost per request (~10 ms) dominates at 100 ms latency. Run:
``python bench/bench_llm_fanout.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from collections.abc import Awaitable, Callable

from socratic.llm.openai_backend import OpenAILLM
from socratic.testing import FakeOpenAIProcess

KEY = "bench-key"


def prompts(n: int) -> list[str]:
    return [f"request number {i}: describe a cat" for i in range(n)]


async def run_socratic(base_url: str, texts: list[str], concurrency: int) -> int:
    llm = OpenAILLM(model="bench", base_url=base_url, cache=False, max_concurrency=concurrency)
    results = await asyncio.gather(*(llm.agenerate(t) for t in texts))
    await llm.aclose()
    return len(results)


async def run_socratic_graph(base_url: str, texts: list[str], concurrency: int) -> int:
    from socratic import Graph
    from socratic.nodes.llm import Generate

    llm = OpenAILLM(model="bench", base_url=base_url, cache=False, max_concurrency=concurrency)
    graph = Graph("fan-out")
    graph.add_input("text", str)
    graph.add("ask", Generate(llm, template="{{ text }}"), text="inputs.text")
    graph.add_output("answer", "ask.output")
    done = 0
    async for _, result in graph.aiter_many(({"text": t} for t in texts), concurrency=concurrency):
        assert "outputs" in result, result
        done += 1
    await llm.aclose()
    return done


async def run_sdk(base_url: str, texts: list[str], concurrency: int) -> int:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    sem = asyncio.Semaphore(concurrency)

    async def one(text: str) -> str:
        async with sem:
            r = await client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": text}])
            return r.choices[0].message.content or ""

    results = await asyncio.gather(*(one(t) for t in texts))
    await client.close()
    return len(results)


async def run_langchain(base_url: str, texts: list[str], concurrency: int) -> int:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model="bench", base_url=base_url, api_key=KEY, max_retries=0)
    results = await chat.abatch(texts, config={"max_concurrency": concurrency})
    return len(results)


Runner = Callable[[str, list[str], int], Awaitable[int]]


def measure(runner: Runner, latency: float, n: int, concurrency: int) -> float:
    """One run against a fresh server process; checks every request reached the server."""
    with FakeOpenAIProcess(latency=latency) as server:
        t0 = time.perf_counter()
        done = asyncio.run(runner(server.base_url, prompts(n), concurrency))
        elapsed = time.perf_counter() - t0
        assert done == n and server.count == n, (done, server.count)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.1, 0.5])
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs")
    args = parser.parse_args()
    import langchain_openai  # noqa: F401 - import costs stay out of the timings
    import openai  # noqa: F401

    os.environ["SOCRATIC_NO_CACHE"] = "1"
    os.environ["OPENAI_API_KEY"] = KEY  # for the loopback fake server only
    runners: list[tuple[str, Runner]] = [
        ("socratic graph (aiter_many)", run_socratic_graph),
        ("socratic openai backend", run_socratic),
        ("raw AsyncOpenAI + Semaphore", run_sdk),
        ("LangChain ChatOpenAI.abatch", run_langchain),
    ]
    print(f"{args.requests} chat requests, concurrency {args.concurrency}, "
          f"fake server process on 127.0.0.1, best of {args.repeat}, {os.cpu_count()} CPUs")
    print(f"{'latency':>8} | {'variant':<30} | {'seconds':>8} | {'req/s':>7} | {'x ideal':>7} | "
          f"{'x raw SDK':>9}")
    print("-" * 85)
    for latency in args.latency:
        ideal = math.ceil(args.requests / args.concurrency) * latency
        print(f"{latency * 1000:>6.0f}ms | {'ideal':<30} | {ideal:>8.2f} | "
              f"{args.requests / ideal:>7.1f} | {1.0:>7.2f} | {'':>9}")
        best = dict.fromkeys((name for name, _ in runners), math.inf)
        for _ in range(args.repeat):  # rounds interleave the variants (no order advantage)
            for name, runner in runners:
                elapsed = measure(runner, latency, args.requests, args.concurrency)
                best[name] = min(best[name], elapsed)
        raw = best["raw AsyncOpenAI + Semaphore"]
        for name, elapsed in best.items():
            print(f"{latency * 1000:>6.0f}ms | {name:<30} | {elapsed:>8.2f} | "
                  f"{args.requests / elapsed:>7.1f} | {elapsed / ideal:>7.2f} | "
                  f"{elapsed / raw:>9.2f}")


if __name__ == "__main__":
    main()
