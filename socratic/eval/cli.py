"""``socratic eval``: classification, retrieval and captioning evaluations with JSON + PNG.

- ``socratic eval classify GRAPH --data DIR|ROWS.jsonl``: runs the graph once per image (its
  ``image`` input; ``classes`` gets the dataset's labels when the graph has that input), compares
  the ``label`` output (and ``ranked`` for top-5) with the truth: top-1 / top-5, per-class
  accuracy, confusion matrix; plots per-class accuracy and, when the graph outputs
  ``contributions`` (descriptor classification), one image's descriptor contributions.
- ``socratic eval retrieval GRAPH --data CAPTIONS.jsonl``: embeds every image and caption with the
  graph's CLIP model: image -> text and text -> image Recall@1/5/10, and a retrieval grid.
- ``socratic eval caption GRAPH --data CAPTIONS.jsonl``: runs the graph per image (its ``caption``
  output) and scores BLEU-1..4, ROUGE-L and CIDEr against the references.

Results go to ``--out`` (``results.json``, ``predictions.jsonl``, ``*.png``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import InputError, SocraticError


def _run_rows(graph: Any, rows: list[dict[str, Any]], concurrency: int) -> list[dict[str, Any]]:
    """Run the graph over rows (the one row runner, with a progress bar); results in row order."""
    from ..runner import RowRunner

    return RowRunner(graph, concurrency=concurrency, progress=True).collect(rows)


def _write(out: Path, name: str, value: Any) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    p = out / name
    p.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return p


def eval_classify(graph: Any, data: str, out: Path, concurrency: int) -> dict[str, Any]:
    from ..types import to_jsonable
    from .classification import classification_report
    from .plots import plot_descriptor_contributions, plot_per_class_accuracy
    from .readers import read_dataset

    if "image" not in graph.inputs:
        raise InputError(f"graph '{graph.name}' has no 'image' input to evaluate")
    if "label" not in graph.outputs:
        raise InputError(f"graph '{graph.name}' has no 'label' output to evaluate")
    rows = list(read_dataset(data))
    if not rows or any("label" not in r for r in rows):
        raise InputError(f"{data}: every row needs an image and a label")
    classes = sorted({str(r["label"]) for r in rows})
    inputs = [
        {"image": str(r["image"]), **({"classes": classes} if "classes" in graph.inputs else {})}
        for r in rows
    ]
    results = _run_rows(graph, inputs, concurrency)
    labels, preds, failed = [], [], []
    out.mkdir(parents=True, exist_ok=True)
    with (out / "predictions.jsonl").open("w", encoding="utf-8") as f:
        for r, res in zip(rows, results, strict=True):
            rec = {"image": str(r["image"]), "label": r["label"]}
            if "error" in res:
                failed.append({**rec, "error": res["error"]})
                f.write(json.dumps({**rec, "error": res["error"]}) + "\n")
                continue
            o = res["outputs"]
            labels.append(str(r["label"]))
            preds.append(o["ranked"] if isinstance(o.get("ranked"), list) else o["label"])
            f.write(json.dumps({**rec, "prediction": o["label"]}) + "\n")
    if not labels:
        raise SocraticError(f"every row failed; first error: {failed[0]['error']}")
    report = classification_report(labels, preds, classes)
    report["failed"] = failed
    plots = [str(plot_per_class_accuracy(report["per_class"], out / "per_class_accuracy.png"))]
    first = next((res["outputs"] for res in results if "outputs" in res), None)
    if first is not None and isinstance(first.get("contributions"), dict):
        contrib = {c: list(d.items()) for c, d in first["contributions"].items()}
        plots.append(str(plot_descriptor_contributions(
            contrib, first["label"], out / "descriptor_contributions.png")))
    report["plots"] = plots
    _write(out, "results.json", to_jsonable(report))
    return report


def _clip_of(graph: Any) -> Any:
    for model in graph.models.values():
        if getattr(model, "kind", None) == "clip":
            return model
    raise InputError(f"graph '{graph.name}' declares no clip model to evaluate retrieval with")


def eval_retrieval(graph: Any, data: str, out: Path) -> dict[str, Any]:
    from .plots import plot_retrieval_grid
    from .readers import read_jsonl
    from .retrieval import retrieval_scores

    clip = _clip_of(graph)
    rows = list(read_jsonl(data))
    images, captions, owner = [], [], []
    for i, r in enumerate(rows):
        if not r.get("captions"):
            raise InputError(f"{data}: row {i + 1} has no caption")
        images.append(str(r["image"]))
        for c in r["captions"]:
            captions.append(c)
            owner.append(i)
    img = clip.embed_images(images)
    txt = clip.embed_texts(captions)
    sim = img @ txt.T
    scores = retrieval_scores(sim, owner)
    order = (-sim.T).argsort(axis=1, kind="stable")[:, :5]
    shown = list(range(min(4, len(captions))))
    grid = plot_retrieval_grid(
        [captions[q] for q in shown], [[images[j] for j in order[q]] for q in shown],
        out / "retrieval_grid.png",
        scores=[[float(sim[j, q]) for j in order[q]] for q in shown],
        correct=[[int(j) == owner[q] for j in order[q]] for q in shown],
    )
    report = {"images": len(images), "captions": len(captions), **scores, "plots": [str(grid)]}
    _write(out, "results.json", report)
    return report


def eval_caption(graph: Any, data: str, out: Path, concurrency: int) -> dict[str, Any]:
    from .caption_metrics import caption_scores
    from .readers import read_jsonl

    if "caption" not in graph.outputs:
        raise InputError(f"graph '{graph.name}' has no 'caption' output to evaluate")
    rows = list(read_jsonl(data))
    results = _run_rows(graph, [{"image": str(r["image"])} for r in rows], concurrency)
    refs, hyps, failed = [], [], []
    for r, res in zip(rows, results, strict=True):
        if "error" in res:
            failed.append({"image": str(r["image"]), "error": res["error"]})
            continue
        refs.append(list(r.get("captions") or []))
        hyps.append(str(res["outputs"]["caption"]))
    if not hyps:
        raise SocraticError(f"every row failed; first error: {failed[0]['error']}")
    report = {"images": len(rows), **caption_scores(refs, hyps), "failed": failed}
    _write(out, "results.json", report)
    return report


def eval_main(args: argparse.Namespace) -> int:
    from ..commands.run import context_from
    from ..spec import load_graph

    if args.graph is None:
        raise InputError(f"socratic eval {args.task} needs a graph file")
    graph = load_graph(args.graph, overrides=args.set, context=context_from(args))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.task == "classify":
        report = eval_classify(graph, args.data, out, args.concurrency)
        summary = {k: report[k] for k in ("n", "top1", "top5", "mean_per_class") if k in report}
        summary["failed"] = len(report["failed"])
    elif args.task == "retrieval":
        summary = eval_retrieval(graph, args.data, out)
    else:
        summary = eval_caption(graph, args.data, out, args.concurrency)
        summary = {k: v for k, v in summary.items() if k != "failed"}
    print(json.dumps({**summary, "results": str(out / "results.json")}, indent=2))
    return 0
