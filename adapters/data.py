"""Caption datasets (COCO captions JSON, JSONL, CSV), text prompt/completion data, and the
visual-feature cache.

Readers return :class:`CaptionRecord` lists (image path, caption, all reference captions).
Missing or unreadable images are skipped, counted and reported (``SkipReport``), never a crash.
When the vision encoder is frozen, features are computed once and kept in a memory-mapped
``.npy`` file keyed by the encoder's fingerprint and the data file, so later runs skip the
encoder entirely.

Example:
    >>> import tempfile, json, os
    >>> d = tempfile.mkdtemp()
    >>> _ = open(os.path.join(d, "c.jsonl"), "w").write(json.dumps(
    ...     {"image": "missing.png", "caption": "a cat"}) + "\\n")
    >>> recs = read_captions(os.path.join(d, "c.jsonl"))
    >>> recs[0].caption, recs[0].image.endswith("missing.png")
    ('a cat', True)
    >>> ok, report = check_images(recs)
    >>> len(ok), report.missing
    (0, 1)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from socratic.errors import DataError

__all__ = [
    "CaptionDataset",
    "CaptionRecord",
    "DataError",
    "FeatureCache",
    "SkipReport",
    "TextPairDataset",
    "check_images",
    "read_captions",
    "read_prompt_completion",
]



@dataclass
class CaptionRecord:
    """One image with one training caption and all of its reference captions."""

    image: str
    caption: str
    references: list[str] = field(default_factory=list)


@dataclass
class SkipReport:
    """What was skipped while reading images: counts and a few examples."""

    total: int = 0
    missing: int = 0
    unreadable: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return self.missing + self.unreadable

    def add(self, path: str, missing: bool, why: str = "") -> None:
        if missing:
            self.missing += 1
        else:
            self.unreadable += 1
        if len(self.examples) < 5:
            self.examples.append(f"{path}: {why or ('missing' if missing else 'unreadable')}")

    def __str__(self) -> str:
        if not self.skipped:
            return f"all {self.total} images readable"
        ex = "; ".join(self.examples)
        return (
            f"skipped {self.skipped} of {self.total} images ({self.missing} missing, "
            f"{self.unreadable} unreadable), e.g. {ex}"
        )


# ---------------------------------------------------------------- readers


def _dig(row: Any, column: str) -> Any:
    """A column of a row; ``outputs.image`` reaches into nested records (``socratic run --out``)."""
    value = row
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def read_captions(
    path: str | os.PathLike[str],
    fmt: str = "auto",
    *,
    image_root: str | None = None,
    splits: Sequence[str] | None = None,
    image_column: str = "image",
    caption_column: str = "caption",
    max_samples: int | None = None,
) -> list[CaptionRecord]:
    """Read (image, caption) records through :mod:`socratic.datasets` (JSONL, CSV, COCO
    captions); one record per caption, each knowing all references of its image.

    ``coco``: Karpathy ``dataset_coco.json`` (filtered by ``splits``) or COCO
    ``captions_*.json``. JSONL / CSV rows name the image in ``image_column`` and the caption (or
    a list of captions) in ``caption_column``. Image paths are relative to ``image_root``
    (default: the data file's folder).
    """
    from socratic.datasets import iter_records

    rows = iter_records(path, fmt, resolve=(image_column,) if "." not in image_column else (),
                        image_root=image_root, splits=splits)
    records: list[CaptionRecord] = []
    for row in rows:
        if "." in image_column and ("error" in row or "dropped" in row):  # type: ignore[operator]
            continue  # a `socratic run --out` record of a failed or filtered-out row
        caps = row.get("captions") if "captions" in row and caption_column == "caption" else (  # type: ignore[union-attr]
            _dig(row, caption_column))
        image = _dig(row, image_column)
        if not isinstance(image, str) or caps is None:
            raise DataError(f"expected columns '{image_column}' and '{caption_column}'", file=path,
                            line=getattr(row, "line", None))
        if not os.path.isabs(image) and ".tar#" not in image:
            image = os.path.join(image_root or os.path.dirname(os.path.abspath(path)), image)
        caps = [c.strip() for c in (caps if isinstance(caps, list) else [caps])
                if isinstance(c, str) and c.strip()]
        records += [CaptionRecord(image, c, caps) for c in caps]
        if max_samples and len(records) >= max_samples:
            break
    if max_samples:
        records = records[:max_samples]
    if not records:
        raise DataError("no (image, caption) rows found", file=path)
    return records


def _open_image(path: str) -> Any:
    """An RGB image from a file or a WebDataset shard member (``SHARD.tar#KEY.jpg``)."""
    if ".tar#" in path:
        from socratic.webdata import open_image

        return open_image(path)
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


def check_images(records: Sequence[CaptionRecord]) -> tuple[list[CaptionRecord], SkipReport]:
    """Drop records whose image is missing or cannot be decoded; each file is read once."""
    report = SkipReport()
    status: dict[str, bool] = {}
    for rec in records:
        if rec.image in status:
            continue
        report.total += 1
        if not os.path.isfile(rec.image.partition(".tar#")[0] + (".tar" if ".tar#" in rec.image else "")):
            status[rec.image] = False
            report.add(rec.image, missing=True)
            continue
        try:
            _open_image(rec.image)
            status[rec.image] = True
        except Exception as e:
            status[rec.image] = False
            report.add(rec.image, missing=False, why=f"{type(e).__name__}: {str(e)[:80]}")
    return [r for r in records if status[r.image]], report


def read_prompt_completion(
    path: str | os.PathLike[str],
    prompt_field: str = "prompt",
    completion_field: str = "completion",
    max_samples: int | None = None,
) -> list[tuple[str, str]]:
    """Read ``{"prompt", "completion"}`` rows (JSONL or CSV; for LoRA / prefix tuning)."""
    from socratic.datasets import iter_records

    out = []
    for row in iter_records(path, resolve=()):
        if prompt_field not in row or completion_field not in row:  # type: ignore[operator]
            raise DataError(f"expected '{prompt_field}' and '{completion_field}'", file=path,
                            line=getattr(row, "line", None))
        out.append((str(row[prompt_field]), str(row[completion_field])))  # type: ignore[index]
        if max_samples and len(out) >= max_samples:
            break
    if not out:
        raise DataError("no rows", file=path)
    return out


# ---------------------------------------------------------------- feature cache


class FeatureCache:
    """Visual features computed once per (encoder, data file), stored as memory-mapped ``.npy``.

    The key combines the encoder's weight fingerprint, the feature kind and a hash of the image
    list (paths, sizes, modification times), so a changed file or encoder never reuses stale
    features. Files are written to a temporary name and renamed (safe with concurrent readers).

    Example:
        >>> import tempfile
        >>> cache = FeatureCache(tempfile.mkdtemp())
        >>> calls = []
        >>> def enc(paths):
        ...     calls.append(len(paths)); return np.ones((len(paths), 4), np.float32)
        >>> a = cache.get_or_compute("enc1", "pooled", ["x.png", "y.png"], enc, batch_size=1)
        >>> b = cache.get_or_compute("enc1", "pooled", ["x.png", "y.png"], enc)
        >>> a.shape, calls
        ((2, 4), [1, 1])
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @staticmethod
    def files_key(paths: Sequence[str]) -> str:
        h = hashlib.sha256()
        for p in paths:
            try:
                st = os.stat(p.partition("#")[0])  # a WebDataset sample: its shard's file
                h.update(f"{p}|{st.st_size}|{int(st.st_mtime)}\n".encode())
            except OSError:
                h.update(f"{p}|-\n".encode())
        return h.hexdigest()[:16]

    def path(self, encoder_key: str, kind: str, paths: Sequence[str]) -> Path:
        return self.root / encoder_key / f"{kind}-{self.files_key(paths)}.npy"

    def get_or_compute(
        self,
        encoder_key: str,
        kind: str,
        paths: Sequence[str],
        encode: Callable[[Sequence[str]], np.ndarray],
        batch_size: int = 64,
    ) -> np.ndarray:
        """Return a read-only memory map of features for ``paths`` (row i <-> paths[i])."""
        target = self.path(encoder_key, kind, paths)
        if target.exists():
            return np.load(target, mmap_mode="r")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        out = None
        try:
            for start in range(0, len(paths), batch_size):
                chunk = np.asarray(encode(paths[start : start + batch_size]), dtype=np.float32)
                if out is None:
                    out = np.lib.format.open_memmap(
                        tmp, mode="w+", dtype=np.float32, shape=(len(paths), *chunk.shape[1:])
                    )
                out[start : start + len(chunk)] = chunk
            if out is None:
                raise DataError("no images to encode")
            out.flush()
            del out
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        return np.load(target, mmap_mode="r")


# ---------------------------------------------------------------- datasets


class CaptionDataset:
    """Examples for :meth:`VisionLanguageModel.collate`: ``{"pixel_values" | "features",
    "caption", "references"}``.

    With ``features`` (an array, row per distinct image) it serves cached features; otherwise it
    reads and preprocesses images on the fly with ``preprocess`` (an image that turns unreadable
    later is replaced by the next good one and counted in ``late_failures``).

    Example:
        >>> ds = CaptionDataset([CaptionRecord("a.png", "a cat", ["a cat"])],
        ...                     features=np.zeros((1, 4), np.float32))
        >>> ds[0]["caption"], ds[0]["features"].shape
        ('a cat', (4,))
    """

    def __init__(
        self,
        records: Sequence[CaptionRecord],
        *,
        preprocess: Callable[[list[Any]], Any] | None = None,
        features: np.ndarray | None = None,
        prompt: str | None = None,
    ) -> None:
        self.records = list(records)
        self.preprocess = preprocess
        self.features = features
        self.prompt = prompt
        self.late_failures = 0
        self.images = sorted({r.image for r in self.records})
        self.row_of = {p: i for i, p in enumerate(self.images)}
        if features is not None and len(features) != len(self.images):
            raise DataError(f"feature rows ({len(features)}) != distinct images ({len(self.images)})")

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.records[i]
        ex: dict[str, Any] = {"caption": rec.caption, "references": rec.references}
        if self.prompt is not None:
            ex["prompt"] = self.prompt
        if self.features is not None:
            ex["features"] = np.array(self.features[self.row_of[rec.image]])
            return ex
        for k in range(len(self.records)):
            r = self.records[(i + k) % len(self.records)]
            try:
                ex["pixel_values"] = self.preprocess([_open_image(r.image)])[0]
                if k:
                    ex.update(caption=r.caption, references=r.references)
                return ex
            except Exception:
                self.late_failures += 1
        raise DataError("no readable image left in the dataset")

    def unique_images(self) -> list[tuple[str, list[str]]]:
        """Each distinct image once with its reference captions (for caption metrics)."""
        refs: dict[str, list[str]] = {}
        for r in self.records:
            refs.setdefault(r.image, r.references)
        return sorted(refs.items())


class TextPairDataset:
    """Prompt / completion pairs for LoRA or prefix tuning of the LM.

    Example:
        >>> TextPairDataset([("Q: 2+2?", " 4")])[0]
        {'prompt': 'Q: 2+2?', 'completion': ' 4'}
    """

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, str]:
        p, c = self.pairs[i]
        return {"prompt": p, "completion": c}
