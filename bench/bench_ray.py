"""The Ray engine against the local engine on this machine, and the scale-out shape of Ray.

1. Overhead: ``--rows`` rows (default 10,000) through a one-node graph (text.template) and a
   CLIP graph (clip.classify on a tiny open_clip, the 4 example photos over and over), each
   run by the local engine and by the Ray engine (a local Ray cluster of ``--cpus`` CPUs,
   started before the timing; the Ray time includes starting the stage's actors and
   serialising every row): rows/s of both and the ratio. Same runner, same JSONL output.
2. Scale-out: a stand-in for a remote model that waits 100 ms per batch of 16 rows (no CPU
   used), with 1, 2 and 4 actors: rows/s and the speed-up over one actor (ideal: 1, 2, 4).

    python bench/bench_ray.py [--rows 10000] [--scale-rows 2400] [--cpus 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from socratic.llm.base import LLM, LLMResult

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

TEMPLATE = """
name: one-node
inputs: {text: str}
nodes:
  shout: {type: text.template, template: "{{ t | upper }}!", t: "${inputs.text}"}
outputs: {loud: "${shout.output}"}
"""

CLIP = """
name: clip
inputs: {image: image}
models:
  clip: {backend: open_clip, model: "MODEL", resources: {batch_size: 64}}
nodes:
  zs: {type: clip.classify, model: clip, image: "${inputs.image}", classes: [cat, dog, rocket, coffee]}
outputs: {label: "${zs.label}"}
"""

STANDIN = """
name: stand-in
inputs: {text: str}
models:
  remote: {backend: bench-wait, model: wait, cache: false,
           resources: {replicas: REPLICAS, num_cpus: 0.2, batch_size: 16}}
nodes:
  ask: {type: llm.generate, model: remote, template: "{{ t }}", t: "${inputs.text}"}
outputs: {answer: "${ask.text}"}
"""


class WaitPerBatch(LLM):
    """Answers a whole batch after 100 ms (like a remote model taking batched requests)."""

    backend: ClassVar[str] = "bench-wait"

    async def agenerate_batch(self, requests):
        await asyncio.sleep(0.1)
        return [LLMResult(texts=[r.as_messages()[-1]["content"]] * r.n) for r in requests]

    async def _agenerate(self, request):
        return (await self.agenerate_batch([request]))[0]


def timed(runner, data: Path, out: Path) -> tuple[float, float, dict]:
    """Wall seconds of ``runner.run``, the steady rate (rows/s from the first record written to
    the last: start-up left out), and the summary."""
    if out.exists():
        out.unlink()
    stamps: list[float] = []
    count = runner.count

    def counted(record):
        stamps.append(time.perf_counter())
        count(record)

    runner.count = counted
    start = time.perf_counter()
    summary = runner.run(data, out)
    seconds = time.perf_counter() - start
    if not stamps:  # the local engine counts inside its own loop: time its whole run
        return seconds, summary.done / seconds, summary.as_dict()
    steady = (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9)
    return seconds, steady, summary.as_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--scale-rows", type=int, default=2400)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    os.environ["SOCRATIC_NO_CACHE"] = "1"
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import logging

    import ray

    from socratic.engines.ray_engine import RayEngine, quiet_logs
    from socratic.models import register_backend
    from socratic.runner import RowRunner
    from socratic.spec import load_graph_text
    from socratic.testing import make_tiny_open_clip

    register_backend("bench-wait", "llm", WaitPerBatch)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    texts = tmp / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": f"row {i}", "id": i}) + "\n" for i in range(args.rows)))
    photos = sorted(str(p) for p in (EXAMPLES / "images").glob("*.jpg"))
    images = tmp / "images.jsonl"
    images.write_text("".join(json.dumps({"image": photos[i % len(photos)], "id": i}) + "\n"
                              for i in range(args.rows)))
    clip_dir = make_tiny_open_clip(tmp / "clip", name="bench-tiny-vit").local_dir

    start = time.perf_counter()
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, logging_level=logging.ERROR)
    quiet_logs()
    print(f"Ray {ray.__version__}: local cluster of {args.cpus} CPUs started in"
          f" {time.perf_counter() - start:.1f} s (not in the timings below); torch threads {args.threads}")
    figures: dict = {"rows": args.rows, "cpus": args.cpus}

    print(f"\n1. overhead: {args.rows} rows, local engine vs Ray engine, rows/s of whole runs (Ray's"
          " first run starts the stage's worker processes; the second finds task workers warm)")
    print(f"{'graph':<10} {'local':>7} {'ray 1st':>8} {'ray 2nd':>8} {'ray/local':>10}   ray plan")
    for name, text, data in (("one node", TEMPLATE, texts), ("tiny CLIP", CLIP.replace("MODEL", clip_dir), images)):
        graph = load_graph_text(text, base_dir=str(tmp))
        local_s, _, local_sum = timed(RowRunner(graph, concurrency=64), data, tmp / "local.jsonl")
        engine = RayEngine()
        first_s, _, _ = timed(RowRunner(graph, engine=engine, concurrency=64), data, tmp / "ray.jsonl")
        ray_s, _, ray_sum = timed(RowRunner(graph, engine=engine, concurrency=64), data, tmp / "ray.jsonl")
        same = (tmp / "local.jsonl").read_text() == (tmp / "ray.jsonl").read_text()
        assert local_sum == ray_sum and local_sum["done"] == args.rows, (local_sum, ray_sum)
        plan = ", ".join(f"{s.kind}[{'+'.join(s.nodes)}]" for s in engine.plan(graph).stages)
        local_rate, first_rate, ray_rate = args.rows / local_s, args.rows / first_s, args.rows / ray_s
        print(f"{name:<10} {local_rate:>7.0f} {first_rate:>8.0f} {ray_rate:>8.0f} {ray_rate / local_rate:>9.2f}x"
              f"   {plan}; outputs identical: {same}")
        figures[name] = {"local_rows_per_s": local_rate, "ray_first_rows_per_s": first_rate,
                         "ray_rows_per_s": ray_rate, "ratio": ray_rate / local_rate, "identical": same}

    print(f"\n2. scale-out: {args.scale_rows} rows, a stand-in model waiting 100 ms per batch of 16 rows")
    print(f"{'actors':>6} {'seconds':>8} {'rows/s':>7} {'steady rows/s':>14} {'speed-up':>9}"
          "   (steady, over one actor; ideal: the number of actors)")
    data = tmp / "scale.jsonl"
    data.write_text("".join(json.dumps({"text": f"q{i}"}) + "\n" for i in range(args.scale_rows)))
    base = None
    figures["scale_out"] = {}
    for replicas in (1, 2, 4):
        graph = load_graph_text(STANDIN.replace("REPLICAS", str(replicas)))
        seconds, steady, summary = timed(RowRunner(graph, engine=RayEngine()), data, tmp / "scale_out.jsonl")
        assert summary["done"] == args.scale_rows, summary
        base = base or steady
        print(f"{replicas:>6} {seconds:>8.1f} {args.scale_rows / seconds:>7.0f} {steady:>14.0f}"
              f" {steady / base:>8.2f}x")
        figures["scale_out"][replicas] = {"seconds": seconds, "rows_per_s": args.scale_rows / seconds,
                                          "steady_rows_per_s": steady, "speedup": steady / base}
    ray.shutdown()
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
