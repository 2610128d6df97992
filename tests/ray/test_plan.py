"""The stage plan (no Ray needed): cuts at model boundaries, what each stage passes on, the
resources of models: entries (validated; ignored by the local engine), defaults fitted to a
cluster, and stages run one after another equal the graph run at once."""

from __future__ import annotations

import json

import pytest

from socratic.cli import main
from socratic.engines import fit_resources, plan_stages
from socratic.engines.stages import RowState
from socratic.errors import ValidationFailed
from socratic.runner import RowRunner
from socratic.spec import load_graph, load_graph_text

from . import helpers  # noqa: F401
from .conftest import EXAMPLES


def _cuts(graph):
    return [(s.kind, s.nodes, sorted(s.models)) for s in plan_stages(graph).stages]


def test_stages_follow_model_boundaries():
    assert _cuts(load_graph(EXAMPLES / "socratic_captioning.yaml")) == [
        ("model", ["evidence"], ["clip"]), ("model", ["write"], ["llm"]), ("model", ["rerank"], ["clip"])]
    assert _cuts(load_graph(EXAMPLES / "fewshot_classification.yaml")) == [
        ("task", ["select"], []), ("model", ["classify"], ["llm"])]
    # nodes of one model that become ready together share a stage; a light node between two
    # uses of a model splits them
    assert _cuts(load_graph(EXAMPLES / "retrieval.yaml")) == [
        ("model", ["text_query", "image_embedding", "modifier_embedding", "by_text"], ["clip"]),
        ("task", ["composed"], []), ("model", ["by_composition"], ["clip"])]
    assert _cuts(load_graph(EXAMPLES / "self_consistency.yaml")) == [
        ("model", ["reason", "extract"], ["llm"]), ("task", ["vote"], [])]


def test_stages_pass_on_only_what_later_stages_read():
    plan = plan_stages(load_graph(EXAMPLES / "socratic_captioning.yaml"))
    evidence, write, rerank = plan.stages
    assert write.reads == {("evidence", "img_type"), ("evidence", "num_people"), ("evidence", "places"),
                           ("evidence", "objects")}
    assert ("evidence", "img_type") in evidence.keeps and ("evidence", "img_type") not in write.keeps
    assert ("inputs", "image") in write.keeps  # rerank reads the image again
    assert rerank.keeps == set(plan.outputs.values())


def test_running_the_stages_one_after_another_is_running_the_graph():
    graph = load_graph(EXAMPLES / "self_consistency.yaml")
    plan = plan_stages(graph)
    values = {("inputs", k): v for k, v in graph.prepare_inputs({}).items()}
    rows = [RowState(values=dict(values))]
    for stage in plan.stages:
        rows = stage.executor(plan).run(rows)
    got = {name: rows[0].values[key] for name, key in plan.outputs.items()}
    assert got == graph.run() and got["answer"] == "4"


RESOURCES = """
inputs: {{t: str}}
models:
  llm: {{backend: replay, path: x.jsonl, resources: {res}}}
nodes:
  a: {{type: llm.generate, model: llm, template: "{{{{ t }}}}", t: "${{inputs.t}}"}}
outputs: {{a: "${{a.text}}"}}
"""


def test_resources_are_validated_where_written():
    graph = load_graph_text(RESOURCES.format(res="{num_gpus: 0.5, num_cpus: 2, replicas: [1, 4], batch_size: 32}"))
    r = plan_stages(graph).stages[0].resources
    assert (r.num_gpus, r.num_cpus, r.replicas, r.batch_size) == (0.5, 2.0, (1, 4), 32)
    for bad, message in [("{replicas: 0}", "replicas must be at least 1"),
                         ("{replicas: [3, 2]}", "needs MIN <= MAX"),
                         ("{num_cpus: -1}", "greater than 0"),
                         ("{num_gpu: 1}", "num_gpu")]:
        with pytest.raises(ValidationFailed) as exc:
            load_graph_text(RESOURCES.format(res=bad), "g.yaml")
        text = str(exc.value)
        assert message in text and "g.yaml:4:" in text, text


def test_the_local_engine_ignores_resources(tmp_path):
    rec = tmp_path / "x.jsonl"
    rec.write_text(json.dumps({"prompt": "hi", "texts": ["hello"]}) + "\n")
    graph = load_graph_text(RESOURCES.format(res="{num_gpus: 8, replicas: 3}"), base_dir=str(tmp_path))
    graph.models["llm"].config.path = str(rec)
    assert RowRunner(graph).collect([{"t": "hi"}])[0]["outputs"] == {"a": "hello"}


def test_defaults_are_fitted_to_the_cluster():
    graph = load_graph(EXAMPLES / "socratic_captioning.yaml")
    plan = plan_stages(graph)
    assert [s.resources.num_cpus for s in plan.stages] == [1.0, 0.25, 1.0]
    assert fit_resources(plan, cpus=2) == []
    cpus = [s.resources.num_cpus for s in plan.stages]
    assert sum(cpus) <= 1.0 + 1e-9, "one CPU is left for reading and writing"
    assert cpus[0] == cpus[2] > cpus[1]
    plan = plan_stages(graph)
    fit_resources(plan, cpus=64, gpus=1)
    assert [s.resources.num_cpus for s in plan.stages] == [1.0, 0.25, 1.0]
    assert [s.resources.num_gpus for s in plan.stages] == [0.5, 0.0, 0.5], "two local stages share the GPU"


def test_values_the_graph_sets_are_kept_and_warned_about():
    graph = load_graph_text(RESOURCES.format(res="{num_cpus: 4}"))
    plan = plan_stages(graph)
    (warning,) = fit_resources(plan, cpus=2)
    assert plan.stages[0].resources.num_cpus == 4 and "ask for 4 CPU(s) but the cluster has 2" in warning


def test_show_prints_the_ray_plan(capsys):
    assert main(["show", str(EXAMPLES / "socratic_captioning.yaml"), "--engine", "ray"]) == 0
    out = capsys.readouterr().out
    assert "3 stage(s)" in out and "1. model stage, actor pool of clip (open_clip:ViT-B-32): evidence" in out
    assert "2. model stage, actor pool of llm (openai:gpt-4o-mini): write" in out
    assert "actors 1*, num_cpus 1*, num_gpus 0*, batch 64*" in out
    assert main(["show", str(EXAMPLES / "fewshot_classification.yaml"), "--engine", "ray", "--format",
                 "json"]) == 0
    stages = json.loads(capsys.readouterr().out)
    assert [s["kind"] for s in stages] == ["task", "model"] and stages[1]["resources"]["num_cpus"] == 0.25
    assert main(["show", str(EXAMPLES / "fewshot_classification.yaml"), "--engine", "ray", "--format",
                 "mermaid"]) == 2


def test_engine_flags_are_checked(capsys, tmp_path):
    graph = str(EXAMPLES / "fewshot_classification.yaml")
    assert main(["run", graph, "--engine", "ray"]) == 2
    assert "--engine ray runs a dataset: give --data" in capsys.readouterr().err
    data = tmp_path / "rows.jsonl"
    data.write_text("{}\n")
    assert main(["run", graph, "--data", str(data), "--ray-address", "auto"]) == 2
    assert "--ray-address goes with --engine ray" in capsys.readouterr().err
