"""Traces: one span per row, node and model call (cache hits, retries, batches, errors), as JSONL
from `run --trace` and the Python API; the Ray engine is refused; OpenTelemetry gets the same spans."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from socratic.cli import main
from socratic.trace import JsonlSink, TracedPlan, tracing


def _spans(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_trace_records_rows_nodes_and_model_calls(two_step, cache_dir, server, capsys):
    trace = two_step.parent / "trace.jsonl"
    argv = ["run", str(two_step), "--data", str(two_step.parent / "rows.jsonl"), "--cache-dir", cache_dir,
            "--out", str(two_step.parent / "out.jsonl"), "--trace", str(trace), "--no-progress"]
    assert main(argv) == 0
    spans = _spans(trace)
    by_kind = {k: [s for s in spans if s["kind"] == k] for k in ("row", "node", "model", "run")}
    assert sorted(s["row"] for s in by_kind["row"]) == [0, 1, 2]
    assert len(by_kind["node"]) == 9 and len(by_kind["model"]) == 6
    ids = {s["span"]: s for s in spans}
    for m in by_kind["model"]:  # model call -> its node -> its row
        node = ids[m["parent"]]
        assert node["kind"] == "node" and node["name"] == m["node"] and ids[node["parent"]]["kind"] == "row"
        assert m["requests"] == 1 and m["cache_hit"] is False and m["backend"] == "openai"
        assert m["completion_tokens"] > 0 and m["prompt_tokens"] > 0
    asks = sorted((m["row"], m["prompt"], m["answer"]) for m in by_kind["model"] if m["node"] == "ask")
    assert asks[0] == (0, "user: Say Q: one", "echo: Say Q: one")
    assert len(server.bodies) == 6
    assert by_kind["run"][0]["rows"] == 3 and by_kind["run"][0]["name"] == "two-step"
    # the same run again: every model call is a cache hit, nothing is sent
    trace.unlink()
    (two_step.parent / "out.jsonl").unlink()
    assert main(argv) == 0
    again = [s for s in _spans(trace) if s["kind"] == "model"]
    assert len(again) == 6 and all(s["cache_hit"] and s["requests"] == 0 for s in again)
    assert {s["cache_hits"] for s in again} == {1, 2}  # n=2 on the second node
    assert len(server.bodies) == 6


def test_retries_and_errors_are_on_the_spans(two_step, cache_dir, server):
    from socratic.spec import load_graph
    from socratic.testing import Fault

    server.push(Fault.status(500), Fault.status(400, message="bad request"))
    graph = load_graph(two_step)
    buf = io.StringIO()
    with tracing(JsonlSink(buf)):
        records = graph.run_many([{"text": "x"}], concurrency=1)
    assert "error" in records[0]
    spans = [json.loads(x) for x in buf.getvalue().splitlines()]
    model = next(s for s in spans if s["kind"] == "model")
    assert model["retries"] == 1 and model["status"] == "error" and "bad request" in model["error"]
    row = next(s for s in spans if s["kind"] == "row")
    assert row["status"] == "error" and row["node"] == "ask"


def test_batched_models_get_batch_spans(tmp_path):
    from PIL import Image

    from socratic.spec import load_graph_text
    from socratic.testing import make_tiny_open_clip

    clip = make_tiny_open_clip(tmp_path / "clip")
    images = []
    for i, color in enumerate(["red", "blue", "green", "yellow", "white"]):
        Image.new("RGB", (32, 32), color).save(tmp_path / f"{i}.png")
        images.append({"image": str(tmp_path / f"{i}.png")})
    graph = load_graph_text(f"""
inputs: {{image: image}}
models: {{clip: {{backend: open_clip, model: "{clip.local_dir}"}}}}
nodes:
  c: {{type: clip.classify, model: clip, image: "${{inputs.image}}", classes: [red, blue]}}
outputs: {{label: "${{c.label}}"}}
""")
    buf = io.StringIO()
    with tracing(JsonlSink(buf)):
        assert all("outputs" in r for r in graph.run_many(images, concurrency=8))
    spans = [json.loads(x) for x in buf.getvalue().splitlines()]
    batches = [s for s in spans if s["kind"] == "batch"]
    calls = [s for s in spans if s["kind"] == "model"]
    assert len(calls) == 5 and sum(b["size"] for b in batches) == 5 and len(batches) < 5
    assert {c["batch"] for c in calls} == {b["span"] for b in batches}
    assert all(c["batch_size"] == next(b["size"] for b in batches if b["span"] == c["batch"]) for c in calls)
    assert all(b["parent"] is None for b in batches)


def test_untraced_runs_use_the_plain_plan(two_step):
    """Off, nothing of the tracer is in the way: the engine runs graph.plan() itself."""
    from socratic.scheduler import Plan
    from socratic.spec import load_graph
    from socratic.trace import Tracer, current

    graph = load_graph(two_step)
    assert current() is None and type(graph.plan()) is Plan
    traced = Tracer().plan(graph)
    assert isinstance(traced, TracedPlan) and traced.steps is graph.plan().steps


def test_trace_is_refused_with_ray(two_step, capsys):
    code = main(["run", str(two_step), "--data", str(two_step.parent / "rows.jsonl"), "--engine", "ray",
                 "--trace", "t.jsonl"])
    assert code == 2 and "--engine ray is not traced" in capsys.readouterr().err


def test_single_run_is_traced_as_row_zero(two_step, cache_dir, capsys):
    trace = two_step.parent / "one.jsonl"
    assert main(["run", str(two_step), "-i", "text=hello", "--cache-dir", cache_dir, "--trace", str(trace)]) == 0
    spans = _spans(trace)
    assert [s["kind"] for s in spans].count("row") == 1 and spans[-1]["kind"] == "run"
    assert spans[-1]["rows"] == 1
    assert {s["row"] for s in spans if s["kind"] in ("node", "model")} == {0}


def test_opentelemetry_gets_the_same_spans(two_step, cache_dir):
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from socratic.spec import load_graph
    from socratic.trace import OtelSink

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    buf = io.StringIO()
    with tracing(JsonlSink(buf), otel=False) as tracer:
        tracer.sinks.append(OtelSink(provider))
        load_graph(two_step).run_many([{"text": "a"}, {"text": "b"}])
    ours = [json.loads(x) for x in buf.getvalue().splitlines()]
    theirs = exporter.get_finished_spans()
    assert sorted(s.name for s in theirs) == sorted(f"{s['kind']} {s['name']}" for s in ours)
    model = next(s for s in theirs if s.name.startswith("model"))
    node = next(s for s in theirs if s.context.span_id == model.parent.span_id)
    assert node.name.startswith("node ") and model.attributes["socratic.requests"] == 1
