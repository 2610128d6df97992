"""LangChain both ways with images (a recording chat model; the exported chat model against
the fake server). The real server with images is in tests/llm/test_serve.py."""

from __future__ import annotations

import base64
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from socratic.integrations.langchain import SocraticChatModel
from socratic.llm.langchain_backend import LangChainLLM


class Recorder(BaseChatModel):
    """A chat model that keeps the messages it was sent and answers with how many images."""

    seen: list[Any] = []

    @property
    def _llm_type(self) -> str:
        return "recorder"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.seen.append(messages)
        blocks = [b for m in messages if isinstance(m.content, list) for b in m.content]
        images = sum(1 for b in blocks if b.get("type") == "image")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(f"{images} images"))])


def b64(path: str) -> str:
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def test_wrapped_langchain_model_gets_standard_image_blocks(pictures):
    chat = Recorder(seen=[])
    llm = LangChainLLM(chat_model=chat, cache=False)
    out = llm.generate({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "compare"}, {"type": "image", "image": pictures.red},
        {"type": "image", "image": pictures.green}]}]})
    assert out.text == "2 images"
    (message,) = chat.seen[0]
    assert message.content == [
        {"type": "text", "text": "compare"},
        {"type": "image", "base64": b64(pictures.red), "mime_type": "image/png"},
        {"type": "image", "base64": b64(pictures.green), "mime_type": "image/jpeg"}]


def test_exported_chat_model_reads_every_image_block_form(fake, pictures):
    chat = SocraticChatModel(spec={"backend": "openai", "model": "m", "base_url": fake.base_url,
                                   "cache": False})
    url = f"data:image/png;base64,{b64(pictures.red)}"
    message = HumanMessage([
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": url, "detail": "low"}},  # OpenAI form
        {"type": "image", "base64": b64(pictures.blue), "mime_type": "image/png"},  # v1
        {"type": "image", "source_type": "base64", "data": b64(pictures.green), "mime_type": "image/jpeg"},  # v0
        {"type": "image", "url": "https://example.com/x.png"},
    ])
    assert chat.invoke([message]).content == "echo: what? [image 64x48] [image 48x64] [image 80x80] [image]"
    parts = fake.bodies[0]["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": url, "detail": "low"}}
    assert parts[4] == {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}
    # token deltas stream through LangChain's astream
    chunks = [c.content for c in chat.stream("tell me a story")]
    assert chunks[:3] == ["echo:", " tell", " me"] and "".join(chunks) == "echo: tell me a story"
