"""Dataset readers yielding rows (dicts) for evaluation: image folders and JSONL files.

Rows have an ``image`` (a :class:`pathlib.Path`) and a ``label`` (str) and/or ``captions``
(list of str). Readers check file structure, not images: nothing is decoded.

* :func:`read_image_folder`: ``root/<class>/<image files>`` -> ``{"image", "label"}``.
* :func:`read_jsonl`: one JSON object per line, ``{"image", "label"}``, ``{"image", "caption"}``
  or ``{"image", "captions"}``; relative image paths are resolved against the JSONL file's
  folder. A bad line raises :class:`DatasetError` naming file and line, or with
  ``skip_invalid=True`` is skipped with a warning (and collected in ``problems``).
* :func:`read_dataset`: either of the two, chosen by the path.

Example:
    >>> import json, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "data.jsonl").write_text(json.dumps({"image": "a.jpg", "label": "cat"}))
    >>> [(row["image"].name, row["label"]) for row in read_jsonl(folder / "data.jsonl")]
    [('a.jpg', 'cat')]
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from socratic.errors import DataError

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetError",
    "image_folder_classes",
    "read_dataset",
    "read_image_folder",
    "read_jsonl",
]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})

PathLike = str | os.PathLike[str]


DatasetError = DataError  # the one data error type (socratic.errors.DataError)


# ---------------------------------------------------------------- image folders


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
        raise DatasetError("not a directory (expected root/<class>/<image files>)", file=folder)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DatasetError("no class folders (expected root/<class>/<image files>)", file=folder)
    return classes


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
    folder = Path(root)
    classes = image_folder_classes(folder)
    allowed = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}

    def rows() -> Iterator[dict[str, Any]]:
        for label in classes:
            for image in sorted((folder / label).iterdir()):
                hidden = image.name.startswith(".")
                if not hidden and image.suffix.lower() in allowed and image.is_file():
                    yield {"image": image, "label": label}

    return rows()


# ---------------------------------------------------------------- JSONL


def _row(record: Any, base: Path, check_exists: bool) -> dict[str, Any]:
    """Validate one decoded JSONL record and normalise it to a row (raises ValueError)."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    image = record.get("image")
    if not isinstance(image, str) or not image:
        raise ValueError("missing 'image' (a non-empty string path)")
    row = {k: v for k, v in record.items() if k != "caption"}
    image_path = Path(image).expanduser()
    row["image"] = image_path if image_path.is_absolute() else (base / image_path).resolve()
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
        if not isinstance(captions, list) or not captions:
            raise ValueError("'captions' must be a non-empty list of strings")
        if not all(isinstance(c, str) for c in captions):
            raise ValueError("'captions' must be a non-empty list of strings")
    if "label" in record and not isinstance(record["label"], str):
        raise ValueError(f"'label' must be a string, got {type(record['label']).__name__}")
    if "label" not in row and "captions" not in row:
        raise ValueError("needs a 'label', a 'caption' or 'captions'")
    return row


def read_jsonl(
    path: PathLike,
    *,
    skip_invalid: bool = False,
    problems: list[DatasetError] | None = None,
    check_exists: bool = False,
) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL file: ``{"image": Path, "label": str}`` and/or ``"captions": [str]``.

    Each non-blank line is a JSON object with an ``image`` path and a ``label``, a ``caption``
    (returned as ``captions=[caption]``) or ``captions`` (a list). Other keys are kept.
    Relative image paths are resolved against the JSONL file's folder; absolute ones are kept.

    Args:
        path: the JSONL file (UTF-8; a leading BOM is accepted). Checked when called.
        skip_invalid: skip bad lines with a warning instead of raising :class:`DatasetError`.
        problems: if given, every skipped line's :class:`DatasetError` is appended to it.
        check_exists: also treat a line whose image file does not exist as bad.

    Example:
        >>> import json, tempfile, pathlib, warnings
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "caps.jsonl"
        >>> _ = f.write_text(json.dumps({"image": "x.png", "caption": "a dog"}) + "\\n{oops\\n")
        >>> next(iter(read_jsonl(f)))["captions"]
        ['a dog']
        >>> list(read_jsonl(f))
        Traceback (most recent call last):
        socratic.errors.DataError: ...caps.jsonl:2: invalid JSON: ...
        >>> found = []
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     rows = list(read_jsonl(f, skip_invalid=True, problems=found))
        >>> len(rows), found[0].line
        (1, 2)
    """
    file = Path(path)
    if not file.is_file():
        raise DatasetError("JSONL file not found", file=file)
    base = file.absolute().parent

    def rows() -> Iterator[dict[str, Any]]:
        with file.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                    if not text.strip():
                        continue
                    try:
                        record = json.loads(text)
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"invalid JSON: {exc}") from None
                    row = _row(record, base, check_exists)
                except (UnicodeDecodeError, ValueError) as exc:
                    error = DatasetError(str(exc), file=file, line=number)
                    if not skip_invalid:
                        raise error from None
                    if problems is not None:
                        problems.append(error)
                    warnings.warn(f"skipped {error}", stacklevel=2)
                    continue
                yield row

    return rows()


# ---------------------------------------------------------------- either


def read_dataset(path: PathLike, **options: Any) -> Iterator[dict[str, Any]]:
    """Rows of an image folder (a directory) or a JSONL file (``.jsonl`` / ``.json`` lines).

    ``options`` go to :func:`read_image_folder` or :func:`read_jsonl`.

    Example:
        >>> read_dataset("/nonexistent/thing.csv")
        Traceback (most recent call last):
        socratic.errors.DataError: /nonexistent/thing.csv: not a directory or a .jsonl file
    """
    target = Path(path)
    if target.is_dir():
        return read_image_folder(target, **options)
    if target.suffix.lower() in {".jsonl", ".json", ".ndjson"}:
        return read_jsonl(target, **options)
    raise DatasetError("not a directory or a .jsonl file", file=target)
