"""Edge cases found in review: each one failed (or hung) before its fix."""

from __future__ import annotations

import asyncio
import json
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
    with pytest.raises(GraphError, match="absolute paths and '..' are refused"):
        load_prompt("/etc/passwd")
    with pytest.raises(GraphError, match="must name a .j2 file"):
        load_prompt("sub/passwd")


def test_template_paths_stay_inside_prompt_folders(tmp_path):
    from socratic.prompt import load_prompt

    folder = tmp_path / "prompts"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "ok.j2").write_text("fine {{ x }}")
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (folder / "pw.j2").symlink_to(secret)
    assert load_prompt("sub/ok.j2", [folder]).render({"x": 1}) == "fine 1"
    with pytest.raises(GraphError, match="resolves outside its prompt folder"):
        load_prompt("pw", [folder])
    for bad in ("../secret.j2", "/etc/passwd.j2", str(folder / "sub" / "ok.j2")):
        with pytest.raises(GraphError, match="refused"):
            load_prompt(bad, [folder])
    graph = ("prompts_dir: prompts\nnodes:\n  t: {type: text.template, prompt: pw}\n"
             "outputs: {o: '${t.output}'}\n")
    with pytest.raises(ValidationFailed, match="resolves outside its prompt folder"):
        load_graph_text(graph, "g.yaml", base_dir=str(tmp_path))


def test_exit_codes_come_from_the_error_class(tmp_path, capsys):
    g = tmp_path / "g.yaml"
    g.write_text(GRAPH.replace("inputs: {t: str}", "inputs: {t: str, image: image}").replace(
        "outputs: {o:", "outputs: {label:"))
    # a data error is bad usage: exit 2, and the message says so
    assert main(["eval", "classify", str(g), "--data", str(tmp_path / "nonexistent")]) == 2
    assert "nonexistent: cannot tell the format" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "nope.yaml")]) == 2
    assert main(["validate", str(g), "--set", "nodes.u.type=text.nope"]) == 2


@pytest.mark.parametrize("source", [
    "{{ ('a' * 1000000000)|length }}",          # folded at compile time without the limit
    "{{ 'a'|center(1000000000) }}",
    "{{ '%1000000000s' % 'x' }}",
    "{{ '{0:>{1}}'.format(1, 1000000000) }}",
    "{{ 'a'.ljust(10 ** 9) }}",
    "{{ [1, 2] * 100000000 }}",
    "{{ 7 ** 1000000 }}",
    "{{ 'ab'|replace('', 'x' * 999999) }}",
    "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",  # the rendered size
])
def test_templates_cannot_exhaust_memory(source, tmp_path):
    import tracemalloc

    graph = f"nodes:\n  t: {{type: text.template, template: {json.dumps(source)}}}\noutputs: {{o: '${{t.output}}'}}\n"
    tracemalloc.start()
    try:
        start = time.perf_counter()
        g = load_graph_text(graph, "g.yaml")  # compiling (validate) allocates nothing large
        with pytest.raises(NodeError, match="over the limit"):
            g.run()
        assert time.perf_counter() - start < 2.0
        assert tracemalloc.get_traced_memory()[1] < 50_000_000
    finally:
        tracemalloc.stop()


def test_alias_bombs_in_typed_defaults_fail_fast_and_small():
    import tracemalloc

    # anchors in untyped defaults, then a typed default made of them: 10**9 strings once expanded
    levels = "".join(f"  a{i}: {{type: any, default: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]}}\n"
                     for i in range(1, 9))
    deep = "list[" * 9 + "str" + "]" * 9
    text = ("inputs:\n  a0: {type: any, default: &b0 [x, x, x, x, x, x, x, x, x, x]}\n" + levels +
            f"  big: {{type: '{deep}', default: *b8}}\nnodes: {{}}\n")
    assert len(text) < 1500
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ValidationFailed, match="expands to more than 100,000 elements"):
        load_graph_text(text, "bomb.yaml")
    assert time.perf_counter() - start < 0.5
    assert tracemalloc.get_traced_memory()[1] < 20_000_000
    tracemalloc.stop()
    from socratic.yaml_source import parse_override_value

    with pytest.raises(GraphError, match="expands to more than"):  # --set values too
        parse_override_value("[" + ", ".join(["&a [x, x, x, x, x, x, x, x, x, x]"] + ["*a"] * 20000) + "]")


def test_huge_echoed_values_are_cut(tmp_path, capsys):
    g = tmp_path / "g.yaml"
    g.write_text("nodes:\n  a: {type: " + "x" * 50_000_000 + "}\n")
    start = time.perf_counter()
    assert main(["validate", str(g)]) == 2
    err = capsys.readouterr().err
    assert time.perf_counter() - start < 10 and len(err) < 2000
    assert "unknown node type 'xxxx" in err and "more characters" in err


BLOCKED = """
import sys
for name in {names!r}:
    sys.modules[name] = None  # as if the extra were not installed
from socratic.cli import main
raise SystemExit(main({argv!r}))
"""


@pytest.mark.parametrize(("names", "argv", "extra"), [
    (["open_clip"], ["run", "GRAPH", "-i", "image=IMAGE"], "vision"),
    (["peft"], ["train", "LORA"], "train"),
    (["accelerate"], ["train", "LORA"], "train"),
    (["matplotlib"], ["demo", "--quick", "--out", "OUT"], "plots"),
])
def test_a_missing_extra_is_named_at_once(names, argv, extra, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from PIL import Image

    root = Path(__file__).resolve().parents[2]
    graph = tmp_path / "g.yaml"
    graph.write_text("inputs: {image: image}\nmodels:\n  clip: {backend: open_clip, model: ViT-B-32}\n"
                     "nodes:\n  e: {type: clip.embed_image, model: clip, image: '${inputs.image}'}\n"
                     "outputs: {e: '${e.embedding}'}\n")
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    lora = root / "examples" / "train_lora.yaml"
    places = {"GRAPH": str(graph), "IMAGE": str(tmp_path / "x.png"), "LORA": str(lora),
              "OUT": str(tmp_path / "demo")}
    for key, value in places.items():
        argv = [a.replace(key, value) for a in argv]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", BLOCKED.format(names=names, argv=argv)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert f"needs the '{extra}' extra: pip install 'socratic-vl[{extra}]'" in proc.stderr
    assert f"No module named '{names[0]}'" in proc.stderr and "Traceback" not in proc.stderr
    assert time.perf_counter() - start < 60 and not (tmp_path / "demo").exists()  # before any work
