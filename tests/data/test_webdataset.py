"""WebDataset tar shards (img2dataset's layout) as data for graph runs, evaluation and training:
streamed, brace patterns, corrupt samples reported and counted, images read from their shard."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from socratic.cli import main
from socratic.datasets import iter_records
from socratic.errors import DataError
from socratic.webdata import expand_shards, read_member


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_shards(root: Path, n_shards: int = 2, per: int = 3) -> list[dict]:
    """Shards like img2dataset writes: KEY.jpg + KEY.txt + KEY.json; one sample per shard broken."""
    truth = []
    root.mkdir(parents=True, exist_ok=True)
    colours = ["red", "green", "blue", "yellow", "white", "black"]
    for s in range(n_shards):
        with tarfile.open(root / f"{s:05d}.tar", "w") as tar:
            for i in range(per):
                key = f"{s:05d}{i:04d}"
                colour = colours[(s * per + i) % len(colours)]
                buf = io.BytesIO()
                Image.new("RGB", (24, 16), colour).save(buf, format="JPEG")
                _add(tar, f"{key}.jpg", buf.getvalue())
                _add(tar, f"{key}.txt", f"a {colour} picture".encode())
                _add(tar, f"{key}.json", json.dumps({"url": f"http://x/{key}", "width": 24}).encode())
                truth.append({"key": key, "colour": colour, "shard": s})
            _add(tar, f"{s:05d}9999.txt", b"a caption without its image")  # corrupt sample
    return truth


def test_shards_stream_with_references_and_reported_corrupt_samples(tmp_path):
    truth = write_shards(tmp_path / "shards")
    rows = list(iter_records(tmp_path / "shards" / "{00000..00001}.tar", errors="yield"))
    good = [r for r in rows if not isinstance(r, DataError)]
    bad = [r for r in rows if isinstance(r, DataError)]
    assert [r["key"] for r in good] == [t["key"] for t in truth]
    assert len(bad) == 2 and "has no image" in str(bad[0]) and "00000.tar" in str(bad[0])
    assert good[0]["caption"] == "a red picture" and good[0]["meta"]["url"].endswith(good[0]["key"])
    assert good[0]["image"].endswith("00000.tar#000000000.jpg")
    pixel = Image.open(io.BytesIO(read_member(good[1]["image"]))).convert("RGB").getpixel((5, 5))
    assert pixel[1] > 100 and pixel[0] < 60 and pixel[2] < 60  # the green sample
    with pytest.raises(DataError, match="shard not found"):
        list(iter_records(tmp_path / "shards" / "{00000..00005}.tar"))
    assert expand_shards("s/{a,b}-{08..10}.tar") == [
        "s/a-08.tar", "s/a-09.tar", "s/a-10.tar", "s/b-08.tar", "s/b-09.tar", "s/b-10.tar"]


def test_a_graph_runs_over_shards(tmp_path, capsys):
    truth = write_shards(tmp_path / "shards")
    graph = tmp_path / "g.yaml"
    graph.write_text("inputs: {image: image}\nnodes:\n"
                     "  size: {type: filter.image, image: '${inputs.image}', min_side: 8}\n"
                     "outputs: {w: '${size.width}', h: '${size.height}'}\n")
    out = tmp_path / "out.jsonl"
    code = main(["run", str(graph), "--data", str(tmp_path / "shards" / "{00000..00001}.tar"),
                 "--out", str(out), "--no-progress"])
    assert code == 1  # the two corrupt samples are error rows; the others ran
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    done = [r for r in recs if "outputs" in r]
    assert [r["key"] for r in done] == [t["key"] for t in truth]
    assert all(r["outputs"] == {"w": 24, "h": 16} and r["caption"].startswith("a ") for r in done)
    assert sum("has no image" in r.get("error", "") for r in recs) == 2
    assert "error: 1 x" in capsys.readouterr().err


def test_training_reads_shards(tmp_path):
    from socratic.adapters.data import CaptionDataset, check_images, read_captions

    truth = write_shards(tmp_path / "shards", n_shards=1, per=4)
    with pytest.raises(DataError, match="has no image"):
        read_captions(str(tmp_path / "shards" / "00000.tar"))  # training refuses broken data
    good = tmp_path / "good"
    with tarfile.open(tmp_path / "shards" / "00000.tar") as src, tarfile.open(good.with_suffix(".tar"), "w") as dst:
        for m in src:
            if "9999" not in m.name:
                dst.addfile(m, src.extractfile(m))
    records = read_captions(str(good.with_suffix(".tar")))
    ok, report = check_images(records)
    assert len(ok) == 4 and report.skipped == 0 and records[0].caption == "a red picture"
    item = CaptionDataset(ok, preprocess=lambda ims: [__import__("numpy").asarray(im) for im in ims])[1]
    assert item["caption"] == f"a {truth[1]['colour']} picture" and item["pixel_values"].shape == (16, 24, 3)
