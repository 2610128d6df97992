"""Streaming: Graph.astream events (nodes, token deltas, rows), native SSE from the openai
backend, transformers' streamer for hf, cache hits and replay as one chunk, `run --stream`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from socratic import Graph, node
from socratic.cache import Cache
from socratic.context import BuildContext
from socratic.errors import NodeError
from socratic.llm.hf import HFLLM
from socratic.llm.openai_backend import OpenAILLM
from socratic.llm.replay import ReplayLLM
from socratic.nodes.llm import Generate


@node(name="test.words")
def words(text: str) -> int:
    return len(text.split())


def graph_of(model, **options) -> Graph:
    g = Graph("stream")
    g.add_input("topic", str)
    g.add("ask", Generate(model, template="tell me about {{ topic }} please", **options), topic="inputs.topic")
    g.add("count", words, text="ask.output")
    g.add_output("answer", "ask.output")
    g.add_output("words", "count.output")
    return g


async def collect(agen):
    return [e async for e in agen]


@pytest.mark.parametrize("transport", ["direct", "sdk"])
async def test_openai_streams_token_events_natively(fake, transport):
    model = OpenAILLM(model="m", base_url=fake.base_url, cache=False, transport=transport)
    events = await collect(graph_of(model).astream(topic="owls"))
    kinds = [(e.kind, e.node) for e in events if e.kind != "token"]
    assert kinds == [("node_started", "ask"), ("node_finished", "ask"), ("node_started", "count"),
                     ("node_finished", "count"), ("finished", None)]
    tokens = [e.text for e in events if e.kind == "token"]
    assert tokens == ["echo:", " tell", " me", " about", " owls", " please"]
    assert all(e.node == "ask" and e.row is None for e in events if e.kind == "token")
    assert events[-1].outputs == {"answer": "echo: tell me about owls please", "words": 6}
    assert fake.bodies[0]["stream"] is True and fake.bodies[0]["stream_options"] == {"include_usage": True}
    # outside astream nothing streams
    await graph_of(model).arun(topic="owls")
    assert "stream" not in fake.bodies[1]


async def test_rows_items_and_failures_in_a_dataset_stream(fake):
    model = OpenAILLM(model="m", base_url=fake.base_url, cache=False)
    g = Graph("fan")
    g.add_input("topics", list[str])
    g.add("ask", Generate(model, template="{{ t }}"), for_each={"t": "inputs.topics"})
    g.add_output("answers", "ask.output")
    rows = [{"topics": ["a b", "c"]}, {"topics": "not a list"}, {"topics": ["d"]}]
    events = await collect(g.astream(rows, concurrency=2))
    ends = {e.row: e for e in events if e.kind in ("finished", "failed")}
    assert ends[0].outputs == {"answers": ["echo: a b", "echo: c"]} and ends[2].outputs == {"answers": ["echo: d"]}
    assert ends[1].kind == "failed" and "expects list[str]" in str(ends[1].error)
    row0 = [(e.item, e.text) for e in events if e.kind == "token" and e.row == 0]
    assert sorted(row0) == [(0, " a"), (0, " b"), (0, "echo:"), (1, " c"), (1, "echo:")]


async def test_a_failing_node_is_an_event_then_the_error(fake):
    from socratic.testing import Fault

    fake.push(Fault.status(400, message="bad request"))
    events = []
    with pytest.raises(NodeError, match="bad request"):
        async for e in graph_of(OpenAILLM(model="m", base_url=fake.base_url, cache=False)).astream(topic="x"):
            events.append(e)
    assert [e.kind for e in events] == ["node_started", "node_failed", "failed"]


async def test_cache_hits_and_replay_come_as_one_chunk(fake, tmp_path):
    context = BuildContext(cache=Cache(tmp_path / "cache"))
    model = OpenAILLM(model="m", base_url=fake.base_url).bind(context)
    first = await collect(graph_of(model).astream(topic="owls"))
    again = await collect(graph_of(model).astream(topic="owls"))
    assert len([e for e in first if e.kind == "token"]) == 6
    assert [e.text for e in again if e.kind == "token"] == ["echo: tell me about owls please"]
    assert fake.count == 1
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"prompt": "tell me about owls please", "texts": ["they hoot"]}) + "\n")
    events = await collect(graph_of(ReplayLLM(path=str(path))).astream(topic="owls"))
    assert [e.text for e in events if e.kind == "token"] == ["they hoot"]


async def test_hf_streams_through_transformers_streamer(vlms):
    model = HFLLM(model=vlms.llama, cache=False, max_tokens=12)
    whole = (await model.agenerate({"prompt": "a photo of"})).text
    chunks = [c async for c in model.astream({"prompt": "a photo of"})]
    deltas = [c.text for c in chunks if c.result is None]
    assert len(deltas) > 1 and "".join(deltas) == whole == chunks[-1].result.text
    stop = whole.split()[2]
    cut = [c async for c in model.astream({"prompt": "a photo of", "stop": [stop]})]
    assert "".join(c.text for c in cut if c.result is None) == whole[: whole.find(stop)]


def test_run_stream_prints_the_tokens(fake, tmp_path):
    fake.latency = 0.0
    path = tmp_path / "g.yaml"
    path.write_text(f"""\
inputs:
  topic: {{type: str, default: owls}}
models:
  llm: {{backend: openai, model: m, base_url: "{fake.base_url}", cache: false}}
nodes:
  ask: {{type: llm.generate, model: llm, template: "about {{{{ topic }}}}", topic: "${{inputs.topic}}"}}
  count: {{type: text.template, template: "{{{{ x }}}}!", x: "${{ask.output}}"}}
outputs:
  answer: ${{ask.output}}
  shout: ${{count.output}}
""")
    done = subprocess.run([sys.executable, "-m", "socratic", "run", str(path), "--stream", "-i", "topic=cats"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "echo: about cats\n"
    assert json.loads(done.stderr.strip().splitlines()[-1]) == {"shout": "echo: about cats!"}
    assert fake.bodies[0]["stream"] is True
