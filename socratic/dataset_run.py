"""Run a graph over a JSONL dataset: streamed, with a progress bar, resumable.

Each finished row is appended to the output file at once (``{"index": i, "outputs": ...}`` or
``{"index": i, "error": ...}``), so memory stays flat and a killed run loses nothing: running
the same command again keeps the rows that succeeded, drops a half-written last line, and runs
the rest (rows that failed are tried again). Keys of a row that start with ``_`` (``_id``) are
not graph inputs: they are copied to that row's output line.

Example:
    >>> import json, tempfile, os
    >>> from socratic import Graph, node
    >>> @node
    ... def inc(x: int) -> int:
    ...     return x + 1
    >>> g = Graph(); g.add_input("x", int); g.add("i", inc, x="inputs.x")
    >>> g.add_output("y", "i.output")
    >>> d = tempfile.mkdtemp()
    >>> with open(os.path.join(d, "rows.jsonl"), "w") as f:
    ...     _ = f.write('{"x": 1}\\n{"x": "bad"}\\n{"x": 3}\\n')
    >>> run_dataset(g, os.path.join(d, "rows.jsonl"), os.path.join(d, "out.jsonl"), progress=False)
    {'rows': 3, 'done': 2, 'failed': 1, 'skipped': 0}
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

from .errors import InputError, SocraticError
from .types import to_jsonable


class RowError(SocraticError):
    """An unreadable dataset line (reported as that row's error)."""


def read_rows(path: str) -> Iterator[Any]:
    """Yield each JSONL line as a dict, or a :class:`RowError` for an unreadable line."""
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 - closed below; generator
    except OSError as exc:
        raise InputError(f"--data {path}: {exc.strerror}") from None
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RowError(f"{path}:{lineno}: not JSON: {exc.msg}")
                continue
            if not isinstance(row, dict):
                yield RowError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
                continue
            yield row


def _count_rows(path: str) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def _resume(out_path: str) -> set[int]:
    """Keep successful rows of an earlier run (rewritten atomically); return their indices."""
    if not os.path.exists(out_path):
        return set()
    kept: list[str] = []
    done: set[int] = set()
    with open(out_path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # half-written line of a killed run
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            ok = isinstance(rec, dict) and "outputs" in rec and isinstance(rec.get("index"), int)
            if ok and rec["index"] not in done:
                done.add(rec["index"])
                kept.append(line)
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(kept)
    os.replace(tmp, out_path)
    return done


def run_dataset(
    graph: Any,
    data_path: str,
    out_path: str | None,
    *,
    concurrency: int = 8,
    progress: bool = True,
) -> dict[str, int]:
    """Run ``graph`` once per row of ``data_path``; see the module docstring."""
    if not os.path.isfile(data_path):
        raise InputError(f"--data {data_path}: no such file")
    skip = _resume(out_path) if out_path else set()
    total = _count_rows(data_path)
    extras: dict[int, dict[str, Any]] = {}

    def rows() -> Iterator[Any]:
        for i, row in enumerate(read_rows(data_path)):
            if isinstance(row, dict):
                private = {k: v for k, v in row.items() if k.startswith("_")}
                if private and i not in skip:
                    extras[i] = private
                    row = {k: v for k, v in row.items() if not k.startswith("_")}
            yield row

    out = open(out_path, "a", encoding="utf-8") if out_path else sys.stdout  # noqa: SIM115
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=len(skip), unit="row", file=sys.stderr, mininterval=0.5,
                   desc=graph.name)
    counts = {"rows": total, "done": 0, "failed": 0, "skipped": len(skip)}

    async def go() -> None:
        async for index, result in graph.aiter_many(rows(), concurrency=concurrency, skip=skip):
            rec = {"index": index, **extras.pop(index, {}), **to_jsonable(result)}
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            out.flush()
            counts["failed" if "error" in result else "done"] += 1
            if bar is not None:
                bar.update(1)

    try:
        asyncio.run(go())
    finally:
        if bar is not None:
            bar.close()
        if out_path:
            out.close()
    return counts
