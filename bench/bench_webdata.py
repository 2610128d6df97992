"""WebDataset shards: socratic's tarfile reader vs the ``webdataset`` library, same rows.

Writes ``--shards`` img2dataset-style shards of ``--per-shard`` samples (64x64 JPEG + caption +
JSON), then reads every sample's key, caption and metadata with each reader (images are not
decoded by either: socratic keeps a reference, webdataset keeps the bytes), and reports rows/s
and the ratio. ``pip install webdataset`` for the comparison row.
``python bench/bench_webdata.py``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import tempfile
import time
from pathlib import Path


def write(root: Path, shards: int, per: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buf, format="JPEG")
    jpg = buf.getvalue()
    for s in range(shards):
        with tarfile.open(root / f"{s:05d}.tar", "w") as tar:
            for i in range(per):
                key = f"{s:05d}{i:05d}"
                for ext, data in ((".jpg", jpg), (".txt", f"caption {key}".encode()),
                                  (".json", json.dumps({"key": key}).encode())):
                    info = tarfile.TarInfo(key + ext)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return str(root / f"{{00000..{shards - 1:05d}}}.tar")


def ours(pattern: str) -> list[tuple[str, str]]:
    from socratic.datasets import iter_records

    return [(r["key"], r["caption"]) for r in iter_records(pattern)]  # type: ignore[index]


def library(pattern: str) -> list[tuple[str, str]]:
    import webdataset as wds

    return [(s["__key__"], s["txt"].decode()) for s in wds.WebDataset(pattern, shardshuffle=False)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--per-shard", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-wds-"))
    pattern = write(root, args.shards, args.per_shard)
    n = args.shards * args.per_shard
    rows = {}
    for name, fn in (("socratic (tarfile)", ours), ("webdataset 1.x", library)):
        try:
            best = min(_timed(fn, pattern)[0] for _ in range(args.repeats))
            rows[name] = (best, _timed(fn, pattern)[1])
        except ImportError:
            print(f"{name}: not installed", file=sys.stderr)
    print(f"{n} samples in {args.shards} shards (best of {args.repeats})")
    print(f"{'reader':<22}{'seconds':>10}{'rows/s':>12}")
    for name, (secs, _) in rows.items():
        print(f"{name:<22}{secs:>10.3f}{n / secs:>12.0f}")
    if len(rows) == 2:
        (a, ra), (b, rb) = rows.values()
        print(f"same rows: {ra == rb}; socratic / webdataset time ratio: {a / b:.2f}")
    return 0


def _timed(fn, pattern):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(pattern)
    return time.perf_counter() - start, out


if __name__ == "__main__":
    raise SystemExit(main())
