"""The rows a report shows: result records (``run --out``), joined by index with the data rows
(for the inputs, images among them, that a result file does not repeat) and with a trace (model
calls, prompts, answers, timings); each value sorted into what the page draws.

Example:
    >>> view_value("scores", {"cat": 0.7, "dog": 0.2})["kind"]
    'bars'
    >>> status_of({"outputs": {"label": "cat"}, "label_truth": "cat"}, "label_truth", "label")
    'correct'
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
#: bars shown for one score mapping
MAX_BARS = 12
#: the graph outputs compared with the truth column when none is named
DEFAULT_OUTPUTS = ("label", "caption", "answer", "output")


def is_image_path(value: Any) -> bool:
    return isinstance(value, str) and value.lower().endswith(IMAGE_EXTENSIONS) and "\n" not in value


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _bars(items: list[tuple[str, float]], best: str | None = None) -> dict[str, Any]:
    items = sorted(items, key=lambda kv: -kv[1])[:MAX_BARS]
    top = max((abs(v) for _, v in items), default=1.0) or 1.0
    return {"kind": "bars", "bars": [{"label": str(k), "value": v, "width": round(100 * abs(v) / top, 1),
                                      "best": k == best} for k, v in items]}


def view_value(name: str, value: Any, sibling: Any = None) -> dict[str, Any]:
    """How the page draws one output: ``bars`` (a mapping to numbers: CLIP scores), ``groups``
    (a mapping to such mappings: descriptor contributions), ``ranked`` (texts with a parallel
    list of scores: re-ranked candidates), ``list``, ``image``, ``text`` or ``json``."""
    if isinstance(value, dict) and value and all(_number(v) for v in value.values()):
        return {"name": name, **_bars(list(value.items()))}
    if isinstance(value, dict) and value and all(
            isinstance(v, dict) and all(_number(x) for x in v.values()) for v in value.values()):
        groups = sorted(value.items(), key=lambda kv: -sum(kv[1].values()) / max(1, len(kv[1])))[:4]
        return {"name": name, "kind": "groups",
                "groups": [{"label": k, **_bars(list(v.items()))} for k, v in groups]}
    if isinstance(value, list) and isinstance(sibling, list) and len(sibling) == len(value) and value \
            and all(isinstance(v, str) for v in value) and all(_number(s) for s in sibling):
        return {"name": name, **_bars(list(zip(value, sibling, strict=True)), best=value[0]),
                "kind": "ranked"}
    if is_image_path(value):
        return {"name": name, "kind": "image", "path": value}
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return {"name": name, "kind": "list", "items": [str(v) for v in value]}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return {"name": name, "kind": "text", "text": "" if value is None else str(value)}
    text = json.dumps(value, indent=1, ensure_ascii=False, default=str)
    return {"name": name, "kind": "json", "text": text}


def views(outputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Every output as drawn; a list of scores that goes with a list of texts (``ranked`` +
    ``scores`` of ``clip.rank``) is drawn with it, not on its own."""
    names = list(outputs)
    used: set[str] = set()
    out = []
    for name in names:
        value = outputs[name]
        sibling_name = next((n for n in names if n != name and isinstance(outputs[n], list)
                             and n not in used and _scores_for(value, outputs[n])), None)
        if sibling_name is not None:
            used.add(sibling_name)
        out.append(view_value(name, value, outputs.get(sibling_name) if sibling_name else None))
    return [v for v in out if v["name"] not in used]


def _scores_for(texts: Any, scores: Any) -> bool:
    return (isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts)
            and len(scores) == len(texts) and all(_number(s) for s in scores))


def status_of(record: dict[str, Any], truth: str | None, output: str | None) -> str:
    """``failed``, ``dropped``, ``correct`` / ``wrong`` (when a truth column is known), else ``done``."""
    if "error" in record:
        return "failed"
    if "dropped" in record:
        return "dropped"
    if truth and output and truth in record and output in (record.get("outputs") or {}):
        want = record[truth]
        got = record["outputs"][output]
        ok = got in want if isinstance(want, list) and not isinstance(got, list) else got == want
        return "correct" if ok else "wrong"
    return "done"


def pick_output(records: list[dict[str, Any]], output: str | None) -> str | None:
    if output:
        return output
    names = {k for r in records for k in (r.get("outputs") or {})}
    return next((n for n in DEFAULT_OUTPUTS if n in names), None)


def read_trace(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def is_trace(path: str | os.PathLike[str]) -> bool:
    """A trace file: JSON lines with ``span`` and ``kind``."""
    p = Path(path)
    if p.is_dir():
        return False
    with open(p, encoding="utf-8") as f:
        first = next((line for line in f if line.strip()), "")
    try:
        head = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(head, dict) and "span" in head and "kind" in head


def records_from_trace(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Result-like records from a trace alone (its row spans)."""
    out = []
    for s in sorted((s for s in spans if s["kind"] == "row"), key=lambda s: s["row"]):
        record: dict[str, Any] = {"index": s["row"]}
        if s["status"] == "error":
            record.update(error=s.get("error", "error"), node=s.get("node"))
        elif s["status"] == "dropped":
            record["dropped"] = s.get("dropped", "")
        else:
            record["outputs"] = {}
        out.append(record)
    return out


def calls_by_row(spans: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Each row's model calls from a trace (with the batch size of batched calls)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for s in spans:
        if s["kind"] == "model" and s.get("row") is not None:
            out.setdefault(s["row"], []).append(s)
    for calls in out.values():
        calls.sort(key=lambda s: s["start"])
    return out


def model_summary(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model: calls, cache hits, requests, tokens, mean milliseconds per call."""
    table: dict[str, dict[str, Any]] = {}
    for s in spans:
        if s["kind"] != "model":
            continue
        m = table.setdefault(s.get("model") or s["name"], {"model": s.get("model") or s["name"], "calls": 0,
                                                           "cache_hits": 0, "requests": 0, "tokens": 0,
                                                           "ms": 0.0, "errors": 0})
        m["calls"] += 1
        m["cache_hits"] += bool(s.get("cache_hit"))
        m["requests"] += s.get("requests", 0) or 0
        m["tokens"] += (s.get("prompt_tokens", 0) or 0) + (s.get("completion_tokens", 0) or 0)
        m["ms"] += s.get("ms", 0.0)
        m["errors"] += s["status"] == "error"
    for m in table.values():
        m["mean_ms"] = round(m.pop("ms") / max(1, m["calls"]), 1)
    return list(table.values())
