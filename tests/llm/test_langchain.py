"""LangChain both ways: a LangChain chat model as a socratic LLM, and socratic as LangChain."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_tests.unit_tests import ChatModelUnitTests

from socratic import usage
from socratic.errors import LLMError
from socratic.integrations.langchain import (
    SocraticChatModel,
    graph_as_runnable,
    to_socratic_messages,
)
from socratic.llm.langchain_backend import LangChainLLM
from socratic.llm.replay import ReplayLLM
from socratic.models import build_backend
from socratic.testing import Fault

from .conftest import FAST_RETRIES


def chat_openai(server, **kw):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model="tiny", base_url=server.base_url, api_key="k", max_retries=0, **kw)


# -- a LangChain chat model as a socratic LLM -------------------------------------------------
async def test_wrap_chat_openai(fake):
    llm = LangChainLLM(chat_model=chat_openai(fake), cache=False)
    assert llm.name == "langchain:tiny"
    with usage.track() as stats:
        out = await llm.agenerate({"messages": [{"role": "system", "content": "s"},
                                                {"role": "user", "content": "a b. c"}],
                                   "temperature": 0.5, "max_tokens": 7, "stop": ["."]})
    assert out.texts == ["echo: a b"]
    body = fake.requests[0].body
    assert body["temperature"] == 0.5 and body["max_completion_tokens"] == 7
    assert body["stop"] == ["."]
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert out.usage.prompt_tokens == 4 and stats.completion_tokens == out.usage.completion_tokens
    many = await llm.agenerate({"prompt": "x", "n": 3})
    assert many.texts == ["echo: x"] * 3 and fake.count == 4


async def test_wrap_errors_become_llm_errors(fake):
    fake.push(Fault.status(400, message="nope"))
    with pytest.raises(LLMError, match=r"langchain model 'tiny' failed: .*400 - nope"):
        await LangChainLLM(chat_model=chat_openai(fake), cache=False).agenerate("x")


async def test_provider_openai_from_a_spec(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k-env")
    llm = build_backend({"backend": "langchain", "provider": "openai", "model": "tiny",
                         "cache": False, "kwargs": {"base_url": fake.base_url}})
    assert (await llm.agenerate("hi")).text == "echo: hi"
    with pytest.raises(ValueError, match="credentials do not belong"):
        build_backend({"backend": "langchain", "provider": "openai", "model": "m",
                       "kwargs": {"api_key": "sk-x"}})
    with pytest.raises(ValueError, match="needs a chat model"):
        LangChainLLM(model="m")


# -- socratic as a LangChain chat model ---------------------------------------------------------
def test_socratic_chat_model_over_the_openai_backend(fake):
    chat = SocraticChatModel(spec={"backend": "openai", "model": "tiny",
                                   "base_url": fake.base_url, "cache": False, **FAST_RETRIES},
                             temperature=0, max_tokens=20, max_retries=1, timeout=5)
    assert chat.socratic_llm.config.max_attempts == 2 and chat.socratic_llm.config.timeout == 5
    msg = chat.invoke([SystemMessage("be brief"), HumanMessage("hello. world")], stop=["."])
    assert isinstance(msg, AIMessage) and msg.content == "echo: hello"
    assert msg.usage_metadata["input_tokens"] == 4
    assert fake.requests[0].body["stop"] == ["."]
    assert [m.content for m in chat.batch(["a", "b"])] == ["echo: a", "echo: b"]


async def test_socratic_chat_model_async_and_stream(fake):
    chat = SocraticChatModel(spec={"backend": "openai", "model": "tiny",
                                   "base_url": fake.base_url, "cache": False})
    assert (await chat.ainvoke("hey")).content == "echo: hey"
    chunks = [c.content async for c in chat.astream("streamed")]
    assert "".join(chunks) == "echo: streamed"
    # sync invoke from inside a running loop works too (it runs in a worker thread)
    assert chat.invoke("sync").content == "echo: sync"


def test_socratic_chat_model_refuses_what_it_cannot_do(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"prompt": "hi", "texts": ["hello"], "match": "messages"}) + "\n")
    chat = SocraticChatModel(llm=ReplayLLM(path=str(path)))
    assert chat.invoke("hi").content == "hello"
    with pytest.raises(ValueError, match="text and images, not 'audio'"):
        chat.invoke([HumanMessage([{"type": "audio", "base64": "AAAA", "mime_type": "audio/wav"}])])
    with pytest.raises(ValueError, match="data: or http"):
        chat.invoke([HumanMessage([{"type": "image_url", "image_url": {"url": "x"}}])])
    with pytest.raises(TypeError, match="unsupported arguments"):
        chat.invoke("hi", tools=[])
    with pytest.raises(ValueError, match="exactly one of"):
        SocraticChatModel()
    with pytest.raises(LLMError, match="replay miss"):
        chat.invoke("unknown")


def test_message_conversion():
    msgs = [SystemMessage("s"), HumanMessage([{"type": "text", "text": "a"}, "b"]),
            AIMessage("c")]
    assert to_socratic_messages(msgs) == [
        {"role": "system", "content": "s"}, {"role": "user", "content": "ab"},
        {"role": "assistant", "content": "c"}]


class TestSocraticChatModelUnit(ChatModelUnitTests):
    """LangChain's standard unit tests (no network: nothing is invoked)."""

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return SocraticChatModel

    @property
    def chat_model_params(self) -> dict:
        return {"spec": {"backend": "openai", "model": "tiny",
                         "base_url": "http://127.0.0.1:9/v1"}}

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def supports_model_override(self) -> bool:
        return False


# -- a socratic graph as a LangChain Runnable ---------------------------------------------------
def _graph():
    from socratic import Graph, node

    @node
    def shout(text: str) -> str:
        if text == "boom":
            raise ValueError("boom")
        return text.upper() + "!"

    g = Graph("shout")
    g.add_input("x", str)
    g.add("up", shout, text="inputs.x")
    g.add_output("y", "up.output")
    return g


async def test_graph_as_runnable():
    runnable = graph_as_runnable(_graph())
    assert runnable.invoke({"x": "hi"}) == {"y": "HI!"}
    assert await runnable.ainvoke({"x": "yo"}) == {"y": "YO!"}
    assert runnable.batch([{"x": "a"}, {"x": "b"}]) == [{"y": "A!"}, {"y": "B!"}]
    assert await runnable.abatch([{"x": "c"}]) == [{"y": "C!"}]
    mixed = runnable.batch([{"x": "a"}, {"x": "boom"}], return_exceptions=True)
    assert mixed[0] == {"y": "A!"} and isinstance(mixed[1], Exception)
    with pytest.raises(Exception, match="boom"):
        runnable.batch([{"x": "boom"}])
    assert runnable.get_input_schema().model_json_schema()["properties"]["x"]["type"] == "string"
    # composes with other runnables
    from langchain_core.runnables import RunnableLambda

    chain = RunnableLambda(lambda s: {"x": s}) | runnable | RunnableLambda(lambda d: d["y"])
    assert chain.invoke("chain") == "CHAIN!"
