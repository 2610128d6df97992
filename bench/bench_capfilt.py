"""CapFilt on the shapes world: does filtering noisy captions help a captioning bridge?

1. A tiny CLIP is trained from scratch on clean shapes (a stand-in for a pretrained filter).
2. A training set of one-object shapes gets ``--noise`` of its captions replaced by another
   class's caption (known noise).
3. ``filter.captions`` (CapFilt's filter; here ITC: the CLIP's cosine) runs over it as a graph,
   its threshold calibrated on clean pairs (the ``--keep`` share of clean pairs pass): precision
   and recall of what it removes, against the injected noise.
4. A ClipCap bridge is trained on the raw set and on the filtered one (``socratic run --out``
   file as training data through ``outputs.*`` columns), and both caption clean held-out images.

``python bench/bench_capfilt.py`` (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any


def noisy_rows(samples: list[Any], noise: float, seed: int, root: Path) -> tuple[Path, list[bool]]:
    """Write the samples as JSONL with ``noise`` of the captions replaced; returns which were."""
    from socratic.adapters.synthetic import write_shapes_jsonl

    path = write_shapes_jsonl(samples, root, "clean.jsonl", prefix="t")
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rng = random.Random(seed)
    captions = sorted({r["caption"] for r in rows})
    flipped = [rng.random() < noise for _ in rows]
    for row, flip in zip(rows, flipped, strict=True):
        if flip:
            row["caption"] = rng.choice([c for c in captions if c != row["caption"]])
    noisy = root / "noisy.jsonl"
    noisy.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return noisy, flipped


def calibrate(clip: Any, samples: list[Any], keep: float) -> float:
    """The threshold that ``keep`` of matched clean pairs pass (a quantile of their cosines)."""
    import numpy as np

    cos = np.sum(clip.embed_images([s.image for s in samples]) * clip.embed_texts([s.caption for s in samples]), 1)
    return float(np.quantile(cos, 1 - keep))


def capfilt(clip_dir: str, noisy: Path, threshold: float, out: Path) -> Path:
    """The CapFilt graph over the noisy rows (no synthetic captions: only the web one is judged)."""
    from socratic.runner import RowRunner
    from socratic.spec import load_graph_text

    graph = load_graph_text(
        "inputs: {image: image, caption: str}\n"
        f"models:\n  clip: {{backend: open_clip, model: 'local-dir:{clip_dir}', disk_cache: false}}\n"
        f"nodes:\n  f: {{type: filter.captions, model: clip, threshold: {threshold}, image: '${{inputs.image}}',"
        " web: '${inputs.caption}', synthetic: []}\n"
        "outputs: {image: '${inputs.image}', captions: '${f.kept}'}\n", "capfilt.yaml")
    RowRunner(graph, concurrency=16).run(noisy, out)
    return out


def clipcap(work: Path, train: Path, columns: dict[str, str], clip_dir: str, lm: Path, steps: int,
            test: list[Any]) -> dict[str, float]:
    from socratic.adapters.config import RunConfig
    from socratic.adapters.runs import run

    from socratic.eval.caption_metrics import caption_scores
    from socratic.vision.bridge_captioner import BridgeCaptioner

    cfg = RunConfig.model_validate({
        "task": "bridge", "vision": {"backend": "open_clip", "model": f"local-dir:{clip_dir}"},
        "bridge": {"type": "clipcap", "mapping": "mlp", "prefix_length": 4},
        "lm": {"path": str(lm), "tune": "full"},
        "data": {"train": str(train), "feature_cache": str(work / "fc"), **columns},
        "train": {"output_dir": str(work), "max_steps": steps, "batch_size": 40, "lr": 2e-3,
                  "warmup_steps": 20, "progress_bar": False, "tensorboard": False, "resume": False,
                  "cpu": True, "seed": 0}})
    run(cfg)
    hyps = [c[0] for c in BridgeCaptioner(path=str(work / "bridge")).caption([s.image for s in test],
                                                                            max_new_tokens=8)]
    exact = sum(h.strip() == s.caption for h, s in zip(hyps, test, strict=True)) / len(test)
    scores = caption_scores([[s.caption] for s in test], hyps)
    return {"exact_match": exact, "CIDEr": scores["CIDEr"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", type=int, default=800)
    p.add_argument("--noise", type=float, default=0.3)
    p.add_argument("--keep", type=float, default=0.9, help="share of clean pairs the threshold keeps")
    p.add_argument("--clip-steps", type=int, default=300)
    p.add_argument("--clipcap-steps", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import torch
    from socratic.adapters.synthetic import (
        all_captions,
        make_shapes_dataset,
        make_shapes_splits,
        write_shapes_jsonl,
    )

    from socratic.demo.training import train_clip
    from socratic.testing import make_tiny_lm, pretrain_lm, train_tokenizer

    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="bench-capfilt-"))
    t0 = time.perf_counter()
    pre = write_shapes_jsonl(make_shapes_dataset(2000, seed=args.seed + 100, n_objects=1), work / "pre",
                             "pre.jsonl")
    clip = train_clip(work, pre, args.clip_steps, args.seed)
    clip_dir = clip.config.model.removeprefix("local-dir:")
    train, test = make_shapes_splits(args.train, 120, seed=args.seed, n_objects=1)
    calib = make_shapes_dataset(200, seed=args.seed + 200, n_objects=1)
    noisy, flipped = noisy_rows(train, args.noise, args.seed, work / "data")
    threshold = calibrate(clip, calib, args.keep)
    out = capfilt(clip_dir, noisy, threshold, work / "capfilt.jsonl")
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    removed = [("dropped" in r) for r in sorted(recs, key=lambda r: r["index"])]
    tp = sum(r and f for r, f in zip(removed, flipped, strict=True))
    precision = tp / max(sum(removed), 1)
    recall = tp / max(sum(flipped), 1)
    tok = train_tokenizer(all_captions(1), chat_template=None)
    lm = work / "lm"
    make_tiny_lm(lm, "gpt2", tokenizer=tok, width=64, init_std=0.02)
    pretrain_lm(lm, make_shapes_dataset(1000, seed=args.seed + 99, n_objects=1), steps=150)
    raw = clipcap(work / "raw", noisy, {}, clip_dir, lm, args.clipcap_steps, test)
    kept = clipcap(work / "filtered", out, {"image_column": "outputs.image",
                                             "caption_column": "outputs.captions"},
                   clip_dir, lm, args.clipcap_steps, test)
    print(f"shapes world: {args.train} training captions, {sum(flipped)} ({args.noise:.0%}) replaced by"
          f" wrong ones; CLIP-ITC filter at {threshold:.3f} (keeps {args.keep:.0%} of clean pairs)")
    print(f"filter: removed {sum(removed)}; precision {precision:.3f}, recall {recall:.3f}")
    print(f"{'ClipCap trained on':<22}{'captions':>9}{'exact match':>13}{'CIDEr':>8}")
    print(f"{'raw (noisy)':<22}{len(removed):>9}{raw['exact_match']:>13.3f}{raw['CIDEr']:>8.3f}")
    print(f"{'CapFilt-filtered':<22}{len(removed) - sum(removed):>9}{kept['exact_match']:>13.3f}"
          f"{kept['CIDEr']:>8.3f}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
