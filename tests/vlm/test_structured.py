"""Structured answers: response_format sent exactly, validation, bounded re-asks, typed field
outputs checked by validate, pydantic models, and constrained decoding for local models."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from socratic import Graph, node
from socratic.errors import GraphError, NodeError, ParseError, ValidationFailed
from socratic.llm.hf import HFLLM
from socratic.llm.openai_backend import OpenAILLM
from socratic.nodes.llm import Generate
from socratic.spec import load_graph

SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["cat", "dog"]},
                                           "legs": {"type": "integer"}},
          "required": ["label", "legs"], "additionalProperties": False}


def write_graph(tmp_path, server, *, extra_model="", extra_node="", downstream=""):
    lines = [
        "inputs:",
        "  thing: str",
        "models:",
        f'  llm: {{backend: openai, model: m, base_url: "{server.base_url}", cache: false{extra_model}}}',
        "nodes:",
        "  ask:",
        "    type: llm.generate",
        "    model: llm",
        '    template: "What is a {{ thing }}?"',
        f"    parse: {{json_schema: {json.dumps(SCHEMA)}}}",
        "    thing: ${inputs.thing}",
        *([f"    {extra_node}"] if extra_node else []),
        *([f"  {downstream}"] if downstream else []),
        "outputs:",
        "  label: ${ask.label}",
        "  legs: ${ask.legs}",
    ]
    path = tmp_path / "g.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_yaml_json_schema_sends_response_format_and_types_the_fields(tmp_path, fake):
    fake.reply = lambda body: '{"label": "cat", "legs": 4}'
    graph = load_graph(write_graph(tmp_path, fake))
    assert graph.run(thing="kitten") == {"label": "cat", "legs": 4}
    assert fake.bodies == [{"model": "m", "messages": [{"role": "user", "content": "What is a kitten?"}],
                            "response_format": {"type": "json_schema", "json_schema": {
                                "name": "answer", "schema": SCHEMA, "strict": True}}}]
    sockets = graph.nodes["ask"].node.output_sockets()
    assert {k: s.type for k, s in sockets.items()} == {"output": dict[str, Any], "text": str,
                                                      "label": str, "legs": int}


def test_validate_checks_field_types_downstream(tmp_path, fake):
    @node(name="test.shout")
    def shout(text: str) -> str:
        return text.upper()

    ok = write_graph(tmp_path, fake, downstream='up: {type: test.shout, text: "${ask.label}"}')
    load_graph(ok)  # str -> str
    bad = write_graph(tmp_path, fake, downstream='up: {type: test.shout, text: "${ask.legs}"}')
    with pytest.raises(ValidationFailed, match=r"\$\{ask.legs\} is int but 'up.text' expects str"):
        load_graph(bad)


def test_reask_with_the_schema_errors_then_a_clear_failure(tmp_path, fake):
    answers = iter(['{"label": "bird", "legs": 2}', '{"label": "dog", "legs": 4}'])
    fake.reply = lambda body: next(answers)
    graph = load_graph(write_graph(tmp_path, fake))
    assert graph.run(thing="puppy") == {"label": "dog", "legs": 4}
    reask = fake.bodies[1]["messages"]
    assert reask[1] == {"role": "assistant", "content": '{"label": "bird", "legs": 2}'}
    assert "label: 'bird' is not one of ['cat', 'dog']" in reask[2]["content"]
    assert json.dumps(SCHEMA, separators=(",", ":")) in reask[2]["content"]
    # an answer that never validates: the raw text and every schema error, after 1 + reask tries
    fake.reply = lambda body: 'Sure! {"label": "cow", "legs": "four"}'
    fake.reset()
    with pytest.raises(NodeError) as info:
        load_graph(write_graph(tmp_path, fake, extra_node="reask: 2")).run(thing="cow")
    cause = info.value.__cause__
    assert isinstance(cause, ParseError) and fake.count == 3
    assert "2 schema errors: label: 'cow' is not one of ['cat', 'dog']; legs: 'four' is not of type" \
        in str(cause)
    assert "raw text: 'Sure! {\"label\": \"cow\", \"legs\": \"four\"}'" in str(cause)


def test_a_server_that_rejects_schemas_and_the_prompt_fallback(tmp_path, fake):
    fake.schemas = False
    with pytest.raises(NodeError, match="response_format json_schema is not supported.*set response_format: false"):
        load_graph(write_graph(tmp_path, fake, extra_model=", max_attempts: 1")).run(thing="cat")
    fake.reset()
    fake.reply = lambda body: '```json\n{"label": "cat", "legs": 4}\n```'
    graph = load_graph(write_graph(tmp_path, fake, extra_model=", response_format: false"))
    assert graph.run(thing="cat") == {"label": "cat", "legs": 4}
    (body,) = fake.bodies
    assert "response_format" not in body
    assert body["messages"][0]["content"] == (
        "What is a cat?\n\nAnswer with JSON only, matching this JSON schema: "
        + json.dumps(SCHEMA, separators=(",", ":")))


def test_bad_schemas_are_validation_errors(tmp_path, fake):
    path = write_graph(tmp_path, fake)
    path.write_text(path.read_text().replace('"type": "integer"', '"type": "whole"'))
    with pytest.raises(ValidationFailed, match="not a valid JSON schema"):
        load_graph(path)
    with pytest.raises(GraphError, match="clash with the node's own output"):
        Generate(OpenAILLM(model="m"), template="x",
                 parse={"json_schema": {"type": "object", "properties": {"text": {"type": "string"}}}})


class Pet(BaseModel):
    label: str
    legs: int
    tags: list[str] = []


def test_pydantic_model_in_python(fake):
    fake.reply = lambda body: '{"label": "cat", "legs": 4, "tags": ["soft"]}'
    gen = Generate(OpenAILLM(model="m", base_url=fake.base_url, cache=False), template="{{ q }}", parse=Pet,
                   n=2)
    sockets = gen.output_sockets()
    assert sockets["output"].type == list[Pet] and sockets["legs"].type == list[int]
    g = Graph()
    g.add_input("q", str)
    g.add("ask", gen, q="inputs.q")
    g.add_output("pets", "ask.output")
    g.add_output("tags", "ask.tags")
    out = g.run(q="describe")
    assert out["pets"] == [Pet(label="cat", legs=4, tags=["soft"])] * 2
    assert out["tags"] == [["soft"], ["soft"]]
    assert fake.bodies[0]["response_format"]["json_schema"]["schema"] == Pet.model_json_schema()
    assert fake.bodies[0]["response_format"]["json_schema"]["strict"] is False  # tags is optional


def test_constrained_decoding_makes_a_random_model_answer_valid_json(vlms):
    """A random tiny Llama writes gibberish; under xgrammar its answer is JSON of the schema."""
    pytest.importorskip("xgrammar", reason="constrained decoding needs xgrammar (in .[dev])")
    schema = {"type": "object", "properties": {"label": {"enum": ["cat", "dog"]}, "ok": {"type": "boolean"}},
              "required": ["label", "ok"], "additionalProperties": False}
    free = HFLLM(model=vlms.llama, cache=False, max_tokens=40, constrained="off")
    graph = Graph()
    graph.add_input("q", str)
    graph.add("ask", Generate(HFLLM(model=vlms.llama, cache=False, max_tokens=40), template="{{ q }}",
                              parse={"json_schema": schema}, reask=0), q="inputs.q")
    graph.add_output("label", "ask.label")
    graph.add_output("ok", "ask.ok")
    rows = graph.run_many([{"q": q} for q in ("a cat?", "which one", "tell me")])
    assert all(r["outputs"]["label"] in ("cat", "dog") and isinstance(r["outputs"]["ok"], bool) for r in rows)
    unconstrained = free.generate({"prompt": "a cat?"}).text
    with pytest.raises(ParseError):
        Generate(free, template="x", parse={"json_schema": schema}).parser.parse(unconstrained)
