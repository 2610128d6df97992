"""``socratic eval``: classification, retrieval and captioning evaluations with JSON + PNG.

- ``socratic eval classify GRAPH --data DIR|ROWS``: runs the graph once per image (its ``image``
  input; ``classes`` gets the dataset's labels when the graph has that input), compares the
  ``label`` output (and ``ranked`` for top-5) with the truth: top-1 / top-5, per-class accuracy,
  confusion matrix; plots per-class accuracy and, when the graph outputs ``contributions``
  (descriptor classification), one image's descriptor contributions.
- ``socratic eval retrieval GRAPH --data CAPTIONS``: embeds every image and caption with the
  graph's CLIP model: image -> text and text -> image Recall@1/5/10, and a retrieval grid.
- ``socratic eval caption GRAPH --data CAPTIONS``: runs the graph per image (its ``caption``
  output) and scores BLEU-1..4, ROUGE-L and CIDEr against the references (BLEU-k is ``null``,
  not meaningful, when no answer has k words); a plot of example captions.

Run once, evaluate many times: ``--predictions OUT.jsonl`` scores a file that
``socratic run GRAPH --data ROWS --out OUT.jsonl`` wrote, instead of running a graph. Its
records are joined to the data rows by row position (``index``), or by a column both carry
(``--key id``: a data column passed through to the output). ``--output NAME`` picks the graph
output to score (default ``label`` / ``caption``).

``--compare GRAPH ...`` runs more graphs on the same rows (a direct VLM beside a Socratic
pipeline): each graph's results go to ``--out/<graph>/``, and ``comparison.json`` /
``comparison.png`` put them side by side (the task's metrics, requests, tokens, seconds).

Results go to ``--out`` (``results.json``, ``predictions.jsonl``, ``*.png``, and for classify and
caption ``report.html``: every row's image, outputs and errors, :mod:`socratic.report`). Plots need the
``plots`` extra (matplotlib); without it the numbers are written and the plots skipped with a
warning said at the start.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import DataError, InputError, SocraticError
from ..types import to_jsonable


def _run_rows(graph: Any, rows: list[dict[str, Any]], concurrency: int) -> list[dict[str, Any]]:
    """Run the graph over rows (the one row runner, with a progress bar); results in row order."""
    from ..runner import RowRunner

    return RowRunner(graph, concurrency=concurrency, progress=True).collect(rows)


def _read_predictions(path: str, data_rows: list[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
    """The records of a ``run --out`` file, one per data row (joined by ``index`` or ``key``);
    a row without a record gets an error record."""
    from ..datasets import iter_records

    by_key: dict[Any, dict[str, Any]] = {}
    for rec in iter_records(path, "jsonl", resolve=()):
        k = rec.get(key) if key else rec.get("index")  # type: ignore[union-attr]
        if k is None:
            raise DataError(f"a record has no '{key or 'index'}' to join it to a data row", file=path,
                            line=getattr(rec, "line", None))
        by_key.setdefault(k, rec)  # type: ignore[arg-type]
    out = []
    for i, row in enumerate(data_rows):
        k = row.get(key) if key else i
        missing = f"no prediction for row {i}" + (f" ({key} {k!r})" if key else "")
        out.append(by_key.get(k, {"error": missing}))
    return out


def _write(out: Path, name: str, value: Any) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    p = out / name
    p.write_text(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return p


def _write_page(out: Path, rows: list[dict[str, Any]], results: list[dict[str, Any]], truth: str,
                output: str) -> str:
    """``report.html``: every row with its image, outputs and errors (:mod:`socratic.report`)."""
    from ..report import build_report

    records = [{**res, "index": i, "image": str(r["image"]), truth: r.get(truth)}
               for i, (r, res) in enumerate(zip(rows, results, strict=True))]
    page = out / "report.html"
    page.write_text(build_report(records, truth=truth, output=output, title=f"socratic eval: {out.name}"),
                    encoding="utf-8")
    return str(page)


def _write_lines(out: Path, name: str, records: list[dict[str, Any]]) -> None:
    with (out / name).open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(to_jsonable(rec), ensure_ascii=False) + "\n")


class _Plots:
    """Draws plots when matplotlib is installed; else says so once, at the start."""

    def __init__(self) -> None:
        from ..errors import MissingExtraError
        from ..extras import check

        try:
            check("matplotlib", "plots", "the evaluation plots")
            self.enabled = True
        except MissingExtraError as exc:
            print(f"warning: {exc}; writing the results without plots", file=sys.stderr)
            self.enabled = False

    def draw(self, name: str, *args: Any, **kwargs: Any) -> list[str]:
        if not self.enabled:
            return []
        from . import plots

        return [str(getattr(plots, name)(*args, **kwargs))]


def _outputs(results: list[dict[str, Any]], output: str) -> list[Any]:
    """Each row's value of ``output`` (``None`` for a failed row); a missing output is bad usage."""
    values = []
    for res in results:
        if "error" in res:
            values.append(None)
            continue
        outs = res.get("outputs", {})
        if output not in outs:
            raise InputError(f"no output '{output}' to evaluate (outputs: {', '.join(outs) or 'none'})")
        values.append(outs[output])
    return values


def eval_classify(
    graph: Any, data: str, out: Path, concurrency: int, *, predictions: str | None = None,
    key: str | None = None, output: str = "label", plots: _Plots | None = None,
) -> dict[str, Any]:
    from .classification import classification_report
    from .readers import read_dataset

    plots = plots or _Plots()
    rows = list(read_dataset(data))
    if not rows or any("label" not in r for r in rows):
        raise InputError(f"{data}: every row needs an image and a label")
    classes = sorted({str(r["label"]) for r in rows})
    if predictions:
        results = _read_predictions(predictions, rows, key)
    else:
        if "image" not in graph.inputs:
            raise InputError(f"graph '{graph.name}' has no 'image' input to evaluate")
        if output not in graph.outputs:
            raise InputError(f"graph '{graph.name}' has no '{output}' output to evaluate")
        extra = {"classes": classes} if "classes" in graph.inputs else {}
        results = _run_rows(graph, [{"image": str(r["image"]), **extra} for r in rows], concurrency)
    predicted = _outputs(results, output)
    labels, preds, failed, lines = [], [], [], []
    for r, res, value in zip(rows, results, predicted, strict=True):
        rec = {"image": str(r["image"]), "label": r["label"]}
        if value is None:
            failed.append({**rec, "error": res.get("error", "no prediction")})
            lines.append(failed[-1])
            continue
        ranked = res["outputs"].get("ranked")
        labels.append(str(r["label"]))
        preds.append(ranked if isinstance(ranked, list) and output == "label" else value)
        lines.append({**rec, "prediction": value})
    if not labels:
        raise SocraticError(f"every row failed; first error: {failed[0]['error']}")
    report = classification_report(labels, preds, classes)
    report["failed"] = failed
    report["variants"] = _variants(results, rows, output)
    out.mkdir(parents=True, exist_ok=True)
    _write_lines(out, "predictions.jsonl", lines)
    report["report"] = _write_page(out, rows, results, "label", output)
    drawn = plots.draw("plot_per_class_accuracy", report["per_class"], out / "per_class_accuracy.png")
    if len(report["variants"]) > 1:
        drawn += plots.draw("plot_per_class_accuracy", report["variants"], out / "variants.png",
                            title="Top-1 accuracy: descriptors, class names and controls", sort=False)
    first = next((res["outputs"] for res in results if "outputs" in res), None)
    if first is not None and isinstance(first.get("contributions"), dict):
        contrib = {c: list(d.items()) for c, d in first["contributions"].items()}
        drawn += plots.draw("plot_descriptor_contributions", contrib, first[output],
                            out / "descriptor_contributions.png")
    report["plots"] = drawn
    _write(out, "results.json", report)
    return report


def _variants(results: list[dict[str, Any]], rows: list[dict[str, Any]], output: str) -> dict[str, float]:
    """Top-1 accuracy of every ``*label`` output (descriptor classification's ``label``,
    ``baseline_label`` and the ``random_label`` / ``ensemble_label`` controls), side by side."""
    done = [(res["outputs"], str(r["label"])) for res, r in zip(results, rows, strict=True)
            if "outputs" in res]
    if not done:
        return {}
    names = [output, *sorted(k for k in done[0][0] if k.endswith("label") and k != output)]
    return {n: sum(str(o.get(n)) == y for o, y in done) / len(done) for n in names
            if all(isinstance(o.get(n), str) for o, _ in done)}


def _clip_of(graph: Any) -> Any:
    for model in graph.models.values():
        if getattr(model, "kind", None) == "clip":
            return model
    raise InputError(f"graph '{graph.name}' declares no clip model to evaluate retrieval with")


def eval_retrieval(graph: Any, data: str, out: Path, *, plots: _Plots | None = None) -> dict[str, Any]:
    from .readers import read_dataset
    from .retrieval import retrieval_scores

    plots = plots or _Plots()
    clip = _clip_of(graph)
    rows = list(read_dataset(data))
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
    drawn = plots.draw(
        "plot_retrieval_grid", [captions[q] for q in shown], [[images[j] for j in order[q]] for q in shown],
        out / "retrieval_grid.png",
        scores=[[float(sim[j, q]) for j in order[q]] for q in shown],
        correct=[[int(j) == owner[q] for j in order[q]] for q in shown],
    )
    report = {"images": len(images), "captions": len(captions), **scores, "plots": drawn}
    _write(out, "results.json", report)
    return report


def eval_caption(
    graph: Any, data: str, out: Path, concurrency: int, *, predictions: str | None = None,
    key: str | None = None, output: str = "caption", plots: _Plots | None = None,
) -> dict[str, Any]:
    from .caption_metrics import caption_scores
    from .readers import read_dataset

    plots = plots or _Plots()
    rows = list(read_dataset(data))
    if predictions:
        results = _read_predictions(predictions, rows, key)
    else:
        if output not in graph.outputs:
            raise InputError(f"graph '{graph.name}' has no '{output}' output to evaluate")
        results = _run_rows(graph, [{"image": str(r["image"])} for r in rows], concurrency)
    predicted = _outputs(results, output)
    refs, hyps, failed, lines, shown = [], [], [], [], []
    for r, res, value in zip(rows, results, predicted, strict=True):
        rec = {"image": str(r["image"]), "references": list(r.get("captions") or [])}
        if value is None:
            failed.append({"image": rec["image"], "error": res.get("error", "no prediction")})
            lines.append({**rec, "error": failed[-1]["error"]})
            continue
        refs.append(rec["references"])
        hyps.append(str(value))
        lines.append({**rec, "prediction": str(value)})
        shown.append((r["image"], str(value), rec["references"]))
    if not hyps:
        raise SocraticError(f"every row failed; first error: {failed[0]['error']}")
    out.mkdir(parents=True, exist_ok=True)
    _write_lines(out, "predictions.jsonl", lines)
    page = _write_page(out, [{**r, "references": list(r.get("captions") or [])} for r in rows], results,
                       "references", output)
    examples = shown[:6]
    drawn = plots.draw("plot_captions", [e[0] for e in examples], [e[1] for e in examples],
                       [e[2] for e in examples], out / "captions.png")
    report = {"images": len(rows), **caption_scores(refs, hyps), "failed": failed, "plots": drawn,
              "report": page}
    _write(out, "results.json", report)
    return report


_HEADLINE = {"classify": ("top1", "mean_per_class"), "caption": ("CIDEr", "BLEU-4", "ROUGE-L"),
             "retrieval": ("i2t R@1", "t2i R@1")}


def eval_compare(args: argparse.Namespace, plots: _Plots) -> int:
    """Run the task once per graph (the main one and ``--compare``) on the same rows; one
    table (stdout, ``comparison.json``) and one plot of the headline metric."""
    import time

    from .. import usage
    from ..commands.run import context_from
    from ..spec import load_graph

    if args.predictions:
        raise InputError("--compare runs graphs: give graph files, not --predictions")
    out = Path(args.out)
    table: list[dict[str, Any]] = []
    for path in [args.graph, *args.compare]:
        graph = load_graph(path, overrides=args.set, context=context_from(args))
        name = Path(path).stem
        with usage.track() as stats:
            start = time.perf_counter()
            if args.task == "classify":
                report = eval_classify(graph, args.data, out / name, args.concurrency,
                                       output=args.output or "label", plots=plots)
            elif args.task == "caption":
                report = eval_caption(graph, args.data, out / name, args.concurrency,
                                      output=args.output or "caption", plots=plots)
            else:
                report = eval_retrieval(graph, args.data, out / name, plots=plots)
            seconds = time.perf_counter() - start
        counts = stats.as_dict()
        table.append({"graph": name, **{k: report.get(k) for k in _HEADLINE[args.task]},
                      "failed": len(report.get("failed", [])), "requests": counts["requests"],
                      "cache_hits": counts["cache_hits"],
                      "tokens": counts["prompt_tokens"] + counts["completion_tokens"],
                      "seconds": round(seconds, 2)})
    metric = _HEADLINE[args.task][0]
    drawn = plots.draw("plot_per_class_accuracy", {r["graph"]: r[metric] or 0.0 for r in table},
                       out / "comparison.png", title=f"{args.task}: {metric} per graph (same rows)",
                       sort=False)
    _write(out, "comparison.json", {"task": args.task, "data": args.data, "rows": table, "plots": drawn})
    cols = list(table[0])
    widths = {c: max(len(c), *(len(_cell(r[c])) for r in table)) for c in cols}
    print(" | ".join(c.ljust(widths[c]) for c in cols))
    print("-+-".join("-" * widths[c] for c in cols))
    for r in table:
        print(" | ".join(_cell(r[c]).ljust(widths[c]) for c in cols))
    print(json.dumps({"comparison": str(out / "comparison.json")}))
    return 0


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-" if value is None else str(value)


def eval_main(args: argparse.Namespace) -> int:
    from ..commands.run import context_from
    from ..spec import load_graph

    if getattr(args, "compare", None):
        if args.graph is None:
            raise InputError("--compare needs the first graph too: socratic eval TASK GRAPH --compare GRAPH2")
        return eval_compare(args, _Plots())
    if (args.graph is None) == (args.predictions is None):
        raise InputError(f"socratic eval {args.task} needs a graph file or --predictions (one of them)")
    if args.predictions and args.task == "retrieval":
        raise InputError("socratic eval retrieval embeds the data itself: give a graph, not --predictions")
    plots = _Plots()  # says at the start when plots will be skipped
    graph = load_graph(args.graph, overrides=args.set, context=context_from(args)) if args.graph else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    common = {"predictions": args.predictions, "key": args.key, "plots": plots}
    if args.task == "classify":
        report = eval_classify(graph, args.data, out, args.concurrency, output=args.output or "label",
                               **common)
        summary = {k: report[k] for k in ("n", "top1", "top5", "mean_per_class", "variants", "report")
                   if k in report}
        summary["failed"] = len(report["failed"])
    elif args.task == "retrieval":
        summary = eval_retrieval(graph, args.data, out, plots=plots)
    else:
        summary = eval_caption(graph, args.data, out, args.concurrency, output=args.output or "caption",
                               **common)
        summary = {k: v for k, v in summary.items() if k != "failed"} | {"failed": len(summary["failed"])}
    print(json.dumps({**summary, "results": str(out / "results.json")}, indent=2))
    return 0
