"""Rows from data files, one reader per format and one error type.

Formats (``format="auto"`` picks by the path): ``jsonl`` (a JSON object a line), ``webdataset``
(img2dataset tar shards, ``shards/{00000..00009}.tar``: :mod:`socratic.webdata`), ``csv`` / ``.tsv``
(a header row; values are text, read by each graph input's type like ``-i`` values), ``coco``
(COCO ``captions_*.json`` or Karpathy's ``dataset_coco.json``: one row per image with all its
``captions``), ``images`` (a folder ``root/<label>/<image files>``: rows ``{image, label}``) and
``parquet`` (with pyarrow installed). A folder of ``.jsonl``, ``.csv`` or ``.parquet`` files
(Spark's and Ray's output layout, or a Parquet results folder of ``socratic run``) reads as its
files in name order. Every problem is a :class:`~socratic.errors.DataError`
naming the file and line (``FILE:LINE: ...``); with ``errors="yield"`` a bad line becomes that
row's error item instead, and reading goes on (how ``socratic run --data`` treats it).

Image paths are relative to the data file's folder (or ``image_root``): the keys named in
``resolve`` (default ``("image",)``) are made absolute.

A source is read as :class:`Part` s (:func:`plan_parts`, :func:`read_part`): one per file for
:func:`iter_records`, or counted and cut into pieces of about ``rows_per_part`` rows that
separate workers read (the Ray engine), with the same row numbers and errors as one reader.

Example:
    >>> import json, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> with open(os.path.join(d, "rows.jsonl"), "w") as f:
    ...     _ = f.write('{"image": "a.png", "label": "cat"}\\n{oops\\n')
    >>> rows = list(iter_records(os.path.join(d, "rows.jsonl"), errors="yield"))
    >>> rows[0]["image"] == os.path.join(d, "a.png"), type(rows[1]).__name__
    (True, 'DataError')
    >>> str(rows[1]).endswith("rows.jsonl:2: invalid JSON: Expecting property name enclosed in double quotes")
    True
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from .errors import DataError, shorten

PathLike = str | os.PathLike[str]
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
FORMATS = ("jsonl", "csv", "coco", "images", "parquet", "webdataset")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv", ".json": "coco",
             ".parquet": "parquet"}


class Row(dict):
    """A row (a plain ``dict``) that remembers the file line it came from (``line``)."""

    line: int | None = None

    @classmethod
    def at(cls, data: dict[str, Any], line: int | None) -> Row:
        row = cls(data)
        row.line = line
        return row


class TextRow(Row):
    """A row whose values are text (from CSV): graph inputs read them by type, like ``-i``."""


def detect_format(path: PathLike, format: str = "auto") -> str:
    """The format of ``path``: ``format`` if given, else by folder / suffix (a folder holding
    ``.jsonl``, ``.csv`` or ``.parquet`` files reads as those files, else as class folders).

    Example:
        >>> detect_format("x/train.tsv"), detect_format("caps.json")
        ('csv', 'coco')
    """
    if format != "auto":
        if format not in FORMATS:
            raise DataError(f"unknown data format {format!r}; formats: {', '.join(FORMATS)}", file=path)
        return format
    if Path(path).is_dir():
        found = {_SUFFIXES[f.suffix.lower()] for f in _folder_files(Path(path))} - {"coco"}
        if len(found) > 1:
            raise DataError(f"a folder of data files must hold one format, found {', '.join(sorted(found))}",
                            file=path)
        return found.pop() if found else "images"
    from .webdata import is_webdataset

    if is_webdataset(path):
        return "webdataset"
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(f"cannot tell the format from '{suffix or 'no suffix'}' (use .jsonl, .csv, .tsv,"
                        " .json for COCO captions, .parquet, or a folder of class folders)", file=path)
    return _SUFFIXES[suffix]


def _folder_files(folder: Path) -> list[Path]:
    """The data files of a folder and its sub-folders, in name order (names starting with ``.``
    or ``_`` skipped, as Spark and Ray do)."""
    return sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in _SUFFIXES
                  and not any(n.startswith((".", "_")) for n in f.relative_to(folder).parts))


@dataclass(frozen=True)
class Part:
    """A piece of a data source that one reader reads: a whole file, the lines of a JSONL file
    from byte ``start`` to ``stop``, row groups ``start`` to ``stop`` of a Parquet file, or
    some images of an image folder (``images``: ``(path, label)`` pairs). ``index`` is the row
    number of its first row and ``rows`` how many it holds, when counted.

    Example:
        >>> Part("rows.jsonl", "jsonl").index is None
        True
    """

    path: str
    format: str
    root: str = "."
    start: int = 0
    stop: int | None = None
    first_line: int = 1
    index: int | None = None
    rows: int | None = None
    images: tuple[tuple[str, str], ...] | None = None
    options: tuple[str, ...] | None = None  # coco: the splits kept; images: the suffixes


def plan_parts(
    path: PathLike,
    format: str = "auto",
    *,
    rows_per_part: int | None = None,
    image_root: PathLike | None = None,
    splits: Iterable[str] | None = None,
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
) -> list[Part]:
    """The parts of a data file or folder, in row order. ``rows_per_part=None``: one part per
    file, not counted (nothing is read yet); else every part is counted (``index``, ``rows``)
    and JSONL and Parquet files and image folders are cut into pieces of about that many rows
    (a CSV or COCO file stays one part: quoted newlines make byte ranges unsafe).

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "r.jsonl")
        >>> _ = open(f, "w").write("".join('{"x": %d}\\n' % i for i in range(5)))
        >>> [(p.index, p.rows) for p in plan_parts(f, rows_per_part=2)]
        [(0, 2), (2, 2), (4, 1)]
    """
    fmt = detect_format(path, format)
    p = Path(path)
    if fmt == "images":
        if not p.is_dir():
            raise DataError("not a directory (expected root/<class>/<image files>)", file=p)
        allowed = tuple(sorted({e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}))
        classes = image_folder_classes(p)  # checked now, not at the first row
        if rows_per_part is None:
            return [Part(str(p), fmt, str(p), options=allowed)]
        listing = tuple((row["image"], row["label"]) for row in _image_rows(p, classes, allowed))
        return [Part(str(p), fmt, str(p), index=i, rows=len(chunk), images=chunk)
                for i in range(0, max(len(listing), 1), rows_per_part)
                for chunk in [listing[i:i + rows_per_part]]]
    if fmt == "webdataset":
        from .webdata import expand_shards

        shards = expand_shards(str(path))
        missing = [s for s in shards if not Path(s).is_file()]
        if missing:
            raise DataError(f"shard not found ({len(missing)} of {len(shards)} missing)", file=missing[0])
        files, root = [Path(s) for s in shards], Path(".")
    elif p.is_dir():
        files = [f for f in _folder_files(p) if _SUFFIXES[f.suffix.lower()] == fmt]
        if not files:
            raise DataError(f"no {fmt} files in the folder", file=p)
        root = Path(image_root) if image_root is not None else p.absolute()
    elif p.is_file():
        files, root = [p], Path(image_root) if image_root is not None else p.absolute().parent
    else:
        raise DataError("file not found", file=p)
    kept = tuple(splits) if splits else None
    parts = [Part(str(f), fmt, str(root), options=kept) for f in files]
    if rows_per_part is None:
        return parts
    counted: list[Part] = []
    index = 0
    for part in parts:
        for piece in _cut(part, rows_per_part):
            counted.append(replace(piece, index=index))
            index += piece.rows or 0
    return counted


def _cut(part: Part, size: int) -> list[Part]:
    """One file's parts, each counted."""
    if part.format == "jsonl":
        pieces: list[Part] = []
        start, first, rows, offset = 0, 1, 0, 0
        with open(part.path, "rb") as f:
            for line, raw in enumerate(f, start=1):
                if rows == size:
                    pieces.append(replace(part, start=start, stop=offset, first_line=first, rows=rows))
                    start, first, rows = offset, line, 0
                offset += len(raw)
                rows += not _blank(raw)
        return [*pieces, replace(part, start=start, stop=offset, first_line=first, rows=rows)]
    if part.format == "parquet":
        meta = _parquet_file(Path(part.path)).metadata
        pieces, first, rows = [], 0, 0
        for group in range(meta.num_row_groups):
            if rows >= size:
                pieces.append(replace(part, start=first, stop=group, rows=rows))
                first, rows = group, 0
            rows += meta.row_group(group).num_rows
        return [*pieces, replace(part, start=first, stop=meta.num_row_groups, rows=rows)]
    return [replace(part, rows=sum(1 for _ in _items(part)))]


def read_part(part: Part, *, errors: Literal["raise", "yield"] = "yield",
              resolve: Sequence[str] = ("image",)) -> Iterator[dict[str, Any] | DataError]:
    """The rows of one part (see :func:`plan_parts`), relative image paths made absolute."""
    root = Path(part.root)
    for row in _items(part):
        if isinstance(row, DataError):
            if errors == "raise":
                raise row
            yield row
            continue
        if part.format not in ("images", "webdataset"):  # their images are not paths
            for key in resolve:
                value = row.get(key)
                if isinstance(value, str) and value and not os.path.isabs(value):
                    row[key] = str(root / value)
        yield row


def _items(part: Part) -> Iterator[dict[str, Any] | DataError]:
    path = Path(part.path)
    if part.format == "images":
        if part.images is not None:
            return ({"image": image, "label": label} for image, label in part.images)
        return _images(path, set(part.options or IMAGE_EXTENSIONS))
    if part.format == "jsonl":
        return _jsonl(path, part.start, part.stop, part.first_line)
    if part.format == "parquet":
        return _parquet(path, part.start, part.stop)
    if part.format == "coco":
        return _coco(path, part.options)
    if part.format == "webdataset":
        from .webdata import read_shards

        return read_shards(part.path)
    return _csv(path)


def iter_records(
    path: PathLike,
    format: str = "auto",
    *,
    errors: Literal["raise", "yield"] = "raise",
    resolve: Sequence[str] = ("image",),
    image_root: PathLike | None = None,
    splits: Iterable[str] | None = None,
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
) -> Iterator[dict[str, Any] | DataError]:
    """The rows of a data file or folder, streamed (see the module docstring). The file is
    checked when called, not at the first row. ``splits``: the Karpathy splits to keep (coco);
    ``extensions``: the image suffixes of an image folder."""
    parts = plan_parts(path, format, image_root=image_root, splits=splits, extensions=extensions)
    return itertools.chain.from_iterable(read_part(p, errors=errors, resolve=resolve) for p in parts)


def read_records(path: PathLike, format: str = "auto", **options: Any) -> list[dict[str, Any]]:
    """All rows at once; the first bad line raises :class:`DataError`."""
    return list(iter_records(path, format, **options))  # type: ignore[arg-type]


def count_records(path: PathLike, format: str = "auto") -> int | None:
    """How many rows a file or folder holds, cheaply when the format allows (progress bars)."""
    fmt = detect_format(path, format)
    files = _folder_files(Path(path)) if Path(path).is_dir() else [Path(path)]
    if fmt == "jsonl":
        total = 0
        for file in files:
            with open(file, "rb") as f:
                total += sum(1 for line in f if not _blank(line))
        return total
    if fmt == "csv":
        total = 0
        for file in files:
            with open(file, "rb") as f:
                total += max(sum(1 for line in f if line.strip()) - 1, 0)
        return total
    if fmt == "parquet":
        return sum(_parquet_file(f).metadata.num_rows for f in files)
    return None


def _blank(raw: bytes) -> bool:
    """A JSONL line of white space only: skipped, not a row."""
    return not raw.strip() or (not raw.isascii() and not raw.decode("utf-8", "replace").strip())


# --------------------------------------------------------------------------- readers


def _jsonl(path: Path, start: int = 0, stop: int | None = None,
           first_line: int = 1) -> Iterator[dict[str, Any] | DataError]:
    with path.open("rb") as handle:
        handle.seek(start)
        offset = start
        for number, raw in enumerate(handle, start=first_line):
            if stop is not None and offset >= stop:
                return
            offset += len(raw)
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield DataError(f"invalid utf-8 text ({exc.reason})", file=path, line=number)
                continue
            if _blank(raw):
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                yield DataError(f"invalid JSON: {exc.msg}", file=path, line=number)
                continue
            if not isinstance(row, dict):
                yield DataError(f"expected a JSON object, got {type(row).__name__}", file=path, line=number)
                continue
            yield Row.at(row, number)


def _csv(path: Path) -> Iterator[dict[str, Any] | DataError]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        if not reader.fieldnames:
            yield DataError("no header row", file=path, line=1)
            return
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                yield DataError(f"expected {len(reader.fieldnames)} columns", file=path, line=reader.line_num)
                continue
            yield TextRow.at(row, reader.line_num)


def _coco(path: Path, splits: Iterable[str] | None) -> Iterator[dict[str, Any] | DataError]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        yield DataError(f"invalid JSON: {exc.msg}", file=path, line=exc.lineno)
        return
    if not isinstance(data, dict) or "images" not in data:
        yield DataError("not a COCO captions file (no 'images')", file=path)
        return
    if "annotations" in data:  # COCO captions_*.json
        grouped: dict[Any, list[str]] = {}
        for ann in data["annotations"]:
            grouped.setdefault(ann.get("image_id"), []).append(str(ann.get("caption", "")).strip())
        for im in data["images"]:
            if im.get("id") in grouped:
                yield {"id": im["id"], "image": im["file_name"], "captions": grouped[im["id"]]}
        return
    wanted = set(splits) if splits else None  # Karpathy dataset_coco.json
    for im in data["images"]:
        if wanted is not None and im.get("split") not in wanted:
            continue
        yield {"id": im.get("cocoid", im.get("imgid")), "split": im.get("split"),
               "image": os.path.join(im.get("filepath", ""), im["filename"]),
               "captions": [str(s.get("raw", "")).strip() for s in im.get("sentences", [])]}


def image_folder_classes(root: PathLike) -> list[str]:
    """The class names of an image folder: its sub-folders, sorted, hidden ones skipped.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("dog", "cat", ".cache"):
        ...     (root / name).mkdir()
        >>> image_folder_classes(root)
        ['cat', 'dog']
    """
    folder = Path(root)
    if not folder.is_dir():
        raise DataError("not a directory (expected root/<class>/<image files>)", file=folder)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError("no class folders (expected root/<class>/<image files>)", file=folder)
    return classes


def _images(root: Path, extensions: frozenset[str] | set[str] = IMAGE_EXTENSIONS) -> Iterator[dict[str, Any]]:
    classes = image_folder_classes(root)  # checked now, not at the first row
    return _image_rows(root, classes, extensions)


def _image_rows(root: Path, classes: list[str], extensions: Any) -> Iterator[dict[str, Any]]:
    for label in classes:
        for image in sorted((root / label).iterdir()):
            visible = not image.name.startswith(".")
            if visible and image.suffix.lower() in extensions and image.is_file():
                yield {"image": str(image), "label": label}


def _parquet_file(path: Path) -> Any:
    from .extras import require

    pq = require("pyarrow.parquet", "ray", "reading Parquet files")
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # not Parquet, or a file cut short
        raise DataError(f"not a readable Parquet file ({shorten(str(exc), 200)})", file=path) from None


def _parquet(path: Path, first: int = 0, stop: int | None = None) -> Iterator[dict[str, Any] | DataError]:
    f = _parquet_file(path)
    groups = list(range(first, f.metadata.num_row_groups if stop is None else stop))
    if groups:
        for batch in f.iter_batches(row_groups=groups):
            yield from batch.to_pylist()
