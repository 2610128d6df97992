"""Kill and resume at scale: ``socratic run --engine ray`` joins the test cluster from its own
process, is killed (SIGKILL) in the middle of the run, and run again with the same ``--out``:
every row ends up in the output exactly once, none lost, none twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from socratic.results import read_results
from socratic.testing import FakeOpenAIServer

ROWS = 24

GRAPH = """
name: slow
inputs: {{text: str}}
models:
  llm:
    backend: openai
    model: tiny
    base_url: {url}
    max_concurrency: 1
    cache: false
    resources: {{batch_size: 2}}
nodes:
  answer: {{type: llm.generate, model: llm, template: "{{{{ t }}}}", t: "${{inputs.text}}"}}
outputs: {{answer: "${{answer.text}}"}}
"""


@pytest.fixture
def server():
    with FakeOpenAIServer(latency=0.1) as s:  # one answer at a time: about 2.4 s for the rows
        yield s


@pytest.fixture
def setup(tmp_path, server):
    graph = tmp_path / "slow.yaml"
    graph.write_text(GRAPH.format(url=server.base_url))
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"text": f"question {i}", "id": f"q{i}"}) + "\n" for i in range(ROWS)))
    return graph, data


def _command(graph, data, out, address):
    return [sys.executable, "-m", "socratic", "run", str(graph), "--data", str(data), "--out", str(out),
            "--engine", "ray", "--ray-address", address, "--id-column", "id", "--no-progress",
            "--rows-per-file", "4"]


def _kill_when(proc, ready, timeout=120.0):
    """SIGKILL the run once ``ready()`` says part of the output is written."""
    start = time.monotonic()
    while not ready():
        assert proc.poll() is None, f"the run ended before it could be killed:\n{proc.stderr.read()}"
        assert time.monotonic() - start < timeout, "no output appeared"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_killed_run_resumes_without_loss_or_duplicates(kind, ray_cluster, setup, tmp_path):
    graph, data = setup
    out = tmp_path / ("out.jsonl" if kind == "jsonl" else "out.parquet")
    address = ray_cluster.get_runtime_context().gcs_address
    proc = subprocess.Popen(_command(graph, data, out, address), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if kind == "jsonl":
        _kill_when(proc, lambda: out.exists() and out.read_text().count("\n") >= 6)
        partial = out.read_text().splitlines()
    else:
        _kill_when(proc, lambda: out.exists() and len(list(out.glob("part-*.parquet"))) >= 2)
        partial = read_results(out)
    assert 6 <= len(partial) < ROWS, "killed in the middle"
    again = subprocess.run(_command(graph, data, out, address), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    records = read_results(out)
    ids = [r["id"] for r in records]
    assert sorted(ids) == sorted(f"q{i}" for i in range(ROWS)), "every row exactly once"
    assert [r["index"] for r in records] == list(range(ROWS))
    assert all(r["outputs"]["answer"] == f"echo: question {r['index']}" for r in records)
    assert summary["rows"] == ROWS and summary["failed"] == 0
    assert summary["done"] + summary["skipped"] == ROWS and summary["skipped"] >= len(partial) - 2
    if kind == "jsonl":
        assert Path(out).read_text().splitlines() == [json.dumps(r, ensure_ascii=False) for r in records]
