"""vLLM vs the hf backend on the same prompts and the same model (GPU only; run by bench/gpu.sh).

A Llama-shaped model built by socratic.testing (random weights: no downloads; ``--width`` and
``--layers`` set its size), the same ``--prompts`` prompts, greedy decoding of ``--tokens`` new
tokens each with ``ignore_eos`` semantics approximated by a long cap; prints generated tokens/s
of both and the ratio. The hf backend batches ``--hf-batch`` requests per generate() call.

    python bench/bench_vllm.py --prompts 256 --tokens 64 --width 1024 --layers 8
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--hf-batch", type=int, default=64)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    import torch

    if not torch.cuda.is_available():
        raise SystemExit("bench_vllm needs a CUDA GPU")
    from socratic.llm.base import LLMRequest
    from socratic.llm.hf import HFLLM
    from socratic.llm.vllm import VLLMLLM
    from socratic.testing import make_tiny_lm

    folder = make_tiny_lm(Path(tempfile.mkdtemp()) / "llama", "llama", width=args.width,
                          layers=args.layers, heads=args.width // 64, init_std=0.02)
    requests = [LLMRequest(prompt=f"item {i}: a red square and {i % 7} blue circles", temperature=0,
                           max_tokens=args.tokens) for i in range(args.prompts)]
    figures = {}
    vllm = VLLMLLM(model=str(folder), dtype="bfloat16", cache=False, gpu_memory_utilization=0.5)
    vllm.resource()
    vllm.generate_many(requests[:8])  # warm-up (graphs, kernels)
    start = time.perf_counter()
    out = vllm.generate_many(requests)
    seconds = time.perf_counter() - start
    figures["vllm"] = sum(r.usage.completion_tokens for r in out) / seconds
    hf = HFLLM(model=str(folder), dtype="bfloat16", cache=False, device="cuda", batch_size=args.hf_batch)
    hf.generate(requests[0])
    start = time.perf_counter()
    import asyncio

    async def run_all():
        return await hf.agenerate_batch(requests)

    out = asyncio.run(run_all())
    seconds = time.perf_counter() - start
    figures["hf"] = sum(r.usage.completion_tokens for r in out) / seconds
    figures["ratio"] = figures["vllm"] / figures["hf"]
    print(f"generated tokens/s  vllm {figures['vllm']:.0f}  hf {figures['hf']:.0f}  ratio {figures['ratio']:.1f}x"
          f"  ({args.prompts} prompts x {args.tokens} tokens, llama width {args.width} x {args.layers})")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
