"""Dataset run with cross-row batching versus row-by-row calls (same graph, same images).

A zero-shot CLIP graph (clip.classify, ViT-B-32 architecture with random weights: no download)
runs over N images two ways, in the same process:
  - row by row: ``graph.run(image=...)`` for each image (every image encoder call has batch 1);
  - dataset run: ``graph.run_many(rows, concurrency=C)``: calls from concurrent rows are grouped
    into real batches for the image encoder.
Prints rows/s for both, the speedup and the batch sizes seen.

    python bench/bench_batching.py [--images 128] [--concurrency 32] [--arch ViT-B-32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--arch", default="ViT-B-32")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import numpy as np
    import open_clip
    import torch
    from PIL import Image as PILImage

    from socratic import Graph, Image
    from socratic.nodes.clip import ClipClassify
    from socratic.refs import Const
    from socratic.vision.clip_open import OpenClipModel

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp())
    torch.manual_seed(0)
    model = open_clip.create_model(args.arch)
    ckpt = tmp / "random.pt"
    torch.save(model.state_dict(), ckpt)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(args.images):
        p = tmp / f"{i}.png"
        PILImage.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))

    def graph() -> tuple[Graph, OpenClipModel]:
        clip = OpenClipModel(model=args.arch, pretrained=str(ckpt), batch_size=args.concurrency)
        g = Graph("zero-shot")
        g.add_input("image", Image)
        g.add("zs", ClipClassify(clip), image="inputs.image", classes=Const(["cat", "dog", "car"]))
        g.add_output("label", "zs.label")
        return g, clip

    g1, _ = graph()
    g1.run(image=paths[0])  # load weights, warm up
    t = time.perf_counter()
    one = [g1.run(image=p)["label"] for p in paths]
    row_by_row = time.perf_counter() - t

    g2, _ = graph()
    g2.run(image=paths[0])
    node = g2.nodes["zs"].node
    sizes: list[int] = []
    original = node.run_batch

    def counting(calls):
        sizes.append(len(calls))
        return original(calls)

    node.run_batch = counting  # type: ignore[method-assign]
    t = time.perf_counter()
    many = g2.run_many([{"image": p} for p in paths], concurrency=args.concurrency)
    batched = time.perf_counter() - t
    assert [m["outputs"]["label"] for m in many] == one, "batched and row-by-row labels differ"

    n = args.images
    print(f"clip.classify over {n} images, {args.arch} (random weights), torch threads={args.threads}")
    print(f"{'mode':<28}{'seconds':>10}{'rows/s':>10}")
    print(f"{'row by row (batch 1)':<28}{row_by_row:>10.2f}{n / row_by_row:>10.1f}")
    print(f"{'run_many, concurrency ' + str(args.concurrency):<28}{batched:>10.2f}{n / batched:>10.1f}")
    print(f"speedup: {row_by_row / batched:.2f}x   batch sizes: mean {np.mean(sizes):.1f}, max {max(sizes)}")


if __name__ == "__main__":
    main()
