"""Image fan-out: 256 chat requests, each with its own 512x512 image, at concurrency 16.

Against socratic's fake OpenAI server (its own process, 100 ms latency, images not decoded by
the server so that only the client's costs differ). Compared in the same run, best of
``--repeat`` (rounds interleave the variants):

- raw SDK: ``AsyncOpenAI`` + ``asyncio.Semaphore(16)``, every image already encoded as a data
  URL before the clock starts (the SDK's best case);
- socratic ``openai`` backend (cache off) given the image *files*: it hashes, reads and encodes
  each image during the run (the memo is cleared first), once per image; with the default
  transport (direct) and with ``transport: sdk``;
- ideal: ``ceil(256 / 16) * latency``.

Also printed: the image CPU cost per request (hash + base64 data URL of one 512x512 PNG, cold
memo, measured alone), and that a second use of the same image costs ~nothing (memo). Run:
``python bench/bench_image_fanout.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from pathlib import Path

from socratic.testing import FakeOpenAIProcess

KEY = "bench-key"


def make_images(folder: Path, n: int, side: int) -> list[str]:
    """``n`` distinct photo-like PNGs (smooth colour fields with shapes and mild noise)."""
    import numpy as np
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:side, 0:side] / side
    paths = []
    for i in range(n):
        c = rng.random((3, 3))
        rgb = np.stack([c[k, 0] + c[k, 1] * x + c[k, 2] * y for k in range(3)], -1)
        rgb = (rgb / rgb.max() * 200 + rng.normal(0, 6, (side, side, 3))).clip(0, 255).astype("uint8")
        im = Image.fromarray(rgb)
        d = ImageDraw.Draw(im)
        for _ in range(6):
            x0, y0 = rng.integers(0, side - 64, 2)
            d.ellipse([int(x0), int(y0), int(x0) + 64, int(y0) + 64], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        path = folder / f"img{i:03d}.png"
        im.save(path)
        paths.append(str(path))
    return paths


async def run_sdk(base_url: str, urls: list[str], concurrency: int) -> int:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    sem = asyncio.Semaphore(concurrency)

    async def one(url: str) -> str:
        async with sem:
            r = await client.chat.completions.create(model="bench", messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "What is this?"}]}])
            return r.choices[0].message.content or ""

    results = await asyncio.gather(*(one(u) for u in urls))
    await client.close()
    return len(results)


def socratic_runner(transport: str):
    async def run(base_url: str, paths: list[str], concurrency: int) -> int:
        from socratic.llm import images
        from socratic.llm.openai_backend import OpenAILLM

        images.clear_memo()
        llm = OpenAILLM(model="bench", base_url=base_url, cache=False, max_concurrency=concurrency,
                        transport=transport)
        results = await asyncio.gather(*(llm.agenerate({"messages": [{"role": "user", "content": [
            {"type": "image", "image": p}, {"type": "text", "text": "What is this?"}]}]}) for p in paths))
        await llm.aclose()
        assert images.encode_count == len(paths)
        return len(results)

    return run


def measure(runner, items: list[str], latency: float, concurrency: int) -> float:
    with FakeOpenAIProcess(latency=latency, check_images=False) as server:
        t0 = time.perf_counter()
        done = asyncio.run(runner(server.base_url, items, concurrency))
        elapsed = time.perf_counter() - t0
        assert done == len(items) == server.count, (done, server.count)
    return elapsed


def image_cpu(paths: list[str]) -> tuple[float, float, int]:
    """CPU ms per image: cold (hash + read + base64), then warm (memo); mean data URL size."""
    from socratic.llm import images

    images.clear_memo()
    t = time.process_time()
    sizes = [len(images.data_url(p).url) for p in paths]
    cold = (time.process_time() - t) / len(paths) * 1000
    t = time.process_time()
    for p in paths:
        images.data_url(p)
    warm = (time.process_time() - t) / len(paths) * 1000
    return cold, warm, sum(sizes) // len(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--folder", default="/tmp/socratic-bench-images")
    args = parser.parse_args()
    import openai  # noqa: F401 - import costs stay out of the timings

    from socratic.llm import images

    os.environ["SOCRATIC_NO_CACHE"] = "1"
    paths = make_images(Path(args.folder), args.requests, args.side)
    cold, warm, size = image_cpu(paths)
    urls = [images.data_url(p).url for p in paths]  # the SDK's images, encoded before the clock
    runners = [("raw SDK, images pre-encoded", run_sdk, urls),
               ("socratic openai (direct), files", socratic_runner("direct"), paths),
               ("socratic openai (sdk), files", socratic_runner("sdk"), paths)]
    best = dict.fromkeys((n for n, _, _ in runners), math.inf)
    for _ in range(args.repeat):
        for name, runner, items in runners:
            best[name] = min(best[name], measure(runner, items, args.latency, args.concurrency))
    ideal = math.ceil(args.requests / args.concurrency) * args.latency
    raw = best["raw SDK, images pre-encoded"]
    print(f"{args.requests} requests, each one {args.side}x{args.side} PNG (data URL ~{size / 1e3:.0f} kB), "
          f"concurrency {args.concurrency}, latency {args.latency * 1000:.0f} ms, best of {args.repeat}, "
          f"{os.cpu_count()} CPUs")
    print(f"image CPU per request: {cold:.2f} ms first use (hash + read + base64), {warm:.3f} ms again (memo)")
    print(f"{'variant':<34} | {'seconds':>7} | {'x ideal':>7} | {'x raw SDK':>9}")
    print("-" * 66)
    print(f"{'ideal':<34} | {ideal:>7.2f} | {1.0:>7.2f} |")
    for name, elapsed in best.items():
        print(f"{name:<34} | {elapsed:>7.2f} | {elapsed / ideal:>7.2f} | {elapsed / raw:>9.2f}")


if __name__ == "__main__":
    main()
