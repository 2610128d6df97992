"""``socratic report``: one self-contained static HTML page to look at every row of a run.

Reads a ``run --out`` result file (JSONL or a Parquet folder), optionally the data it ran on (the
inputs, images among them, that results do not repeat: ``data=``, joined by row index), a trace
of the same run (``trace=``: model calls per row with timings, cache hits, tokens, the rendered
prompts and the answers), and a truth column (rows marked correct / wrong). A trace alone is a
source too. The page has a summary at the top (rows, failures, accuracy, per-model calls), a
filter (all / correct / wrong / failed / dropped), a search box, and per row: the images
(embedded as small PNG thumbnails, or linked), CLIP scores as bars, descriptor contributions,
re-ranked candidates with their scores, the other outputs, errors, and the model calls. No
server, no network: CSS and script are inline. The page is rendered by jinja2's sandboxed
environment with autoescaping, so nothing in a row can inject markup.

Example:
    >>> html = build_report([{"index": 0, "outputs": {"label": "cat", "scores": {"cat": 0.9, "dog": 0.1}}}])
    >>> "cat" in html and html.startswith("<!doctype html>")
    True
"""

from __future__ import annotations

import base64
import io
import os
from collections import Counter
from pathlib import Path
from typing import Any

from .rows import (
    calls_by_row,
    is_image_path,
    is_trace,
    model_summary,
    pick_output,
    read_trace,
    records_from_trace,
    status_of,
    views,
)

__all__ = ["build_report", "write_report"]

#: longest side of an embedded thumbnail (pixels)
THUMBNAIL = 224


def _template() -> Any:
    from importlib.resources import files

    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                               lstrip_blocks=True)
    text = (files("socratic") / "report" / "page.html.j2").read_text(encoding="utf-8")
    return env.from_string(text)


def image_src(path: str, base: Path | None, link: bool) -> str | None:
    """A data URL of a thumbnail of the image at ``path`` (relative to ``base``), or a file URL
    when ``link``; None when the file cannot be read."""
    p = Path(path)
    if not p.is_absolute() and base is not None:
        p = base / p
    if not p.is_file():
        return None
    if link:
        return p.resolve().as_uri()
    try:
        from PIL import Image

        with Image.open(p) as im:
            im = im.convert("RGB")
            im.thumbnail((THUMBNAIL, THUMBNAIL))
            if max(im.size) < 96:  # tiny images (the shapes world): scale up, sharp
                k = max(1, 96 // max(im.size))
                im = im.resize((im.width * k, im.height * k), Image.NEAREST)
            buf = io.BytesIO()
            im.save(buf, format="PNG")
    except Exception:
        return None
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def build_report(records: list[dict[str, Any]], *, data_rows: list[dict[str, Any]] | None = None,
                 spans: list[dict[str, Any]] | None = None, truth: str | None = None,
                 output: str | None = None, title: str = "socratic report", base: Path | None = None,
                 link_images: bool = False, extra_summary: dict[str, Any] | None = None) -> str:
    """The HTML page (see the module docstring) of result ``records``."""
    spans = spans or []
    output = pick_output(records, output)
    calls = calls_by_row(spans)
    data_by_index = dict(enumerate(data_rows)) if data_rows else {}
    rows = []
    counts: Counter[str] = Counter()
    for record in sorted(records, key=lambda r: r.get("index", 0)):
        index = record.get("index", 0)
        joined = {**(data_by_index.get(index) or {}), **record}
        status = status_of(joined, truth, output)
        counts[status] += 1
        columns = {k: v for k, v in joined.items()
                   if k not in ("index", "outputs", "error", "node", "dropped")}
        images = []
        for key, value in list(columns.items()):
            for item in value if isinstance(value, list) else [value]:
                if is_image_path(item):
                    images.append({"name": key, "path": item, "src": image_src(item, base, link_images)})
        shown = {k: v for k, v in columns.items()
                 if k != truth and not any(i["name"] == k for i in images)}
        outs = views(joined.get("outputs") or {})
        for v in outs:
            if v["kind"] == "image":
                v["src"] = image_src(v["path"], base, link_images)
        row_calls = [_call_view(s) for s in calls.get(index, [])]
        search = " ".join(str(x) for x in [index, *shown.values(), *(joined.get("outputs") or {}).values(),
                                           joined.get("error", ""), *(c["answer"] for c in row_calls)])
        rows.append({"index": index, "status": status, "columns": {k: _short(v) for k, v in shown.items()},
                     "images": images, "outputs": outs, "error": joined.get("error"),
                     "node": joined.get("node"), "dropped": joined.get("dropped"), "calls": row_calls,
                     "truth": _short(joined.get(truth)) if truth and truth in joined else None,
                     "search": search.lower()[:20000]})
    judged = counts["correct"] + counts["wrong"]
    summary = {"rows": len(rows), "counts": dict(counts), "output": output, "truth": truth,
               "accuracy": (counts["correct"] / judged) if judged else None,
               "models": model_summary(spans), **(extra_summary or {})}
    statuses = [s for s in ("correct", "wrong", "failed", "dropped", "done") if counts[s]]
    return _template().render(title=title, rows=rows, summary=summary, statuses=statuses)


def _call_view(span: dict[str, Any]) -> dict[str, Any]:
    answer = span.get("answer", "")
    return {"node": span.get("node", ""), "model": span.get("model") or span.get("name", ""),
            "ms": span.get("ms", 0.0), "cache_hit": bool(span.get("cache_hit")),
            "requests": span.get("requests"), "retries": span.get("retries"),
            "tokens": (span.get("prompt_tokens") or 0) + (span.get("completion_tokens") or 0),
            "batch_size": span.get("batch_size"), "status": span["status"], "error": span.get("error"),
            "prompt": span.get("prompt", ""),
            "answer": "\n---\n".join(answer) if isinstance(answer, list) else str(answer or "")}


def _short(value: Any) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 500 else text[:497] + "..."


def write_report(source: str | os.PathLike[str], out: str | os.PathLike[str] = "report.html", *,
                 data: str | os.PathLike[str] | None = None, trace: str | os.PathLike[str] | None = None,
                 truth: str | None = None, output: str | None = None, title: str | None = None,
                 link_images: bool = False, extra_summary: dict[str, Any] | None = None) -> Path:
    """Write the page of a ``run --out`` file or folder (or a trace file) to ``out``."""
    from ..results import read_results

    src = Path(source)
    spans = read_trace(trace) if trace else []
    if is_trace(src):
        spans = spans or read_trace(src)
        records = records_from_trace(spans)
    else:
        records = read_results(src)
    data_rows = None
    base = src.parent if not src.is_dir() else src
    if data:
        from ..datasets import iter_records

        data_rows = [r if isinstance(r, dict) else {"error": str(r)}
                     for r in iter_records(data, "auto", errors="yield", resolve=())]
        base = Path(data).parent
    html = build_report(records, data_rows=data_rows, spans=spans, truth=truth, output=output,
                        title=title or f"socratic report: {src.name}", base=base, link_images=link_images,
                        extra_summary=extra_summary)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
