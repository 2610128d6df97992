"""Evaluation rows: labelled or captioned images, read through :mod:`socratic.datasets`.

Rows have an ``image`` (a :class:`pathlib.Path`) and a ``label`` (str) and/or ``captions``
(list of str). Readers check structure, not images: nothing is decoded.

* :func:`read_image_folder`: ``root/<class>/<image files>`` -> ``{"image", "label"}``.
* :func:`read_jsonl`: one JSON object per line, ``{"image", "label"}``, ``{"image", "caption"}``
  or ``{"image", "captions"}``; relative image paths are resolved against the JSONL file's
  folder. A bad line raises :class:`~socratic.errors.DataError` naming file and line, or with
  ``skip_invalid=True`` is skipped with a warning (and collected in ``problems``).
* :func:`read_dataset`: any format of :mod:`socratic.datasets` (image folders, JSONL, CSV,
  COCO captions), checked the same way.

Example:
    >>> import json, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "data.jsonl").write_text(json.dumps({"image": "a.jpg", "label": "cat"}))
    >>> [(row["image"].name, row["label"]) for row in read_jsonl(folder / "data.jsonl")]
    [('a.jpg', 'cat')]
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from socratic.datasets import IMAGE_EXTENSIONS, image_folder_classes, iter_records
from socratic.errors import DataError

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetError",
    "image_folder_classes",
    "read_dataset",
    "read_image_folder",
    "read_jsonl",
]

DatasetError = DataError  # the one data error type (socratic.errors.DataError)
PathLike = str | os.PathLike[str]


def _row(record: dict[str, Any], check_exists: bool) -> dict[str, Any]:
    """Validate one record and normalise it to a row (raises ValueError)."""
    image = record.get("image")
    if not isinstance(image, str) or not image:
        raise ValueError("missing 'image' (a non-empty string path)")
    row = {k: v for k, v in record.items() if k != "caption"}
    row["image"] = Path(image).expanduser().resolve()
    if check_exists and not row["image"].is_file():
        raise ValueError(f"image file not found: {row['image']}")
    if "caption" in record and "captions" in record:
        raise ValueError("give either 'caption' or 'captions', not both")
    if "caption" in record:
        if not isinstance(record["caption"], str):
            raise ValueError("'caption' must be a string")
        row["captions"] = [record["caption"]]
    elif "captions" in record:
        captions = record["captions"]
        if not isinstance(captions, list) or not captions or not all(isinstance(c, str) for c in captions):
            raise ValueError("'captions' must be a non-empty list of strings")
    if "label" in record and not isinstance(record["label"], str):
        raise ValueError(f"'label' must be a string, got {type(record['label']).__name__}")
    if "label" not in row and "captions" not in row:
        raise ValueError("needs a 'label', a 'caption' or 'captions'")
    return row


def read_image_folder(
    root: PathLike, *, extensions: Iterable[str] = IMAGE_EXTENSIONS
) -> Iterator[dict[str, Any]]:
    """Rows ``{"image": Path, "label": class}`` of a ``root/<class>/<image files>`` folder.

    Classes and files come in sorted order; only files directly inside a class folder whose
    suffix (case-insensitive) is in ``extensions`` are read; hidden files are skipped. The root
    is checked when the function is called, not at the first row.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "cat").mkdir()
        >>> _ = (root / "cat" / "1.JPG").write_bytes(b"")
        >>> _ = (root / "cat" / "notes.txt").write_text("not an image")
        >>> [(row["image"].name, row["label"]) for row in read_image_folder(root)]
        [('1.JPG', 'cat')]
    """
    rows = iter_records(root, "images", extensions=extensions)
    return ({**r, "image": Path(r["image"])} for r in rows)  # type: ignore[index]


def read_dataset(
    path: PathLike,
    format: str = "auto",
    *,
    skip_invalid: bool = False,
    problems: list[DataError] | None = None,
    check_exists: bool = False,
    **options: Any,
) -> Iterator[dict[str, Any]]:
    """Labelled / captioned rows of any data file or folder (see the module docstring).

    Args:
        path: the data file or folder. Checked when called.
        skip_invalid: skip bad lines with a warning instead of raising :class:`DataError`.
        problems: if given, every skipped line's :class:`DataError` is appended to it.
        check_exists: also treat a line whose image file does not exist as bad.

    Example:
        >>> read_dataset("/nonexistent/thing.xyz")
        Traceback (most recent call last):
        socratic.errors.DataError: /nonexistent/thing.xyz: cannot tell the format from '.xyz' ...
    """
    records = iter_records(path, format, errors="yield", **options)

    def rows() -> Iterator[dict[str, Any]]:
        for number, record in enumerate(records, start=1):
            error = record if isinstance(record, DataError) else None
            if error is None:
                try:
                    yield _row(record, check_exists)  # type: ignore[arg-type]
                    continue
                except ValueError as exc:
                    error = DataError(str(exc), file=path, line=_line(record, number))
            if not skip_invalid:
                raise error
            if problems is not None:
                problems.append(error)
            warnings.warn(f"skipped {error}", stacklevel=2)

    return rows()


def read_jsonl(path: PathLike, **options: Any) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL file: ``{"image": Path, "label": str}`` and/or ``"captions": [str]``
    (``caption`` is returned as ``captions=[caption]``); other keys are kept. Options as in
    :func:`read_dataset`.

    Example:
        >>> import json, tempfile, pathlib, warnings
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "caps.jsonl"
        >>> _ = f.write_text(json.dumps({"image": "x.png", "caption": "a dog"}) + "\\n{oops\\n")
        >>> next(iter(read_jsonl(f)))["captions"]
        ['a dog']
        >>> list(read_jsonl(f))
        Traceback (most recent call last):
        socratic.errors.DataError: ...caps.jsonl:2: invalid JSON: ...
    """
    return read_dataset(path, "jsonl", **options)


def _line(record: Any, number: int) -> int:
    """The file line of the ``number``-th record (JSONL rows carry it after blank lines)."""
    return getattr(record, "line", None) or number
