"""``socratic demo``: the shapes world end to end, offline, in a few minutes on 2 cores.

Steps (each prints one line; the table and the plots come at the end):

1. data: seeded shapes images with exact captions (``socratic.adapters.synthetic``);
2. a tiny CLIP trained contrastively from scratch on the training captions (``uu`` in LiT's
   naming), saved as an open_clip checkpoint and loaded back through the ``open_clip`` backend;
3. zero-shot classification of held-out single-shape images among the 12 "colour shape" names;
4. descriptor-based classification of classes whose names the model never read ("fire engine")
   from a descriptor JSON file we write: class-name zero-shot versus descriptors;
5. Socratic captioning of held-out two-shape images: CLIP names the two objects, an LLM
   (``replay`` backend, answers recorded in ``socratic/data/shapes_caption_llm.jsonl``) writes
   the four ways to place them, CLIP re-ranks; exact match against the true caption, beside the
   LLM's first candidate without re-ranking;
6. retrieval Recall@1/5/10, text -> image and image -> text, on held-out captions;
7. a ClipCap bridge (MLP mapping, LM tuned) trained on the same world captions held-out images.

Writes ``results.json`` and PNG plots (accuracy comparison, one image's descriptor
contributions, a retrieval grid) to ``--out``; paths in ``results.json`` are relative to it.

Reproducible: the same seed on the same machine gives the same ``results.json`` in every value
but ``seconds`` (the wall-clock time). Every random step is seeded; torch runs on
:data:`DEMO_THREADS` threads during the demo (a float sum split over another number of threads
rounds differently); and dataset rows run one at a time, because batches that gather
concurrent rows form by timing and a CPU matmul's last bits depend on the batch size (1.8e-7
apart in our measurement), which can flip a close call.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .world import OBJECTS, UNSEEN, recording_path, unseen_descriptors

#: torch threads while the demo runs (restored afterwards). One: a fixed count keeps results
#: bit-identical, and on a shared machine two OpenMP threads that wait for each other ran the
#: demo's CLIP training 10x slower than one (measured: 15-22 s vs 1.4-2.5 s per step at load 24)
DEMO_THREADS = 1


class Sizes:
    """How much data and training; ``quick`` is for tests and smoke runs."""

    def __init__(self, quick: bool) -> None:
        self.train_pairs = 1500 if quick else 3000
        self.clip_steps = 700 if quick else 1000
        self.test_single = 120 if quick else 240
        self.test_pairs = 120
        self.clipcap_steps = 150 if quick else 1000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_data(work: Path, sizes: Sizes, seed: int) -> dict[str, Any]:
    """Training images (one and two shapes) and held-out sets, written as PNG + JSONL."""
    from ..adapters.synthetic import make_shapes_dataset, write_shapes_jsonl

    singles = make_shapes_dataset(sizes.train_pairs // 3, seed=seed, n_objects=1)
    pairs = make_shapes_dataset(sizes.train_pairs - len(singles), seed=seed, n_objects=2)
    test_single = make_shapes_dataset(sizes.test_single, seed=seed + 7919, n_objects=1)
    test_pairs = make_shapes_dataset(sizes.test_pairs, seed=seed + 7919, n_objects=2)
    train = singles + pairs
    paths = {
        "train": write_shapes_jsonl(train, work / "data", "train.jsonl", prefix="train"),
        "test_single": write_shapes_jsonl(test_single, work / "data", "test_single.jsonl",
                                          prefix="single"),
        "test_pairs": write_shapes_jsonl(test_pairs, work / "data", "test_pairs.jsonl",
                                         prefix="pair"),
    }
    return {"train": train, "test_single": test_single, "test_pairs": test_pairs, "paths": paths}


def _rows(path: Path) -> list[dict[str, Any]]:
    from ..eval.readers import read_jsonl

    return list(read_jsonl(path))


def demo_graph(name: str, out: Path, **fill: str) -> Any:
    """Write the demo's YAML graph ``name`` with its paths filled in to ``out/graphs`` (so it can
    be run again with ``socratic run``) and load it."""
    from importlib.resources import files

    from ..spec import load_graph

    text = (files("socratic") / "demo" / "graphs" / f"{name}.yaml").read_text(encoding="utf-8")
    for key, value in fill.items():
        text = text.replace(key, value)
    path = out / "graphs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_graph(path)


def _run_rows(graph: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # one row at a time: batches of concurrent rows form by timing (see the module docstring)
    results = graph.run_many([{"image": str(r["image"])} for r in rows], concurrency=1)
    failed = [r for r in results if "error" in r]
    if failed:
        raise RuntimeError(f"{len(failed)} rows failed in {graph.name}: {failed[0]['error']}")
    return [r["outputs"] for r in results]


def zero_shot(model_dir: str, rows: list[dict[str, Any]], truth: list[str], out: Path) -> float:
    """Accuracy of the zero-shot graph (``clip.classify``, prompt "a {}"), batched over rows."""
    graph = demo_graph("zero_shot", out, MODEL_DIR=model_dir)
    labels = [o["label"] for o in _run_rows(graph, rows)]
    return sum(p == t for p, t in zip(labels, truth, strict=True)) / len(truth)


def descriptors_vs_names(model_dir: str, rows: list[dict[str, Any]], samples: list[Any], out: Path
                         ) -> dict[str, Any]:
    """Unseen-name classes: class names alone versus descriptors from a JSON file."""
    from ..recipes.descriptors import save_descriptors

    by_kind = {v: k for k, v in UNSEEN.items()}
    picked = [(r, by_kind[(s.objects[0].color, s.objects[0].shape)])
              for r, s in zip(rows, samples, strict=True)
              if (s.objects[0].color, s.objects[0].shape) in by_kind]
    path = save_descriptors(unseen_descriptors(), out / "descriptors.json")
    graph = demo_graph("descriptors", out, MODEL_DIR=model_dir, DESCRIPTORS_JSON=str(path))
    outputs = _run_rows(graph, [r for r, _ in picked])
    truth = [name for _, name in picked]
    acc_desc = sum(o["label"] == t for o, t in zip(outputs, truth, strict=True)) / len(truth)
    acc_names = sum(o["baseline_label"] == t for o, t in zip(outputs, truth, strict=True)) / len(truth)
    return {"n": len(truth), "descriptors": acc_desc, "class_names": acc_names,
            "example": {"image": _rel(picked[0][0]["image"], out), "truth": truth[0], **outputs[0]},
            "descriptor_file": _rel(path, out)}


def socratic_captioning(model_dir: str, rows: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """CLIP -> LLM (replayed) -> CLIP on two-shape images; exact match with the truth."""
    graph = demo_graph("socratic_captioning", out, MODEL_DIR=model_dir,
                       RECORDING=str(recording_path()))
    outputs = _run_rows(graph, rows)
    truth = [r["captions"][0] for r in rows]
    ok = [o["caption"] == t for o, t in zip(outputs, truth, strict=True)]
    first = [o["candidates"][0] == t for o, t in zip(outputs, truth, strict=True)]
    found = [t in o["candidates"] for o, t in zip(outputs, truth, strict=True)]
    return {"n": len(rows), "exact_match": sum(ok) / len(ok),
            "first_candidate_exact_match": sum(first) / len(first),
            "objects_correct": sum(found) / len(found),
            "reranked_given_objects": sum(ok) / max(1, sum(found)),
            "example": {"image": _rel(rows[0]["image"], out), "truth": truth[0],
                        "caption": outputs[0]["caption"]}}


def retrieval(clip: Any, rows: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """Recall@K on held-out images and their captions (one caption per image)."""
    from ..eval.plots import plot_retrieval_grid
    from ..eval.retrieval import retrieval_scores

    images = [str(r["image"]) for r in rows]
    captions = [r["captions"][0] for r in rows]
    sim = clip.embed_images(images) @ clip.embed_texts(captions).T
    scores = retrieval_scores(sim, list(range(len(rows))))
    order = (-sim.T).argsort(axis=1, kind="stable")[:, :5]
    shown = list(range(3))
    plot_retrieval_grid([captions[q] for q in shown], [[images[j] for j in order[q]] for q in shown],
                        out / "retrieval_grid.png",
                        scores=[[float(sim[j, q]) for j in order[q]] for q in shown],
                        correct=[[int(j) == q for j in order[q]] for q in shown])
    return {"n": len(rows), **scores}


def plot_summary(results: dict[str, Any], out: Path) -> Path:
    """Bar chart: every accuracy of the demo beside its baseline."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    bars = [
        ("zero-shot\n(12 classes)", results["zero_shot"]["accuracy"], 1 / len(OBJECTS)),
        ("unseen names:\nclass names", results["descriptors"]["class_names"], 1 / len(UNSEEN)),
        ("unseen names:\ndescriptors", results["descriptors"]["descriptors"], 1 / len(UNSEEN)),
        ("Socratic caption:\nLLM first", results["socratic_captioning"]["first_candidate_exact_match"], 0.25),
        ("Socratic caption:\nCLIP re-ranked", results["socratic_captioning"]["exact_match"], 0.25),
        ("re-ranking given\nright objects", results["socratic_captioning"]["reranked_given_objects"], 0.25),
        ("retrieval\nt2i R@1", results["retrieval"]["t2i R@1"], 1 / results["retrieval"]["n"]),
    ]
    if "clipcap" in results:
        bars.append(("ClipCap\nexact match", results["clipcap"]["exact_match"], 0.0))
    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = range(len(bars))
    ax.bar(xs, [b[1] for b in bars], color="#3b75af", label="socratic")
    ax.scatter(xs, [b[2] for b in bars], color="#d62728", marker="_", s=600, label="chance / baseline")
    ax.set_xticks(list(xs))
    ax.set_xticklabels([b[0] for b in bars], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy")
    ax.set_title("shapes world: every recipe, offline")
    for x, b in zip(xs, bars, strict=True):
        ax.text(x, b[1] + 0.02, f"{b[1]:.2f}", ha="center", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path = out / "accuracy.png"
    fig.savefig(path, dpi=100)
    return path


def table(results: dict[str, Any]) -> str:
    z, d, s, r = (results[k] for k in ("zero_shot", "descriptors", "socratic_captioning", "retrieval"))
    rows = [
        ("zero-shot classification, 12 classes", f"{z['accuracy']:.3f}", f"chance {1 / len(OBJECTS):.3f}"),
        ("unseen-name classes: class names", f"{d['class_names']:.3f}", f"chance {1 / len(UNSEEN):.3f}"),
        ("unseen-name classes: descriptors", f"{d['descriptors']:.3f}", "from descriptors.json"),
        ("Socratic captioning: exact match", f"{s['exact_match']:.3f}",
         f"LLM first candidate {s['first_candidate_exact_match']:.3f}"),
        ("  CLIP named both objects", f"{s['objects_correct']:.3f}", ""),
        ("  CLIP re-ranking right, given them", f"{s['reranked_given_objects']:.3f}", "chance 0.250"),
        ("retrieval text->image R@1 / R@5", f"{r['t2i R@1']:.3f} / {r['t2i R@5']:.3f}", f"n={r['n']}"),
        ("retrieval image->text R@1 / R@5", f"{r['i2t R@1']:.3f} / {r['i2t R@5']:.3f}", ""),
    ]
    if "clipcap" in results:
        c = results["clipcap"]
        rows.append(("ClipCap captions: exact match / BLEU-4", f"{c['exact_match']:.3f} / {c['BLEU-4']:.3f}",
                     f"n={c['n']}, e.g. {c['example']['caption']!r}"))
    width = max(len(a) for a, _, _ in rows)
    lines = [f"{'result':<{width}}  {'value':<15}  baseline", "-" * (width + 36)]
    lines += [f"{a:<{width}}  {b:<15}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def _rel(path: Any, out: Path) -> str:
    """``path`` relative to the output folder (so results.json does not depend on where it is)."""
    import os

    return os.path.relpath(Path(path).resolve(), out.resolve())


def run_demo(out: Path, *, quick: bool = False, seed: int = 0, clipcap: bool = True) -> dict[str, Any]:
    """Run every step; returns the results (also written to ``out/results.json``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(DEMO_THREADS)
    try:
        return _run_demo(out, quick=quick, seed=seed, clipcap=clipcap)
    finally:
        torch.set_num_threads(threads)


def _run_demo(out: Path, *, quick: bool, seed: int, clipcap: bool) -> dict[str, Any]:
    from ..eval.plots import plot_descriptor_contributions
    from .training import train_clip, train_clipcap

    out.mkdir(parents=True, exist_ok=True)
    sizes = Sizes(quick)
    t0 = time.perf_counter()
    log(f"[1/7] data: {sizes.train_pairs} training images, held-out sets in {out / 'data'}")
    data = make_data(out, sizes, seed)
    log(f"[2/7] training a tiny CLIP contrastively ({sizes.clip_steps} steps, mode uu)")
    clip = train_clip(out, data["paths"]["train"], sizes.clip_steps, seed)
    model_dir = clip.config.model.removeprefix("local-dir:")
    single_rows = _rows(data["paths"]["test_single"])
    truth = [f"{s.objects[0].color} {s.objects[0].shape}" for s in data["test_single"]]
    results: dict[str, Any] = {"seed": seed, "quick": quick, "threads": DEMO_THREADS}
    log("[3/7] zero-shot classification of held-out images")
    results["zero_shot"] = {"n": len(truth), "accuracy": zero_shot(model_dir, single_rows, truth, out)}
    log("[4/7] descriptor classification on unseen class names")
    results["descriptors"] = descriptors_vs_names(model_dir, single_rows, data["test_single"], out)
    ex = results["descriptors"]["example"]
    plot_descriptor_contributions({c: list(v.items()) for c, v in ex["contributions"].items()},
                                  ex["label"], out / "descriptor_contributions.png")
    pair_rows = _rows(data["paths"]["test_pairs"])
    log("[5/7] Socratic captioning: CLIP -> LLM (replayed) -> CLIP")
    results["socratic_captioning"] = socratic_captioning(model_dir, pair_rows, out)
    log("[6/7] retrieval Recall@K")
    results["retrieval"] = retrieval(clip, pair_rows, out)
    if clipcap:
        log(f"[7/7] training a ClipCap bridge on the same world ({sizes.clipcap_steps} steps)")
        results["clipcap"] = train_clipcap(out, data, clip, sizes.clipcap_steps, seed)
    results["plots"] = [_rel(plot_summary(results, out), out), "descriptor_contributions.png",
                        "retrieval_grid.png"]
    results["seconds"] = round(time.perf_counter() - t0, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results


def demo_main(args: argparse.Namespace) -> int:
    out = Path(args.out)
    results = run_demo(out, quick=args.quick, seed=args.seed, clipcap=not args.no_clipcap)
    print(table(results))
    print(f"\nresults: {out / 'results.json'}   plots: {', '.join(str(out / p) for p in results['plots'])}   "
          f"({results['seconds']} s)")
    return 0
