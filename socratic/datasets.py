"""Rows from data files, one reader per format and one error type.

Formats (``format="auto"`` picks by the path): ``jsonl`` (a JSON object a line), ``webdataset``
(img2dataset tar shards, ``shards/{00000..00009}.tar``: :mod:`socratic.webdata`), ``csv`` / ``.tsv``
(a header row; values are text, read by each graph input's type like ``-i`` values), ``coco``
(COCO ``captions_*.json`` or Karpathy's ``dataset_coco.json``: one row per image with all its
``captions``), ``images`` (a folder ``root/<label>/<image files>``: rows ``{image, label}``) and
``parquet`` (with pyarrow installed). Every problem is a :class:`~socratic.errors.DataError`
naming the file and line (``FILE:LINE: ...``); with ``errors="yield"`` a bad line becomes that
row's error item instead, and reading goes on (how ``socratic run --data`` treats it).

Image paths are relative to the data file's folder (or ``image_root``): the keys named in
``resolve`` (default ``("image",)``) are made absolute.

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
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from .errors import DataError

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
    """The format of ``path``: ``format`` if given, else by folder / suffix.

    Example:
        >>> detect_format("x/train.tsv"), detect_format("caps.json")
        ('csv', 'coco')
    """
    if format != "auto":
        if format not in FORMATS:
            raise DataError(f"unknown data format {format!r}; formats: {', '.join(FORMATS)}", file=path)
        return format
    if Path(path).is_dir():
        return "images"
    from .webdata import is_webdataset

    if is_webdataset(path):
        return "webdataset"
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(f"cannot tell the format from '{suffix or 'no suffix'}' (use .jsonl, .csv, .tsv,"
                        " .json for COCO captions, .parquet, or a folder of class folders)", file=path)
    return _SUFFIXES[suffix]


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
    fmt = detect_format(path, format)
    p = Path(path)
    if fmt == "images":
        if not p.is_dir():
            raise DataError("not a directory (expected root/<class>/<image files>)", file=p)
    elif fmt != "webdataset" and not p.is_file():
        raise DataError("file not found", file=p)
    root = Path(image_root) if image_root is not None else p.absolute().parent
    if fmt == "images":
        allowed = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
        rows = _images(p, allowed)
    elif fmt == "webdataset":
        from .webdata import read_shards

        rows = read_shards(str(path))
    else:
        reader = {"jsonl": _jsonl, "csv": _csv, "coco": _coco, "parquet": _parquet}[fmt]
        rows = reader(p, splits) if fmt == "coco" else reader(p)

    def resolved() -> Iterator[dict[str, Any] | DataError]:
        for row in rows:
            if isinstance(row, DataError):
                if errors == "raise":
                    raise row
                yield row
                continue
            for key in resolve:
                value = row.get(key)
                if isinstance(value, str) and value and fmt not in ("images", "webdataset") and (
                        not os.path.isabs(value)):
                    row[key] = str(root / value)
            yield row

    return resolved()


def read_records(path: PathLike, format: str = "auto", **options: Any) -> list[dict[str, Any]]:
    """All rows at once; the first bad line raises :class:`DataError`."""
    return list(iter_records(path, format, **options))  # type: ignore[arg-type]


def count_records(path: PathLike, format: str = "auto") -> int | None:
    """How many rows a file holds, cheaply when the format allows (for progress bars)."""
    fmt = detect_format(path, format)
    if fmt == "jsonl":
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    if fmt == "csv":
        with open(path, "rb") as f:
            return max(sum(1 for line in f if line.strip()) - 1, 0)
    return None


# --------------------------------------------------------------------------- readers


def _jsonl(path: Path) -> Iterator[dict[str, Any] | DataError]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield DataError(f"invalid utf-8 text ({exc.reason})", file=path, line=number)
                continue
            if not text.strip():
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


def _parquet(path: Path) -> Iterator[dict[str, Any] | DataError]:
    from .extras import require

    pq = require("pyarrow.parquet", "ray", "reading Parquet files")
    for batch in pq.ParquetFile(path).iter_batches():
        yield from batch.to_pylist()
