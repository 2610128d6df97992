"""Real server: the openai backend and the LangChain export against `transformers serve`."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_tests.integration_tests import ChatModelIntegrationTests
from PIL import Image as PILImage

from socratic import usage
from socratic.errors import LLMError
from socratic.integrations.langchain import SocraticChatModel
from socratic.llm.hf import HFLLM
from socratic.llm.openai_backend import OpenAILLM

pytestmark = pytest.mark.slow


def served_llm(served, **options) -> OpenAILLM:
    return OpenAILLM(**{"model": served.model, "base_url": served.base_url, "cache": False,
                        "max_tokens": 8, "timeout": 60, **options})


async def test_chat_and_completions_against_transformers_serve(transformers_serve):
    with usage.track() as stats:
        chat = await served_llm(transformers_serve).agenerate(
            {"messages": [{"role": "user", "content": "hello"}], "temperature": 0})
        again = await served_llm(transformers_serve).agenerate(
            {"messages": [{"role": "user", "content": "hello"}], "temperature": 0})
        legacy = await served_llm(transformers_serve, api="completions").agenerate(
            {"prompt": "a photo of", "temperature": 0})
    assert chat.text and chat.text == again.text  # greedy is repeatable
    assert legacy.texts and isinstance(legacy.text, str)
    assert chat.usage.prompt_tokens > 0 and 0 < chat.usage.completion_tokens <= 8
    assert stats.requests == 3 and stats.prompt_tokens > 0


async def test_n_is_made_up_when_the_server_returns_one_choice(transformers_serve):
    # transformers serve answers one choice whatever n says: the backend asks again
    with usage.track() as stats:
        out = await served_llm(transformers_serve).agenerate({"prompt": "hi", "n": 3,
                                                               "temperature": 0})
    assert len(out.texts) == 3 and len(set(out.texts)) == 1
    assert stats.requests == 3


async def test_unknown_model_is_a_clear_error(transformers_serve):
    llm = served_llm(transformers_serve, model="/no/such/model-dir", max_attempts=1)
    with pytest.raises(LLMError, match=r"model '/no/such/model-dir' at http://127\.0\.0\.1"):
        await llm.agenerate("hi")


def test_transformers_serve_sees_images_like_the_hf_backend(transformers_serve, tiny_llava, tmp_path):
    """`transformers serve` accepts image_url content parts for a VLM: its greedy answer equals
    the hf backend's on the same tiny LLaVA, image and prompt."""
    red = tmp_path / "red.png"
    PILImage.new("RGB", (64, 48), "red").save(red)
    pictures = SimpleNamespace(red=str(red))
    request = {"messages": [{"role": "user", "content": [
        {"type": "image", "image": pictures.red}, {"type": "text", "text": "what is this?"}]}],
        "temperature": 0, "max_tokens": 6}
    served = OpenAILLM(model=str(tiny_llava), base_url=transformers_serve.base_url, cache=False, timeout=120)
    local = HFLLM(model=str(tiny_llava), cache=False)
    remote = served.generate(request)
    assert remote.text == local.generate(request).text
    assert remote.usage.prompt_tokens == local.generate(request).usage.prompt_tokens
    # the LangChain export against the same server, an image block in
    chat = SocraticChatModel(spec={"backend": "openai", "model": str(tiny_llava),
                                   "base_url": transformers_serve.base_url, "cache": False},
                             temperature=0, max_tokens=6)
    answer = chat.invoke([HumanMessage([{"type": "image", "base64": b64(pictures.red), "mime_type": "image/png"},
                                        {"type": "text", "text": "what is this?"}])])
    assert answer.content == remote.text


def b64(path: str) -> str:
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


class TestSocraticChatModelIntegration(ChatModelIntegrationTests):
    """LangChain's standard integration tests, through the openai backend, on a real server.

    Honest flags: text in, text out. No tool calling, structured output, JSON mode, images,
    audio, PDF or per-call model override; streaming falls back to one chunk.
    """

    @pytest.fixture(autouse=True)
    def _server(self, transformers_serve):
        type(self).served = transformers_serve

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return SocraticChatModel

    @property
    def chat_model_params(self) -> dict:
        served = type(self).served
        return {"spec": {"backend": "openai", "model": served.model,
                         "base_url": served.base_url, "cache": False},
                "max_tokens": 12}

    has_tool_calling = property(lambda self: False)
    has_tool_choice = property(lambda self: False)
    has_structured_output = property(lambda self: False)
    supports_json_mode = property(lambda self: False)
    supports_image_inputs = property(lambda self: False)
    supports_image_urls = property(lambda self: False)
    supports_pdf_inputs = property(lambda self: False)
    supports_audio_inputs = property(lambda self: False)
    supports_video_inputs = property(lambda self: False)
    supports_image_tool_message = property(lambda self: False)
    supports_pdf_tool_message = property(lambda self: False)
    supports_anthropic_inputs = property(lambda self: False)
    supports_model_override = property(lambda self: False)
    returns_usage_metadata = property(lambda self: True)
