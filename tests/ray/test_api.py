"""The Python API: a graph over any ``ray.data.Dataset`` gives a dataset of result rows."""

from __future__ import annotations

import json

import pyarrow as pa
import ray

from socratic.engines import read_rows, run_dataset
from socratic.results import table_to_records
from socratic.spec import load_graph_text

from . import helpers  # noqa: F401

GRAPH = """
inputs: {text: str}
nodes:
  rev: {type: test_ray.explode, text: "${inputs.text}"}
outputs: {reversed: "${rev.output}"}
"""


def test_run_dataset_over_any_dataset(ray_engine):
    graph = load_graph_text(GRAPH)
    ds = ray.data.from_items([{"text": "abc", "id": 1}, {"text": "boom", "id": 2}])
    rows = sorted(run_dataset(graph, ds, engine=ray_engine).take_all(), key=lambda r: r["id"])
    assert rows[0] == {"id": 1, "outputs": json.dumps({"reversed": "cba"}), "error": None, "node": None,
                       "dropped": None}
    assert rows[1]["id"] == 2 and rows[1]["node"] == "rev" and rows[1]["outputs"] is None


def test_run_dataset_over_rows_read_the_socratic_way(ray_engine, tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text('{"text": "abc", "k": "x"}\n{oops\n{"text": "de", "k": "y"}\n')
    graph = load_graph_text(GRAPH)
    rows = run_dataset(graph, read_rows(data, rows_per_part=2), engine=ray_engine).take_all()
    records = sorted(table_to_records(pa.Table.from_pylist(rows)), key=lambda r: r["index"])
    assert records[0] == {"index": 0, "k": "x", "outputs": {"reversed": "cba"}}
    assert records[1]["index"] == 1 and records[1]["error"].endswith("rows.jsonl:2: invalid JSON:"
                                                                      " Expecting property name enclosed in double quotes")
    assert records[2] == {"index": 2, "k": "y", "outputs": {"reversed": "ed"}}
