"""Fixtures of the insight tests (plan, trace, tune, report): the fake OpenAI server and a
two-step LLM graph pointed at it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TWO_STEP = """\
name: two-step
inputs:
  text: str
models:
  llm: {backend: openai, model: fake, base_url: BASE, max_tokens: 20}
nodes:
  up:
    type: text.template
    template: "Q: {{ text }}"
    text: ${inputs.text}
  ask:
    type: llm.generate
    model: llm
    template: "Say {{ q }}"
    q: ${up.output}
  again:
    type: llm.generate
    model: llm
    template: "Repeat {{ a }}"
    max_tokens: 5
    n: 2
    temperature: 0.5
    a: ${ask.output}
outputs:
  first: ${ask.output}
  second: ${again.output}
"""


@pytest.fixture
def server(monkeypatch):
    from socratic.testing import FakeOpenAIServer

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer() as s:
        yield s


@pytest.fixture
def two_step(tmp_path: Path, server) -> Path:
    """The two-step graph (two LLM calls a row, the second with n=2) and three rows."""
    path = tmp_path / "g.yaml"
    path.write_text(TWO_STEP.replace("BASE", server.base_url), encoding="utf-8")
    (tmp_path / "rows.jsonl").write_text(
        "".join(f'{{"text": "{w}", "id": "r{i}"}}\n' for i, w in enumerate(["one", "two", "three"])))
    return path


@pytest.fixture
def cache_dir(tmp_path: Path) -> str:
    return os.fspath(tmp_path / "cache")


@pytest.fixture(scope="module")
def shapes_backend():
    """The hand-made shapes CLIP as backend ``shapes_clip`` for one test module, removed after."""
    from .world import register, unregister

    register()
    yield
    unregister()
