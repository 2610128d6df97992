"""Result files of a dataset run: a JSONL file or a folder of Parquet files, both resumable.

A result record is ``{"index": i, ...pass-through columns, "outputs": {...}}`` or
``{"index": i, ...pass-through columns, "error": "...", "node": "..."}`` (see
:mod:`socratic.runner`). :func:`open_results` picks the writer by the ``out`` path:

- ``out.jsonl`` (any other file name): one JSON record a line, appended as rows finish.
- ``out.parquet`` or ``out/`` (a folder, existing or ending with a slash): Parquet files
  ``part-NNNNNN.parquet`` of up to ``rows_per_file`` rows, each written to a temporary name and
  renamed when complete, so a killed run never leaves a half-written file under its real name.
  Columns: ``index``, the pass-through columns, ``outputs`` (the graph outputs as JSON text),
  ``error`` and ``node`` (null for a successful row).

Resuming (opening the same ``out`` again): successful rows are kept and their ids reported as
done; error rows are dropped so that they run again; a half-written last JSONL line (or a
leftover temporary Parquet file) of a killed run is removed.

Example:
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "res.parquet")
    >>> w = open_results(out)
    >>> w.write({"index": 0, "id": "a", "outputs": {"y": [1, 2]}})
    >>> w.write({"index": 1, "id": "b", "error": "boom", "node": "n"})
    >>> w.close()
    >>> [r["outputs"] if "outputs" in r else r["error"] for r in read_results(out)]
    [{'y': [1, 2]}, 'boom']
    >>> sorted(open_results(out, id_key="id").done)   # the error row runs again
    ['a']
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Protocol

from .errors import DataError, shorten

PathLike = str | os.PathLike[str]


class ResultWriter(Protocol):
    """Where the records of a run go; ``done``: the ids of rows an earlier run finished."""

    done: set[Any]

    def write(self, record: dict[str, Any]) -> None: ...

    def close(self, *, ordered: bool = False) -> None: ...


def result_format(out: PathLike) -> str:
    """``"parquet"`` for a ``.parquet`` name or a folder (existing, or written with a trailing
    slash), else ``"jsonl"``.

    Example:
        >>> result_format("out.jsonl"), result_format("out.parquet"), result_format("runs/")
        ('jsonl', 'parquet', 'parquet')
    """
    text = os.fspath(out)
    if text.endswith(("/", os.sep)) or Path(text).is_dir() or Path(text).suffix.lower() == ".parquet":
        return "parquet"
    return "jsonl"


def open_results(out: PathLike, *, id_key: str | None = None, rows_per_file: int = 1000,
                 seconds: float = 30.0) -> ResultWriter:
    """The writer for ``out`` (see the module docstring), with the earlier run's finished rows
    in ``done`` (ids from the ``id_key`` column, else row indices)."""
    if result_format(out) == "parquet":
        return ParquetResults(out, id_key=id_key, rows_per_file=rows_per_file, seconds=seconds)
    return JsonlResults(out, id_key=id_key)


def _record_id(record: dict[str, Any], id_key: str | None) -> Any:
    key = record.get(id_key) if id_key else record.get("index")
    return None if isinstance(key, (dict, list)) else key


class JsonlResults:
    """Records appended to a JSONL file, one a line, flushed as they come.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "out.jsonl")
        >>> w = JsonlResults(path); w.write({"index": 0, "outputs": {}}); w.close()
        >>> JsonlResults(path).done
        {0}
    """

    def __init__(self, path: PathLike, *, id_key: str | None = None) -> None:
        self.path = os.fspath(path)
        self.done = _resume_jsonl(self.path, id_key)
        self._stream = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._last = -1
        self._in_order = not self.done

    def write(self, record: dict[str, Any]) -> None:
        self.write_line(json.dumps(record, ensure_ascii=False), record.get("index"))

    def write_line(self, line: str, index: Any = None) -> None:
        """Write a record already turned into JSON text (``index``: its row index)."""
        self._stream.write(line + "\n")
        self._stream.flush()
        if isinstance(index, int):
            self._in_order = self._in_order and index > self._last
            self._last = max(self._last, index)

    def close(self, *, ordered: bool = False) -> None:
        self._stream.close()
        if ordered and not self._in_order:
            _sort_jsonl(self.path)


class ParquetResults:
    """Records written to a folder as Parquet files of up to ``rows_per_file`` rows (or what
    ``seconds`` gathered); see the module docstring for the columns.

    Example:
        >>> import tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "res")
        >>> w = ParquetResults(out, rows_per_file=2)
        >>> for i in range(3):
        ...     w.write({"index": i, "outputs": {"y": i}})
        >>> w.close()
        >>> sorted(p.name for p in Path(out).iterdir())
        ['part-000000.parquet', 'part-000001.parquet']
    """

    def __init__(self, folder: PathLike, *, id_key: str | None = None, rows_per_file: int = 1000,
                 seconds: float = 30.0) -> None:
        self.folder = Path(folder)
        self.rows_per_file = max(1, rows_per_file)
        self.seconds = seconds
        self.folder.mkdir(parents=True, exist_ok=True)
        self.done = _resume_parquet(self.folder, id_key)
        self._buffer: list[dict[str, Any]] = []
        self._since = time.monotonic()
        self._next = 1 + max((int(p.stem.split("-")[1]) for p in self.folder.glob("part-*.parquet")
                              if p.stem.split("-")[1].isdigit()), default=-1)

    def write(self, record: dict[str, Any]) -> None:
        self._buffer.append(record)
        if len(self._buffer) >= self.rows_per_file or time.monotonic() - self._since > self.seconds:
            self.flush()

    def flush(self) -> None:
        """Write the gathered rows as one complete file (temporary name, then renamed)."""
        if self._buffer:
            import pyarrow.parquet as pq

            table = records_to_table(self._buffer)
            final = self.folder / f"part-{self._next:06d}.parquet"
            tmp = self.folder / f".{final.name}.tmp"
            pq.write_table(table, tmp)
            os.replace(tmp, final)
            self._next += 1
            self._buffer = []
        self._since = time.monotonic()

    def close(self, *, ordered: bool = False) -> None:
        self.flush()


def records_to_table(records: list[dict[str, Any]]) -> Any:
    """Records -> a pyarrow table: ``index``, pass-through columns, ``outputs`` (JSON text),
    ``error``, ``node``, ``dropped`` (why a filter removed the row)."""
    from .extras import require

    pa = require("pyarrow", "ray", "writing Parquet results")
    rows = []
    for r in records:
        row = {k: v for k, v in r.items() if k not in ("outputs", "error", "node", "dropped")}
        row["outputs"] = json.dumps(r["outputs"], ensure_ascii=False) if "outputs" in r else None
        row["error"], row["node"], row["dropped"] = r.get("error"), r.get("node"), r.get("dropped")
        rows.append(row)
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"cannot write these rows as Parquet ({shorten(str(exc), 200)}); a pass-through"
                        " column needs one type in every row: write JSONL (--out FILE.jsonl)") from None


def table_to_records(table: Any) -> list[dict[str, Any]]:
    """The inverse of :func:`records_to_table` (absent ``error`` / ``node`` / ``outputs`` /
    ``dropped`` left out)."""
    out = []
    for row in table.to_pylist():
        outputs, error, node = row.pop("outputs", None), row.pop("error", None), row.pop("node", None)
        dropped = row.pop("dropped", None)
        if dropped is not None:
            row["dropped"] = dropped
        elif error is not None:
            row["error"] = error
            if node is not None:
                row["node"] = node
        else:
            row["outputs"] = json.loads(outputs) if outputs is not None else {}
        out.append(row)
    return out


def read_results(out: PathLike) -> list[dict[str, Any]]:
    """Every record of a result file or folder, in row order where rows have an ``index``."""
    if result_format(out) == "jsonl":
        with open(out, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    else:
        import pyarrow.parquet as pq

        records = [r for p in _parts(Path(out)) for r in table_to_records(pq.read_table(p))]
    if all(isinstance(r.get("index"), int) for r in records):
        records.sort(key=lambda r: r["index"])
    return records


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


def _resume_jsonl(path: str, id_key: str | None) -> set[Any]:
    """Keep the successful (and dropped) records of an earlier run (rewritten atomically); their
    row ids."""
    if not os.path.exists(path):
        return set()
    kept: list[str] = []
    done: set[Any] = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # half-written line of a killed run
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(rec, dict) or ("outputs" not in rec and "dropped" not in rec):
                continue  # failed rows run again; dropped rows are done
            key = _record_id(rec, id_key)
            if key is not None and key not in done:
                done.add(key)
                kept.append(line)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(kept)
    os.replace(tmp, path)
    return done


def _resume_parquet(folder: Path, id_key: str | None) -> set[Any]:
    """Drop leftover temporary files; rewrite files holding error rows (or rows done twice)
    without them; the ids of the successful rows."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    for tmp in folder.glob(".part-*.tmp"):
        tmp.unlink()
    done: set[Any] = set()
    column = id_key or "index"
    for part in _parts(folder):
        table = pq.read_table(part)
        ok = pc.is_null(table["error"]) if "error" in table.column_names else None
        ids = table[column].to_pylist() if column in table.column_names else [None] * table.num_rows
        keep = [bool(ok[i].as_py()) if ok is not None else True for i in range(table.num_rows)]
        for i, key in enumerate(ids):
            if not keep[i]:
                continue
            if key is None or key in done:  # no id to resume by, or done twice
                keep[i] = False
            else:
                done.add(key)
        if not any(keep):
            part.unlink()
        elif not all(keep):
            tmp = folder / f".{part.name}.tmp"
            pq.write_table(table.filter(keep), tmp)
            os.replace(tmp, part)
    return done


def _sort_jsonl(path: str) -> None:
    """Rewrite a result file in row order (after rows were appended out of order)."""
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    lines.sort(key=lambda line: json.loads(line).get("index", 0))
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(tmp, path)
