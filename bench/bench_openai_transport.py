"""The openai backend's HTTP transport: SDK default (httpx), aiohttp, a tuned httpx client.

256 chat requests at concurrency 16 against socratic's fake OpenAI server (127.0.0.1, in its own
process) answering after 100 ms. Compared in the same run (rounds interleave the variants, best
of ``--repeat``):

- raw ``AsyncOpenAI`` + ``asyncio.Semaphore(16)`` with the SDK's default client (httpx2), with
  ``DefaultAioHttpClient`` (aiohttp, the SDK's ``openai[aiohttp]`` option) and with a tuned
  shared httpx2 client (no env proxies, keep-alive pool sized to the concurrency);
- socratic's ``openai`` backend (cache off) with ``transport: httpx`` and ``transport: aiohttp``;
- socratic's ``openai`` backend with ``transport: direct`` (the default when aiohttp is
  installed: :mod:`socratic.llm.openai_direct`);
- LangChain ``ChatOpenAI.abatch``;
- aiohttp alone (``json.dumps`` + one session, no SDK): the client-side floor;
- ideal: ``ceil(256 / 16) * latency``.

Run: ``python bench/bench_openai_transport.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from collections.abc import Awaitable, Callable

from socratic.testing import FakeOpenAIProcess

KEY = "bench-key"


def prompts(n: int) -> list[str]:
    return [f"request number {i}: describe a cat" for i in range(n)]


def sdk_runner(kind: str) -> Callable[[str, list[str], int], Awaitable[int]]:
    async def run(base_url: str, texts: list[str], concurrency: int) -> int:
        import httpx2
        import openai

        http_client = None
        if kind == "aiohttp":
            http_client = openai.DefaultAioHttpClient()
        elif kind == "tuned httpx":
            http_client = openai.DefaultAsyncHttpx2Client(
                trust_env=False, limits=httpx2.Limits(max_connections=concurrency * 2,
                                                      max_keepalive_connections=concurrency * 2))
        client = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0, http_client=http_client)
        sem = asyncio.Semaphore(concurrency)

        async def one(text: str) -> str:
            async with sem:
                r = await client.chat.completions.create(
                    model="bench", messages=[{"role": "user", "content": text}])
                return r.choices[0].message.content or ""

        results = await asyncio.gather(*(one(t) for t in texts))
        await client.close()
        return len(results)

    return run


def socratic_runner(transport: str) -> Callable[[str, list[str], int], Awaitable[int]]:
    async def run(base_url: str, texts: list[str], concurrency: int) -> int:
        from socratic.llm.openai_backend import OpenAILLM

        llm = OpenAILLM(model="bench", base_url=base_url, cache=False, max_concurrency=concurrency,
                        transport=transport)
        results = await asyncio.gather(*(llm.agenerate(t) for t in texts))
        await llm.aclose()
        return len(results)

    return run


async def run_aiohttp_floor(base_url: str, texts: list[str], concurrency: int) -> int:
    """No SDK at all: json.dumps + one aiohttp session (the client-side floor)."""
    import json

    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async def one(text: str) -> str:
            async with sem:
                body = {"model": "bench", "messages": [{"role": "user", "content": text}]}
                async with session.post(base_url + "/chat/completions", data=json.dumps(body)) as r:
                    return (await r.json())["choices"][0]["message"]["content"]

        return len(await asyncio.gather(*(one(t) for t in texts)))


async def run_langchain(base_url: str, texts: list[str], concurrency: int) -> int:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model="bench", base_url=base_url, api_key=KEY, max_retries=0)
    return len(await chat.abatch(texts, config={"max_concurrency": concurrency}))


def measure(runner: Callable[..., Awaitable[int]], latency: float, n: int, concurrency: int) -> float:
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
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    args = parser.parse_args()
    import langchain_openai  # noqa: F401 - import costs stay out of the timings
    import openai  # noqa: F401

    os.environ["SOCRATIC_NO_CACHE"] = "1"
    os.environ["OPENAI_API_KEY"] = KEY  # for the loopback fake server only
    runners = [
        ("raw SDK, default httpx", sdk_runner("default")),
        ("raw SDK, tuned httpx", sdk_runner("tuned httpx")),
        ("raw SDK, aiohttp", sdk_runner("aiohttp")),
        ("socratic openai, sdk (httpx)", socratic_runner("sdk")),
        ("socratic openai, sdk-aiohttp", socratic_runner("sdk-aiohttp")),
        ("socratic openai, direct (default)", socratic_runner("direct")),
        ("LangChain ChatOpenAI.abatch", run_langchain),
        ("aiohttp alone, no SDK (floor)", run_aiohttp_floor),
    ]
    ideal = math.ceil(args.requests / args.concurrency) * args.latency
    best = dict.fromkeys((name for name, _ in runners), math.inf)
    for _ in range(args.repeat):
        for name, runner in runners:
            best[name] = min(best[name], measure(runner, args.latency, args.requests, args.concurrency))
    raw = best["raw SDK, default httpx"]
    print(f"{args.requests} chat requests, concurrency {args.concurrency}, latency "
          f"{args.latency * 1000:.0f} ms, fake server process, best of {args.repeat}, {os.cpu_count()} CPUs")
    print(f"{'variant':<34} | {'seconds':>7} | {'x ideal':>7} | {'x raw SDK':>9}")
    print("-" * 66)
    print(f"{'ideal':<34} | {ideal:>7.2f} | {1.0:>7.2f} |")
    for name, elapsed in best.items():
        print(f"{name:<34} | {elapsed:>7.2f} | {elapsed / ideal:>7.2f} | {elapsed / raw:>9.2f}")


if __name__ == "__main__":
    main()
