"""The replay backend: human-written files, recording from another backend, misses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from socratic import usage
from socratic.errors import LLMError, ModelLoadError
from socratic.llm.replay import ReplayLLM
from socratic.models import build_backend

from .conftest import FAST_RETRIES

USER = [{"role": "user", "content": "Describe a cat"}]


def write(path: Path, *lines: dict) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


async def test_human_written_file_exact_and_loose_matching(tmp_path):
    path = write(
        tmp_path / "a.jsonl",
        {"messages": USER, "temperature": 0, "texts": ["a small furry animal"]},
        {"prompt": "Q: 2+2?", "texts": ["4"], "match": "messages"},
    )
    llm = build_backend({"backend": "replay", "path": str(path)})
    assert isinstance(llm, ReplayLLM)
    assert (await llm.agenerate({"messages": USER, "temperature": 0})).texts == [
        "a small furry animal"
    ]
    # the second line ignores sampling options; the first does not
    assert (await llm.agenerate({"prompt": "Q: 2+2?", "max_tokens": 3})).text == "4"
    with pytest.raises(LLMError, match="replay miss"):
        await llm.agenerate({"messages": USER, "temperature": 0.5})


async def test_config_level_loose_matching(tmp_path):
    path = write(tmp_path / "a.jsonl", {"messages": USER, "temperature": 0, "texts": ["t"]})
    llm = ReplayLLM(path=str(path), match="messages")
    assert (await llm.agenerate({"messages": USER, "temperature": 1.0})).text == "t"


async def test_miss_names_the_file_and_the_last_user_message(tmp_path):
    path = write(tmp_path / "a.jsonl", {"prompt": "known", "texts": ["x"]})
    llm = ReplayLLM(path=str(path))
    with pytest.raises(LLMError) as err:
        await llm.agenerate({"messages": [{"role": "system", "content": "sys"},
                                          {"role": "user", "content": "never recorded"}]})
    assert str(path) in str(err.value) and "'never recorded'" in str(err.value)


async def test_samples_add_up_across_lines_and_too_few_is_an_error(tmp_path):
    path = write(tmp_path / "a.jsonl",
                 {"prompt": "p", "temperature": 1.0, "texts": ["s0", "s1"]},
                 {"prompt": "p", "temperature": 1.0, "texts": ["s2"]})
    llm = ReplayLLM(path=str(path))
    assert (await llm.agenerate({"prompt": "p", "temperature": 1.0, "n": 3})).texts == [
        "s0", "s1", "s2"]
    assert (await llm.agenerate({"prompt": "p", "temperature": 1.0, "n": 2})).texts == [
        "s0", "s1"]
    with pytest.raises(LLMError, match="holds 3 answer"):
        await llm.agenerate({"prompt": "p", "temperature": 1.0, "n": 4})


def test_missing_file_and_bad_lines(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        ReplayLLM(path=str(tmp_path / "none.jsonl")).generate("x")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "texts": ["ok"]}\n{"prompt": "p"}\n')
    with pytest.raises(ModelLoadError, match=r"bad.jsonl:2: bad replay line"):
        ReplayLLM(path=str(bad)).generate("p")
    bad.write_text('{"prompt": "p", "messages": [], "texts": ["ok"]}\n')
    with pytest.raises(ModelLoadError, match="exactly one of"):
        ReplayLLM(path=str(bad)).generate("p")
    with pytest.raises(ValueError, match="record_from"):
        ReplayLLM(path="x.jsonl", mode="record")


async def test_record_then_replay_is_identical_and_offline(tmp_path, fake):
    path = tmp_path / "rec.jsonl"
    source = {"backend": "openai", "model": "tiny", "base_url": fake.base_url, **FAST_RETRIES}
    recorder = ReplayLLM(path=str(path), mode="record", record_from=source)
    requests = [
        {"messages": USER, "temperature": 0},
        {"prompt": "two samples", "temperature": 0.8, "n": 2},
        {"prompt": "stop here. not there", "stop": "."},
    ]
    with usage.track() as stats:
        recorded = [await recorder.agenerate(r) for r in requests]
    assert fake.count == 3 and stats.requests == 3  # counted once, not twice
    assert stats.prompt_tokens > 0
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[1] == {"prompt": "two samples", "temperature": 0.8,
                        "texts": ["echo: two samples", "echo: two samples #1"]}
    assert "api_key" not in path.read_text()

    fake.stop()  # replay needs no server
    player = ReplayLLM(path=str(path))
    replayed = [await player.agenerate(r) for r in requests]
    assert [r.texts for r in replayed] == [r.texts for r in recorded]
    again = [await ReplayLLM(path=str(path)).agenerate(r) for r in requests]
    assert [r.texts for r in again] == [r.texts for r in replayed]


async def test_a_prompt_is_a_single_user_message(tmp_path):
    path = write(tmp_path / "a.jsonl", {"prompt": "hi", "texts": ["hello"]})
    llm = ReplayLLM(path=str(path))
    assert (await llm.agenerate({"messages": [{"role": "user", "content": "hi"}]})).text == "hello"
    with pytest.raises(LLMError, match="replay miss"):
        await llm.agenerate({"messages": [{"role": "system", "content": "s"},
                                          {"role": "user", "content": "hi"}]})
