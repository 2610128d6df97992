"""The response cache: the same 256 chat requests again, answered without the server.

First pass: 256 chat requests at concurrency 16 through the ``openai`` backend (cache on, an
empty cache directory) against socratic's fake OpenAI server in its own process, answering after
``--latency`` seconds. Then the same requests again, three times: no cached pass may send a
request to the server, and the best cached pass must be at least 50x faster than the cold one
(the machine is shared: a single pass of ~0.1 s is at the mercy of other processes). Run:
``python bench/bench_cache.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time

from socratic import usage
from socratic.cache import Cache
from socratic.context import BuildContext
from socratic.llm.openai_backend import OpenAILLM
from socratic.testing import FakeOpenAIProcess


async def fan_out(llm: OpenAILLM, texts: list[str]) -> list[str]:
    results = await asyncio.gather(*(llm.agenerate(t) for t in texts))
    return [r.text for r in results]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.1, 0.5])
    args = parser.parse_args()
    import openai  # noqa: F401 - the import cost stays out of the cold pass

    os.environ["OPENAI_API_KEY"] = "bench-key"  # for the loopback fake server only
    texts = [f"request number {i}: describe a cat" for i in range(args.requests)]
    print(f"{args.requests} chat requests, concurrency {args.concurrency}, SQLite cache, "
          f"fake server process on 127.0.0.1, {os.cpu_count()} CPUs")
    print(f"{'latency':>8} | {'pass':<14} | {'seconds':>8} | {'server requests':>15} | "
          f"{'cache hits':>10} | {'speedup':>8}")
    print("-" * 80)
    ok = True
    for latency in args.latency:
        cold_cache = Cache(tempfile.mkdtemp(prefix="socratic-bench-cache-"))
        with FakeOpenAIProcess(latency=latency) as server:
            llm = OpenAILLM(model="bench", base_url=server.base_url,
                            max_concurrency=args.concurrency).bind(BuildContext(cache=cold_cache))
            rows = []
            answers = []
            for name in ("1: cold", "2: cached", "3: cached", "4: cached"):
                before = server.count
                gc.collect()
                with usage.track() as stats:
                    t0 = time.perf_counter()
                    answers.append(asyncio.run(fan_out(llm, texts)))
                    elapsed = time.perf_counter() - t0
                rows.append((name, elapsed, server.count - before, stats.cache_hits))
        cold = rows[0][1]
        warm = min(r[1] for r in rows[1:])
        for name, elapsed, sent, hits in rows:
            speed = f"{cold / elapsed:>7.0f}x" if sent == 0 else f"{'':>8}"
            print(f"{latency * 1000:>6.0f}ms | {name:<14} | {elapsed:>8.3f} | {sent:>15} | "
                  f"{hits:>10} | {speed}")
        print(f"{latency * 1000:>6.0f}ms | best cached: {cold / warm:.0f}x faster than cold")
        good = all(r[2] == 0 for r in rows[1:]) and cold / warm >= 50
        ok = ok and good and all(a == answers[0] for a in answers)
    print("OK: no request reached the server on the second pass, speedup >= 50x" if ok
          else "FAILED: the cache did not meet its target")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
