"""The descriptor benchmark runs end to end on a tiny model and agrees with the direct script."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_clip_descriptors.py"


def test_bench_tiny_smoke(tmp_path, monkeypatch, capsys):
    import torch

    threads = torch.get_num_threads()
    spec = importlib.util.spec_from_file_location("bench_clip_descriptors", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "rows.json"
    try:
        rc = bench.main(["--arch", "tiny", "--images", "4", "--classes", "3", "--batch-size", "4",
                         "--repeats", "1", "--json", str(out)])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    rows = json.loads(out.read_text())
    assert [r["variant"] for r in rows] == ["direct", "ours", "ours+disk (cold)"]
    assert all(r["identical_predictions"] and r["max_abs_score_diff"] < 1e-5 for r in rows)
    assert "torch threads 2" in capsys.readouterr().out
