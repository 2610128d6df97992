"""Descriptor classification: socratic's CLIP API versus a direct open_clip script.

Task: N images x C classes x ~6 visual descriptors per class ("a {class}, which has {part}").
A class's score is the mean cosine between the image and its descriptors; the label is the best
class. Both sides use the same weights (a randomly initialised but full-size model saved as a
local checkpoint; no download), the same preprocessing, batch size and torch threads.

- direct: open_clip by hand -- encode images and descriptors in batches, normalise, one matmul,
  per-class mean with a [T, C] averaging matrix.
- ours: ``OpenClipModel.embed_images`` + ``embed_texts`` + ``similarity`` + the same mean.
- ours+disk: the same with the on-disk text-embedding cache on (a cold, temporary cache).

Loading weights is not timed (both load once, before). Each side runs ``--repeats`` times in
alternation; the table shows the best wall time and the best process CPU time (steadier on a
shared machine). Target: ratio <= 1.1 and identical predictions.

Run: ``.venv/bin/python bench/bench_clip_descriptors.py`` (defaults: ViT-B-32, 512 images,
100 classes, batch 64, 2 torch threads); ``--arch tiny --images 64 --classes 10`` for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PARTS = [
    "four legs", "a long tail", "pointed ears", "a striped pattern", "a round shape",
    "a metal surface", "bright colours", "feathers", "a wooden frame", "wheels", "a handle",
    "a shiny surface", "spots", "whiskers", "a flat top", "a curved edge", "glass", "fur",
]
NOUNS = [
    "cat", "dog", "rocket", "coffee cup", "camera", "astronaut", "bicycle", "teapot", "owl",
    "tractor", "violin", "lighthouse", "cactus", "zebra", "kettle", "sailboat", "lamp", "fox",
    "guitar", "helmet",
]
ADJECTIVES = ["small", "old", "red", "wild", "toy"]
#: ``--arch tiny``: a tiny open_clip ViT (socratic.testing.open_clip_arch) with CLIP's 77 tokens
TINY = {"embed_dim": 64, "vision": {"image_size": 64, "patch_size": 16, "head_width": 64},
        "text": {"context_length": 77, "width": 64}}


def make_classes(n: int, rng: np.random.Generator) -> dict[str, list[str]]:
    """n class names, each with 5-7 descriptors (about 6 on average)."""
    names = [f"{a} {b}" for a in ADJECTIVES for b in NOUNS][:n]
    if len(names) < n:
        names += [f"object {i}" for i in range(n - len(names))]
    out = {}
    for name in names:
        k = int(rng.integers(5, 8))
        out[name] = [f"a {name}, which has {p}" for p in rng.choice(PARTS, size=k, replace=False)]
    return out


def make_images(n: int, rng: np.random.Generator) -> list:
    """n distinct real-photo crops (scikit-image), as PIL images."""
    from PIL import Image
    from skimage import data

    names = ("astronaut", "camera", "cat", "coffee", "coins", "rocket", "hubble_deep_field",
             "immunohistochemistry")[: max(1, min(n, 8))]
    bases = [Image.fromarray(getattr(data, name)()).convert("RGB") for name in names]
    images = []
    for i in range(n):
        base = bases[i % len(bases)]
        w, h = base.size
        s = int(rng.integers(min(w, h) // 3, min(w, h)))
        x, y = int(rng.integers(0, w - s + 1)), int(rng.integers(0, h - s + 1))
        im = base.crop((x, y, x + s, y + s))
        if rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        images.append(im)
    return images


def averaging_matrix(classes: dict[str, list[str]]) -> np.ndarray:
    """[T, C] with 1/len(descriptors) where descriptor t belongs to class c."""
    owners = [c for c, descs in enumerate(classes.values()) for _ in descs]
    m = np.zeros((len(owners), len(classes)), dtype=np.float32)
    for t, c in enumerate(owners):
        m[t, c] = 1.0 / len(list(classes.values())[c])
    return m


def run_direct(model, preprocess, tokenizer, images, texts, avg, batch_size):
    import torch

    with torch.inference_mode():
        feats = []
        for s in range(0, len(images), batch_size):
            x = torch.stack([preprocess(im) for im in images[s : s + batch_size]])
            f = model.encode_image(x).float()
            feats.append(f / f.norm(dim=-1, keepdim=True))
        img = torch.cat(feats)
        tfeats = []
        for s in range(0, len(texts), batch_size):
            f = model.encode_text(tokenizer(texts[s : s + batch_size])).float()
            tfeats.append(f / f.norm(dim=-1, keepdim=True))
        txt = torch.cat(tfeats)
        scores = (img @ txt.T) @ torch.from_numpy(avg)
    return scores.numpy()


def run_ours(clip, images, texts, avg):
    img = clip.embed_images(images)
    txt = clip.embed_texts(texts)
    return clip.similarity(img, txt) @ avg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="ViT-B-32", help="open_clip architecture, or 'tiny'")
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import open_clip
    import torch

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench-clip-"))
    from socratic.cache import Cache
    from socratic.context import BuildContext
    from socratic.testing import write_open_clip_arch
    from socratic.vision.clip_open import OpenClipModel

    disk_cache = Cache(tmp / "cache")  # a private, cold disk cache for the "ours+disk" row

    arch = args.arch
    if arch == "tiny":
        arch = "bench-tiny"
        open_clip.add_model_config(write_open_clip_arch(tmp, arch, **TINY))
    rng = np.random.default_rng(0)
    classes = make_classes(args.classes, rng)
    texts = [d for descs in classes.values() for d in descs]
    avg = averaging_matrix(classes)
    images = make_images(args.images, rng)

    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(arch)  # random weights
    model.eval()
    ckpt = tmp / "weights.pt"
    torch.save(model.state_dict(), ckpt)
    tokenizer = open_clip.get_tokenizer(arch)

    def ours_factory(disk: bool) -> OpenClipModel:
        clip = OpenClipModel(model=arch, pretrained=str(ckpt), device="cpu",
                             batch_size=args.batch_size, disk_cache=disk)
        clip.bind(BuildContext(cache=disk_cache))
        clip.resource()  # load outside the timed region, like the direct side
        return clip

    times: dict[str, list[float]] = {"direct": [], "ours": [], "ours+disk (cold)": []}
    cpu: dict[str, list[float]] = {name: [] for name in times}
    results: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        t, c = time.perf_counter(), time.process_time()
        results["direct"] = run_direct(model, preprocess, tokenizer, images, texts, avg,
                                       args.batch_size)
        times["direct"].append(time.perf_counter() - t)
        cpu["direct"].append(time.process_time() - c)
        print(f"  direct: {times['direct'][-1]:.2f} s", file=sys.stderr, flush=True)
        for name, disk in (("ours", False), ("ours+disk (cold)", True)):
            clip = ours_factory(disk)  # fresh instance: nothing cached in memory
            if disk:
                disk_cache.clear()
            t, c = time.perf_counter(), time.process_time()
            results[name] = run_ours(clip, images, texts, avg)
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
            print(f"  {name}: {times[name][-1]:.2f} s", file=sys.stderr, flush=True)

    ref = results["direct"].argmax(1)
    best_direct = min(times["direct"])
    best_direct_cpu = min(cpu["direct"])
    print(f"descriptor classification: {len(images)} images x {len(classes)} classes x "
          f"{len(texts) / len(classes):.1f} descriptors ({len(texts)} texts), {arch} random "
          f"weights, batch {args.batch_size}, torch threads {args.threads}, "
          f"best of {args.repeats}")
    print(f"{'variant':<18} {'wall s':>8} {'ratio':>6} {'cpu s':>8} {'cpu ratio':>9} "
          f"{'same preds':>11} {'max |score diff|':>17}")
    rows = []
    for name, ts in times.items():
        pred = results[name].argmax(1)
        diff = float(np.abs(results[name] - results["direct"]).max())
        row = {"variant": name, "seconds": min(ts), "ratio": min(ts) / best_direct,
               "cpu_seconds": min(cpu[name]), "cpu_ratio": min(cpu[name]) / best_direct_cpu,
               "identical_predictions": bool((pred == ref).all()), "max_abs_score_diff": diff}
        rows.append(row)
        print(f"{name:<18} {row['seconds']:>8.2f} {row['ratio']:>6.3f} {row['cpu_seconds']:>8.2f} "
              f"{row['cpu_ratio']:>9.3f} {'yes' if row['identical_predictions'] else 'NO':>11} "
              f"{diff:>17.2e}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    ok = all(r["identical_predictions"] for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
