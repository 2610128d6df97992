"""Two steps of the demo that close the loop: tuning and distillation.

- :func:`tuning`: the unseen-name classes with a noisy descriptor file
  (:func:`~socratic.demo.world.noisy_descriptors`); ``socratic tune`` prunes descriptors and picks
  the aggregation on training images of those classes; untuned vs tuned on the held-out images,
  with the controls (class names, random descriptors, template ensemble).
- :func:`distillation`: the Socratic captioning graph captions the training two-shape images
  (a ``run --out`` file), a ClipCap bridge is trained on those captions (dotted columns
  ``outputs.image`` / ``outputs.caption``), and one graph runs both on the held-out images,
  traced: exact match, seconds and model calls per image for each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .world import UNSEEN, noisy_descriptors, recording_path


def _kind(caption: str) -> tuple[str, str] | None:
    words = caption.split()
    return (words[1], words[2]) if len(words) == 3 and words[0] == "a" else None


def tuning(model_dir: str, data: dict[str, Any], out: Path, seed: int) -> dict[str, Any]:
    """Tune the noisy-descriptor graph; dev figures of the untuned and tuned graph."""
    from ..eval.readers import read_jsonl
    from ..recipes.descriptors import save_descriptors
    from ..tune import tune_graph
    from .run import demo_graph

    folder = out / "tune"
    folder.mkdir(parents=True, exist_ok=True)
    by_kind = {kind: name for name, kind in UNSEEN.items()}
    train = []
    for row in read_jsonl(data["paths"]["train"]):
        kind = _kind(row["captions"][0])
        if kind in by_kind and len(train) < 90:
            train.append({"image": str(row["image"]), "label": by_kind[kind]})
    dev = []
    for row, s in zip(read_jsonl(data["paths"]["test_single"]), data["test_single"], strict=True):
        kind = (s.objects[0].color, s.objects[0].shape)
        if kind in by_kind:
            dev.append({"image": str(row["image"]), "label": by_kind[kind]})
    for name, rows in (("train", train), ("dev", dev)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = save_descriptors(noisy_descriptors(), folder / "noisy_descriptors.json")
    demo_graph("descriptors_tune", out, MODEL_DIR=model_dir, DESCRIPTORS_JSON=str(path))
    graph = out / "graphs" / "descriptors_tune.yaml"
    result = tune_graph(graph, folder / "train.jsonl", folder / "dev.jsonl", report_dir=folder)
    return {"n_train": len(train), "n_dev": len(dev), "untuned": result.dev["untuned"],
            "tuned": result.dev["tuned"], "controls": result.dev["tuned_controls"],
            "untuned_controls": result.dev["untuned_controls"], "trials": len(result.trials),
            "model_calls": result.calls, "values": {k: str(v) for k, v in result.values.items()},
            "tuned_graph": str(result.tuned_graph), "report": result.report}


def distillation(model_dir: str, data: dict[str, Any], clip: Any, out: Path, steps: int, seed: int,
                 n_train: int) -> dict[str, Any]:
    """Socratic captions -> a ClipCap bridge trained on them -> both on the held-out images."""
    from ..eval.readers import read_jsonl
    from ..runner import RowRunner
    from ..spec import load_graph
    from .run import demo_graph
    from .training import train_clipcap

    folder = out / "distill"
    folder.mkdir(parents=True, exist_ok=True)
    pairs = [{"image": str(r["image"])} for r in read_jsonl(data["paths"]["train"])
             if _kind(r["captions"][0]) is None][:n_train]
    rows = folder / "train_images.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in pairs))
    demo_graph("socratic_captioning", out, MODEL_DIR=model_dir, RECORDING=str(recording_path()))
    graph = load_graph(out / "graphs" / "socratic_captioning.yaml",
                       overrides=["outputs.image=${inputs.image}"])
    captions = folder / "socratic_captions.jsonl"
    captions.unlink(missing_ok=True)
    summary = RowRunner(graph, concurrency=64).run(rows, captions)
    bridge = train_clipcap(out, data, clip, steps, seed, name="clipcap_distilled", train_data={
        "train": str(captions), "image_column": "outputs.image", "caption_column": "outputs.caption"})
    both = demo_graph("socratic_distill", out, MODEL_DIR=model_dir, RECORDING=str(recording_path()),
                      BRIDGE_DIR=bridge["bridge_dir"])
    test = data["test_pairs"]
    test_rows = [{"image": str(r["image"])} for r in read_jsonl(data["paths"]["test_pairs"])]
    truth = [s.caption for s in test]
    result, records, spans = compare_traced(
        both, test_rows, truth, {"socratic": ("evidence", "write", "rerank"), "distilled": ("distilled",)},
        folder / "trace.jsonl")
    page = _report_page(out / "report.html", records, test_rows, truth, spans)
    return {"n_train": summary.done, "train_failed": summary.failed, "n": len(test), **result,
            "run_out": str(captions), "report": str(page)}


def _report_page(path: Path, records: list[dict[str, Any]], rows: list[dict[str, Any]], truth: list[str],
                 spans: list[dict[str, Any]]) -> Path:
    """The demo's report page: every held-out pair image, both captions, the model calls."""
    from ..report import build_report

    joined = [{**r, "image": row["image"], "truth": t}
              for r, row, t in zip(records, rows, truth, strict=True)]
    path.write_text(build_report(joined, spans=spans, truth="truth", output="distilled",
                                 title="socratic demo: Socratic captions vs the bridge distilled from them"),
                    encoding="utf-8")
    return path


def compare_traced(graph: Any, rows: list[dict[str, Any]], truth: list[str],
                   groups: dict[str, tuple[str, ...]], trace_path: Path) -> tuple[dict[str, Any], Any, Any]:
    """Run ``graph`` traced; per output named in ``groups``: exact match, and seconds and model
    calls per image of the nodes that make it (a batched call costs its batch's time / size).
    Returns ``(figures, records, spans)``."""
    from ..runner import RowRunner
    from ..trace import tracing

    trace_path.unlink(missing_ok=True)
    with tracing(trace_path, otel=False):
        records = RowRunner(graph, concurrency=64).collect(rows)
    spans = [json.loads(x) for x in trace_path.read_text().splitlines()]
    batches = {s["span"]: s for s in spans if s["kind"] == "batch"}
    out: dict[str, Any] = {}
    for name, nodes in groups.items():
        calls = [s for s in spans if s["kind"] == "model" and s.get("node") in nodes]
        seconds = sum((batches[s["batch"]]["ms"] / batches[s["batch"]]["size"]) if s.get("batch") in batches
                      else s["ms"] for s in calls) / 1000
        ok = [r.get("outputs", {}).get(name, "").strip() == t for r, t in zip(records, truth, strict=True)]
        out[name] = {"exact_match": sum(ok) / len(ok), "seconds_per_image": seconds / len(rows),
                     "model_calls_per_image": len(calls) / len(rows),
                     "example": (records[0].get("outputs") or {}).get(name)}
    return out, records, spans
