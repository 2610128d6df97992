"""The local and Ray engines are interchangeable: the same tests, on both, give the same result
records, error rows, pass-through columns, summary and resume behaviour."""

from __future__ import annotations

import json

import pytest

from socratic.results import read_results
from socratic.runner import LocalEngine, RowRunner
from socratic.spec import load_graph_text

from . import helpers  # noqa: F401  (registers test_ray.* nodes)

GRAPH = """
name: same
inputs:
  text: str
  times: {type: int, default: 1}
nodes:
  rev: {type: test_ray.explode, text: "${inputs.text}"}
  shout: {type: text.template, template: "{{ t | upper }}{{ '!' * n }}", t: "${rev.output}", n: "${inputs.times}"}
outputs:
  loud: ${shout.output}
  reversed: ${rev.output}
"""


@pytest.fixture(params=["local", "ray"])
def engine(request):
    return LocalEngine() if request.param == "local" else request.getfixturevalue("ray_engine")


@pytest.fixture
def graph():
    return load_graph_text(GRAPH)


def expected(text: str, times: int = 1) -> dict:
    return {"loud": text[::-1].upper() + "!" * times, "reversed": text[::-1]}


def write_jsonl(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_records_errors_and_pass_through(engine, graph, tmp_path):
    data = write_jsonl(tmp_path / "rows.jsonl", [
        {"text": "abc", "id": "a", "meta": {"k": [1, 2]}},
        {"text": "boom here", "id": "b"},                  # the node fails: an error row
        "{not json",                                       # a bad line: an error row
        "",                                                # a blank line: not a row
        {"text": "xy", "times": "3", "id": "c"},           # wrong type: an error row
        {"text": "ok", "id": "d", "index": 5},             # a reserved column name
        {"text": "hello", "times": 2, "id": "e"},
    ] + [{"text": f"row{i}", "id": f"r{i}"} for i in range(9)])
    out = tmp_path / "out.jsonl"
    summary = RowRunner(graph, engine=engine).run(data, out)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(15))  # input order, every row once
    assert records[0] == {"index": 0, "id": "a", "meta": {"k": [1, 2]}, "outputs": expected("abc")}
    assert records[1]["node"] == "rev" and "exploded on 'boom here'" in records[1]["error"]
    assert records[2]["error"].endswith("rows.jsonl:3: invalid JSON: Expecting property name enclosed in double quotes")
    assert records[3] == {"index": 3, "id": "c", "error": "input 'times' expects int, got str '3'"}
    assert "column 'index' has the name of a result field" in records[4]["error"]
    assert records[5] == {"index": 5, "id": "e", "outputs": expected("hello", 2)}
    assert records[14] == {"index": 14, "id": "r8", "outputs": expected("row8")}
    assert summary.as_dict() == {"rows": 15, "done": 11, "failed": 4, "skipped": 0}
    assert len(summary.report()) == 4


def test_csv_text_is_read_by_input_type(engine, graph, tmp_path):
    data = tmp_path / "rows.csv"
    data.write_text("text,times,id\nabc,2,1\nxy,lots,2\n")
    records = [json.loads(line) for line in _run(graph, engine, data, tmp_path / "o.jsonl").read_text().splitlines()]
    assert records[0] == {"index": 0, "id": "1", "outputs": expected("abc", 2)}
    assert records[1]["error"].startswith("column 'times'")


def test_parquet_folder_in_and_out_resumes_by_id(engine, graph, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "rows"
    folder.mkdir()
    texts = [f"t{i}" if i != 3 else "boom" for i in range(10)]
    pq.write_table(pa.table({"text": texts[:6], "id": list(range(6))}), folder / "a.parquet")
    pq.write_table(pa.table({"text": texts[6:], "id": list(range(6, 10))}), folder / "b.parquet")
    out = tmp_path / "results.parquet"
    first = RowRunner(graph, engine=engine, id_key="id").run(folder, out)
    assert first.as_dict() == {"rows": 10, "done": 9, "failed": 1, "skipped": 0}
    records = read_results(out)
    assert [r["id"] for r in records] == list(range(10))
    assert records[2]["outputs"] == expected("t2") and records[3]["node"] == "rev"
    # the failing row is fixed; a second run keeps the 9 finished rows and runs that one only
    pq.write_table(pa.table({"text": ["t0", "t1", "t2", "fixed", "t4", "t5"], "id": list(range(6))}),
                   folder / "a.parquet")
    again = RowRunner(graph, engine=engine, id_key="id").run(folder, out)
    assert again.as_dict() == {"rows": 10, "done": 1, "failed": 0, "skipped": 9}
    records = read_results(out)
    assert [r["id"] for r in records] == list(range(10)) and all("outputs" in r for r in records)
    assert records[3]["outputs"] == expected("fixed")


def test_in_memory_rows(engine, graph):
    rows = [{"text": "ab", "k": 1}, {"text": 5}, {"text": "boom"}, "not a mapping"]
    records = RowRunner(graph, engine=engine).collect(rows)
    assert records[0] == {"index": 0, "k": 1, "outputs": expected("ab")}
    assert records[1] == {"index": 1, "error": "input 'text' expects str, got int 5"}
    assert records[2]["node"] == "rev"
    assert records[3] == {"index": 3, "error": "a row must be a mapping, got str"}


def _run(graph, engine, data, out):
    RowRunner(graph, engine=engine).run(data, out)
    return out


def test_image_folder(engine, tmp_path):
    import shutil

    from .conftest import EXAMPLES

    root = tmp_path / "photos"
    images = sorted((EXAMPLES / "images").glob("*.jpg"))
    for i, path in enumerate(images):
        (root / ("b" if i % 2 else "a")).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / ("b" if i % 2 else "a") / path.name)
    (root / "a" / "broken.jpg").write_text("not an image")
    graph = load_graph_text("""
inputs: {image: image}
nodes:
  size: {type: test_ray.size, image: "${inputs.image}"}
outputs: {size: "${size.output}"}
""")
    records = read_results(_run(graph, engine, root, tmp_path / "o.jsonl"))
    assert [r["label"] for r in records] == ["a", "a", "a", "b", "b"]
    assert [r.get("outputs", {}).get("size") for r in records] == [[224, 224], None, [224, 149], [224, 149],
                                                                 [224, 149]]
    assert "broken.jpg" in records[1]["error"] and records[1]["node"] == "size"
