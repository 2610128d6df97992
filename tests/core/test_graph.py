import asyncio
import time
from typing import Optional

import pytest

from socratic import Const, Graph, GraphError, InputError, NodeError, ValidationFailed, node
from socratic.node import Node

from .helpers import BatchLen, Sleep, add, fail_on, length, split, upper


def make_chain() -> Graph:
    g = Graph("chain")
    g.add_input("text", str)
    g.add("up", upper, text="inputs.text")
    g.add("len", length, text="up.output")
    g.add_output("upper", "up.output")
    g.add_output("n", "len.output")
    return g


def test_run_and_arun_give_outputs():
    g = make_chain()
    assert g.run(text="abc") == {"upper": "ABC", "n": 3}
    assert asyncio.run(g.arun(text="xy")) == {"upper": "XY", "n": 2}


def test_connect_checks_types_at_once_naming_both_sockets():
    g = make_chain()
    g.add("plus", add, a="len.output")  # int -> float is fine
    with pytest.raises(GraphError) as err:
        g.connect("up.output", "plus.b")
    msg = str(err.value)
    assert "${up.output} is str" in msg and "'plus.b' expects float" in msg
    # the failed connection left nothing behind
    assert "b" not in g.nodes["plus"].bindings


def test_no_implicit_list_to_scalar_and_for_each_hint():
    g = Graph()
    g.add_input("words", list[str])
    with pytest.raises(GraphError, match="list\\[str\\].*expects str.*use for_each"):
        g.add("up", upper, text="inputs.words")
    g.add("up", upper, for_each={"text": "inputs.words"})
    g.add_output("out", "up.output")
    assert g.output_types == {"out": list[str]}
    assert g.run(words=["a", "b"]) == {"out": ["A", "B"]}


def test_for_each_needs_a_list_and_matching_items():
    g = Graph()
    g.add_input("word", str)
    g.add_input("nums", list[int])
    with pytest.raises(GraphError, match="for_each needs a list"):
        g.add("up", upper, for_each={"text": "inputs.word"})
    with pytest.raises(GraphError, match="gives int items but 'up.text' expects str"):
        g.add("up", upper, for_each={"text": "inputs.nums"})


def test_optional_and_union_sockets():
    @node(register=False)
    def maybe(x: Optional[str] = None) -> str:  # noqa: UP045
        return x or "none"

    g = Graph()
    g.add_input("s", str)
    g.add("m", maybe, x="inputs.s")
    g.add_output("o", "m.output")
    assert g.run(s="q") == {"o": "q"}
    g2 = Graph()
    g2.add_input("s", Optional[str])  # noqa: UP045
    with pytest.raises(GraphError, match="optional\\[str\\] but 'u.text' expects str"):
        g2.add("u", upper, text="inputs.s")


def test_unknown_references_suggest_names():
    g = make_chain()
    with pytest.raises(GraphError, match="no node named 'upp' \\(did you mean 'up'\\?\\)"):
        g.add("x", upper, text="upp.output")
    with pytest.raises(GraphError, match="has no output 'outptu' \\(did you mean 'output'\\?\\)"):
        g.add("x", upper, text="up.outptu")
    with pytest.raises(GraphError, match="unknown graph input 'txt'"):
        g.add("x", upper, text="inputs.txt")
    with pytest.raises(GraphError, match="has no input 'txt'"):
        g.add("x", upper, txt="inputs.text")


def test_cycles_are_refused_naming_the_nodes():
    g = Graph()
    g.add_input("t", str)
    g.add("a", fail_on, text="inputs.t")
    g.add("b", fail_on, text="a.output")
    with pytest.raises(GraphError, match="cycle: a -> b -> a"):
        g.connect("b.output", "a.bad")


def test_validate_reports_every_problem():
    g = Graph()
    g.add_input("t", str)
    g.add("a", upper)  # required 'text' unbound
    g.add("b", add)  # required 'a' unbound
    g.outputs["x"] = __import__("socratic").Ref("nope", "output")
    errors = g.validate()
    text = "\n".join(map(str, errors))
    assert "node 'a': required input 'text' (str) has no source" in text
    assert "node 'b': required input 'a' (float) has no source" in text
    assert "output 'x'" in text and "no node named 'nope'" in text
    with pytest.raises(ValidationFailed):
        g.run(t="x")


def test_missing_and_bad_inputs_at_run_time():
    g = make_chain()
    with pytest.raises(InputError, match="missing required input 'text' \\(str\\)"):
        g.run()
    with pytest.raises(InputError, match="input 'text' expects str, got int 5"):
        g.run(text=5)
    with pytest.raises(InputError, match="unknown input 'txt'"):
        g.run(txt="a")


def test_defaults_and_constants():
    g = Graph()
    g.add_input("a", float, default=2)
    g.add("p", add, a="inputs.a", b=Const(10))
    g.add_output("o", "p.output")
    assert g.run() == {"o": 12.0}
    with pytest.raises(GraphError, match="'p.b' expects float, got str"):
        g.set_constant("p", "b", "ten")


def test_node_errors_name_the_node_and_item():
    g = Graph()
    g.add_input("words", list[str])
    g.add("f", fail_on, for_each={"text": "inputs.words"})
    g.add_output("o", "f.output")
    with pytest.raises(NodeError, match="node 'f' \\(for_each item 1\\) failed: ValueError: refusing 'bad'"):
        g.run(words=["ok", "bad"])


def test_independent_async_nodes_run_concurrently():
    Sleep.peak = 0
    g = Graph()
    g.add_input("t", str)
    for i in range(8):
        g.add(f"s{i}", Sleep(0.1), text="inputs.t")
        g.add_output(f"o{i}", f"s{i}.output")
    start = time.perf_counter()
    out = g.run(t="x")
    assert time.perf_counter() - start < 0.5  # 8 x 0.1 s sequentially would be 0.8 s
    assert out["o7"] == "x" and Sleep.peak == 8


def test_run_many_isolates_failures_and_keeps_order():
    g = Graph()
    g.add_input("t", str)
    g.add("f", fail_on, text="inputs.t")
    g.add("s", Sleep(0.01), text="f.output")
    g.add_output("o", "s.output")
    rows = [{"t": "a"}, {"t": "bad"}, {"t": "c"}, {"x": 1}, {"t": "d", "x": 1}]
    res = g.run_many(rows, concurrency=2)
    assert res[0] == {"outputs": {"o": "a"}}
    assert res[1]["node"] == "f" and "refusing 'bad'" in res[1]["error"]
    assert res[2] == {"outputs": {"o": "c"}}
    assert "missing required input 't'" in res[3]["error"]  # only missing inputs are row errors
    assert res[4] == {"outputs": {"o": "d"}}  # an extra key is not an error


def test_run_many_respects_concurrency():
    Sleep.peak = 0
    g = Graph()
    g.add_input("t", str)
    g.add("s", Sleep(0.02), text="inputs.t")
    g.add_output("o", "s.output")
    g.run_many([{"t": str(i)} for i in range(20)], concurrency=3)
    assert Sleep.peak == 3


def test_batchable_nodes_batch_across_rows_and_items():
    b = BatchLen()
    g = Graph()
    g.add_input("t", str)
    g.add("up", upper, text="inputs.t")
    g.add("b", b, text="up.output")
    g.add_output("o", "b.output")
    rows = [{"t": "x" * i} for i in range(1, 33)]
    res = g.run_many(rows, concurrency=32)
    assert [r["outputs"]["o"] for r in res] == [len(r["t"]) for r in rows]  # same as row by row
    assert max(b.batches) > 1 and len(b.batches) < len(rows)
    # for_each items of a single run also go as one batch
    b2 = BatchLen()
    g2 = Graph()
    g2.add_input("t", str)
    g2.add("w", split, text="inputs.t")
    g2.add("b", b2, for_each={"text": "w.output"})
    g2.add_output("o", "b.output")
    assert g2.run(t="a bb ccc") == {"o": [1, 2, 3]}
    assert b2.batches == [3]


def test_a_failing_batch_fails_only_its_bad_row():
    b = BatchLen()
    g = Graph()
    g.add_input("t", str)
    g.add("b", b, text="inputs.t")
    g.add_output("o", "b.output")
    res = g.run_many([{"t": "aa"}, {"t": "boom"}, {"t": "ccc"}], concurrency=3)
    assert res[0] == {"outputs": {"o": 2}} and res[2] == {"outputs": {"o": 3}}
    assert "boom in batch" in res[1]["error"]


def test_node_must_return_declared_outputs():
    class Wrong(Node):
        outputs = {"a": str}

        def run(self, x: str) -> dict:
            return {"b": x}

    g = Graph()
    g.add_input("x", str)
    g.add("w", Wrong, x="inputs.x")
    g.add_output("a", "w.a")
    with pytest.raises(NodeError, match="node 'w' failed: KeyError: .*returned no output 'a'"):
        g.run(x="1")


def test_sockets_named_like_graph_methods_work():
    @node(register=False)
    def greet(name: str, node: str = "n") -> str:
        return f"{name}/{node}"

    g = Graph()
    g.add_input("name", str)
    g.add("g", greet, name="inputs.name", node=Const("z"))
    g.add_output("o", "g.output")
    assert g.run(name="ada") == {"o": "ada/z"}
