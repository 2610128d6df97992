import json
import os
import subprocess
import sys
import textwrap

import pytest

GRAPH = textwrap.dedent(
    """\
    name: greet
    inputs:
      name: str
      times: {type: int, default: 2}
      tags:
        type: list[str]
        default: [a, b]
    nodes:
      hello:
        type: text.template
        template: "{{ name }}{% for _ in range(times) %}!{% endfor %}"
        name: ${inputs.name}
        times: ${inputs.times}
      joined:
        type: text.join
        items: ${inputs.tags}
        separator: "+"
    outputs:
      text: ${hello.output}
      tags: ${joined.output}
    """
)


def socratic(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "socratic.cli", *args],
        capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})}, timeout=120,
    )


@pytest.fixture
def graph_file(tmp_path):
    p = tmp_path / "greet.yaml"
    p.write_text(GRAPH)
    return p


def test_run_prints_outputs_as_json(graph_file):
    r = socratic("run", str(graph_file), "-i", "name=Ada", "-i", "tags=[x, y]")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"text": "Ada!!", "tags": "x+y"}


def test_run_with_inputs_file_and_set_override(graph_file, tmp_path):
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps({"name": "Bo", "times": 1}))
    r = socratic("run", str(graph_file), "--inputs", str(inputs), "--set", "nodes.joined.separator=-")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"text": "Bo!", "tags": "a-b"}
    r = socratic("run", str(graph_file), "--inputs", str(inputs), "--set", "nodes.joined.separator=[1]")
    assert r.returncode == 2
    assert r.stderr.startswith("--set nodes.joined.separator: error: node 'joined': option 'separator'")


def test_bad_input_value_is_exit_2_without_traceback(graph_file):
    r = socratic("run", str(graph_file), "-i", "name=Ada", "-i", "times=three")
    assert r.returncode == 2
    assert r.stderr.strip() == "error: -i times expects int, got str 'three'"
    r = socratic("run", str(graph_file))
    assert r.returncode == 2
    assert "missing required input 'name' (str)" in r.stderr and "Traceback" not in r.stderr
    r = socratic("run", str(graph_file), "-i", "nam=x")
    assert r.returncode == 2 and "has no input 'nam'" in r.stderr


def test_validate_ok_and_errors_with_locations(graph_file, tmp_path):
    r = socratic("validate", str(graph_file))
    assert r.returncode == 0 and "ok (2 nodes, 2 outputs)" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(GRAPH.replace("${inputs.times}", "${inputs.tims}").replace("text.join", "text.jion"))
    r = socratic("validate", str(bad), str(graph_file))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"{bad}:13:12: error: input 'hello.times': ${{inputs.tims}} refers to an unknown graph input"
        " 'tims' (did you mean 'times'?); inputs: name, times, tags",
        f"{bad}:15:11: error: node 'joined': unknown node type 'text.jion' (did you mean 'text.join'?)",
    ]
    assert f"{graph_file}: ok" in r.stdout  # the other file is still checked
    assert "Traceback" not in r.stderr


def test_malformed_yaml_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("nodes:\n  a: [unclosed\n")
    r = socratic("validate", str(bad))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"{bad}:3:1: error: YAML syntax")


def test_runtime_failure_is_exit_1_with_a_clear_message(tmp_path):
    g = tmp_path / "fail.yaml"
    g.write_text("inputs: {t: str}\nnodes:\n  p: {type: text.parse, parse: number, text: '${inputs.t}'}\n"
                 "outputs: {n: '${p.output}'}\n")
    r = socratic("run", str(g), "-i", "t=no digits")
    assert r.returncode == 1
    assert r.stderr.startswith("error: node 'p' failed: could not parse answer as number")
    assert "Traceback" not in r.stderr
    r = socratic("run", str(g), "-i", "t=no digits", "--debug")
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_show_formats(graph_file):
    r = socratic("show", str(graph_file), "--format", "json")
    info = json.loads(r.stdout)
    assert info["inputs"]["name"] == {"type": "str", "required": True}
    assert info["outputs"] == {"text": "str", "tags": "str"}
    assert info["nodes"]["joined"]["inputs"] == {"items": "list[str]"}
    for fmt, needle in [("mermaid", "flowchart LR"), ("dot", "digraph"), ("text", "in  items: list[str]")]:
        r = socratic("show", str(graph_file), "--format", fmt)
        assert r.returncode == 0 and needle in r.stdout
    r = socratic("show", str(graph_file), "--format", "yaml")
    assert "type: text.join" in r.stdout


def test_nodes_lists_types_with_sockets():
    r = socratic("nodes", "--format", "json")
    types = {n["type"]: n for n in json.loads(r.stdout)}
    assert types["text.join"]["inputs"] == {"items": "list[str]"}
    assert types["vote.majority"]["outputs"]["votes"] == "dict[str, int]"


def test_dataset_run_streams_and_resumes(graph_file, tmp_path):
    data = tmp_path / "rows.jsonl"
    rows = [json.dumps({"name": f"n{i}", "_id": f"id{i}"}) for i in range(8)]
    rows.insert(3, "{not json")
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out.jsonl"
    r = socratic("run", str(graph_file), "--data", str(data), "--out", str(out), "--no-progress")
    assert r.returncode == 1  # one row failed
    summary = json.loads(r.stdout)
    assert summary == {"rows": 9, "done": 8, "failed": 1, "skipped": 0}
    assert f"error: 1 x {data}:4: invalid JSON" in r.stderr  # the summary says why
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    by_index = {rec["index"]: rec for rec in recs}
    assert "invalid JSON" in by_index[3]["error"] and by_index[3]["error"].startswith(f"{data}:4:")
    assert by_index[0] == {"index": 0, "_id": "id0", "outputs": {"text": "n0!!", "tags": "a+b"}}
    assert [rec["index"] for rec in recs] == list(range(9))  # output line i is input row i
    # simulate a killed run: keep 4 finished lines and half of the next one
    lines = out.read_text().splitlines(keepends=True)
    good = [x for x in lines if "outputs" in x][:4]
    out.write_text("".join(good) + lines[-1][:10])
    r = socratic("run", str(graph_file), "--data", str(data), "--out", str(out), "--no-progress")
    summary = json.loads(r.stdout)
    assert summary["skipped"] == 4 and summary["done"] == 4 and summary["failed"] == 1
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    done = [rec["index"] for rec in recs if "outputs" in rec]
    assert done == [0, 1, 2, 4, 5, 6, 7, 8]  # each once, in row order after the resumed run


def test_cache_stats_and_clear(tmp_path):
    from socratic.cache import Cache

    c = Cache(tmp_path)
    c.put("llm", "k1", {"text": "a"})
    c.put("text-embedding", "k2", [0.1])
    c.close()
    r = socratic("cache", "stats", "--cache-dir", str(tmp_path))
    stats = json.loads(r.stdout)
    assert stats["entries"] == 2 and stats["namespaces"] == {"llm": 1, "text-embedding": 1}
    r = socratic("cache", "clear", "--cache-dir", str(tmp_path))
    assert r.returncode == 0 and "removed 2 entries" in r.stdout


def test_help_and_validate_do_not_import_heavy_libraries(graph_file):
    code = textwrap.dedent(
        f"""
        import sys
        from socratic.cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        assert main(["validate", {str(graph_file)!r}]) == 0
        heavy = [m for m in ("torch", "transformers", "open_clip", "openai", "langchain_core")
                 if m in sys.modules]
        print("HEAVY", heavy)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in r.stdout, r.stdout + r.stderr


def test_no_command_is_usage_error():
    r = socratic()
    assert r.returncode == 2
    r = socratic("run")
    assert r.returncode == 2 and "error: the following arguments are required: graph" in r.stderr


def test_validate_also_checks_training_configs(tmp_path):
    from pathlib import Path

    good = Path(__file__).resolve().parents[2] / "examples" / "train_clipcap.yaml"
    r = socratic("validate", str(good))
    assert r.returncode == 0 and "ok (training config, task bridge)" in r.stdout
    bad = tmp_path / "train_bad.yaml"
    bad.write_text(good.read_text().replace("max_steps:", "max_stepz:"))
    r = socratic("validate", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = bad.read_text().splitlines().index("  max_stepz: 300") + 1
    assert r.stderr.strip() == (f"{bad}:{line}:3: error: unknown key 'train.max_stepz'"
                                " (did you mean 'max_steps'?)")


def test_rows_with_extra_columns_run_and_carry_them(graph_file, tmp_path):
    data = tmp_path / "rows.jsonl"
    rows = [{"name": "a", "captions": ["x"], "id": 7}, {"captions": ["y"]}, {"name": "c", "meta": {"k": 1}}]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out.jsonl"
    r = socratic("run", str(graph_file), "--data", str(data), "--out", str(out), "--no-progress")
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert recs[0] == {"index": 0, "captions": ["x"], "id": 7, "outputs": {"text": "a!!", "tags": "a+b"}}
    assert recs[2]["meta"] == {"k": 1} and "outputs" in recs[2]
    assert "missing required input 'name'" in recs[1]["error"] and recs[1]["captions"] == ["y"]
    assert json.loads(r.stdout)["failed"] == 1
    assert "error: 1 x missing required input 'name' (str) for graph" in r.stderr
    csv = tmp_path / "rows.csv"  # CSV values are read by each input's type
    csv.write_text("name,tags,note\nz,\"[p, q]\",hello\n")
    r = socratic("run", str(graph_file), "--data", str(csv), "--no-progress")
    (rec,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert rec == {"index": 0, "note": "hello", "outputs": {"text": "z!!", "tags": "p+q"}}
