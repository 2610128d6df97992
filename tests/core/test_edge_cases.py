"""Edge cases found in review: each one failed (or hung) before its fix."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Optional

import pytest

from socratic import Graph, NodeError, ValidationFailed
from socratic.cli import main
from socratic.errors import GraphError, ModelLoadError
from socratic.models import ModelBackend
from socratic.node import Node
from socratic.spec import load_graph_text
from socratic.types import parse_cli_value
from socratic.yaml_source import load_yaml_text

GRAPH = "inputs: {t: str}\nnodes:\n  u: {type: text.template, template: '{{ x }}!', x: '${inputs.t}'}\noutputs: {o: '${u.output}'}\n"


def test_nested_aliases_do_not_blow_up_the_position_walk():
    lines = ["a0: &a0 [x, y, z, x, y, z, x, y, z]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    start = time.perf_counter()
    with pytest.raises(GraphError, match="expands to more than 100,000 elements") as exc:
        load_yaml_text("\n".join(lines) + "\n", "laughs.yaml")  # 9**9 values once expanded
    assert time.perf_counter() - start < 0.5
    assert str(exc.value).startswith("laughs.yaml:6:5: error:")
    doc = load_yaml_text("\n".join(lines[:4]) + "\n", "small.yaml")  # 9**4: fine
    assert len(doc.values) < 1000


def test_concurrency_must_be_positive(tmp_path, capsys):
    g = tmp_path / "g.yaml"
    g.write_text(GRAPH)
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"t": "a"}\n')
    with pytest.raises(SystemExit) as exc:  # argparse's usage error
        main(["run", str(g), "--data", str(rows), "--concurrency", "0"])
    assert exc.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_missing_data_file_and_out_without_data_are_usage_errors(tmp_path, capsys):
    g = tmp_path / "g.yaml"
    g.write_text(GRAPH)
    assert main(["run", str(g), "--data", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl: file not found" in capsys.readouterr().err
    assert main(["run", str(g), "-i", "t=a", "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "give --data too" in capsys.readouterr().err


class _Broken(ModelBackend):
    kind, backend = "clip", "broken-test"
    loads = 0

    def _load(self) -> Any:
        _Broken.loads += 1
        raise ModelLoadError("weights missing")


class _UsesModel(Node):
    outputs = {"y": int}
    batchable = True
    blocking = True
    calls: list[int] = []

    def __init__(self, model: Any) -> None:
        self.model = model

    def run(self, x: int) -> dict:
        return self.run_batch([{"x": x}])[0]

    def run_batch(self, calls: list[dict]) -> list:
        _UsesModel.calls.append(len(calls))
        self.model.resource()
        return [{"y": c["x"]} for c in calls]


def test_a_model_that_cannot_load_fails_every_row_once():
    _Broken.loads, _UsesModel.calls = 0, []
    g = Graph()
    g.add_input("x", int)
    g.add("n", _UsesModel(_Broken()), x="inputs.x")
    g.add_output("y", "n.y")
    res = g.run_many([{"x": i} for i in range(10)], concurrency=10)
    assert all("weights missing" in r["error"] for r in res)
    assert _Broken.loads == 1  # remembered, not retried per row
    assert sum(_UsesModel.calls) == 10  # no call retried one by one


def test_for_each_length_mismatch_names_the_node_for_async_nodes():
    class Pair(Node):
        outputs = {"o": str}

        async def arun(self, a: str, b: str) -> dict:
            return {"o": a + b}

    g = Graph()
    g.add_input("a", list[str])
    g.add_input("b", list[str])
    g.add("p", Pair, for_each={"a": "inputs.a", "b": "inputs.b"})
    g.add_output("o", "p.o")
    with pytest.raises(NodeError, match=r"node 'p' failed: ValueError: for_each lists have different lengths"):
        asyncio.run(g.arun(a=["x", "y"], b=["z"]))


def test_null_default_only_for_optional_types():
    with pytest.raises(ValidationFailed, match="default of input 's' expects list"):
        load_graph_text("inputs:\n  s: {type: 'list[str]', default: null}\nnodes: {}\n", "g.yaml")
    g = load_graph_text("inputs:\n  s: {type: 'optional[str]', default: null}\nnodes: {}\n", "g.yaml")
    assert g.inputs["s"].default is None


def test_bad_default_does_not_cascade_into_unknown_input_errors():
    with pytest.raises(ValidationFailed) as exc:
        load_graph_text(GRAPH.replace("{t: str}", "{t: {type: str, default: 5}}"), "g.yaml")
    assert len(exc.value.errors) == 1


def test_cli_text_that_looks_like_yaml_stays_text_for_str_types():
    assert parse_cli_value("true", Optional[str], what="x") == "true"  # noqa: UP045
    assert parse_cli_value("3", Optional[int], what="x") == 3  # noqa: UP045


def test_replay_record_source_is_checked_when_validating(tmp_path):
    text = ("models:\n  llm: {backend: replay, path: r.jsonl, mode: record, record_from: {backend: nope}}\n"
            "nodes:\n  a: {type: llm.generate, model: llm, template: hi}\n")
    with pytest.raises(ValidationFailed, match="unknown model backend 'nope'"):
        load_graph_text(text, "g.yaml")


def test_templates_cannot_include_or_read_arbitrary_files():
    from socratic.prompt import PromptTemplate, load_prompt

    with pytest.raises(GraphError, match="include / import / extends are not supported"):
        PromptTemplate.from_string("{% include 'x.j2' %}")
    with pytest.raises(GraphError, match="must name a .j2 file"):
        load_prompt("/etc/passwd")


def test_exit_codes_come_from_the_error_class(tmp_path, capsys):
    g = tmp_path / "g.yaml"
    g.write_text(GRAPH.replace("inputs: {t: str}", "inputs: {t: str, image: image}").replace(
        "outputs: {o:", "outputs: {label:"))
    # a data error is bad usage: exit 2, and the message says so
    assert main(["eval", "classify", str(g), "--data", str(tmp_path / "nonexistent")]) == 2
    assert "nonexistent: cannot tell the format" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "nope.yaml")]) == 2
    assert main(["validate", str(g), "--set", "nodes.u.type=text.nope"]) == 2
