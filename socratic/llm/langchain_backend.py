"""The ``langchain`` backend: any LangChain chat model (``BaseChatModel``) as a socratic LLM.

In Python, pass the chat model object: ``LangChainLLM(chat_model=ChatAnthropic(...))``. From
YAML, ``provider: openai`` builds ``langchain_openai.ChatOpenAI(model=..., **kwargs)`` (its key
comes from the environment, as ChatOpenAI reads it; keys are refused in ``kwargs`` so they never
land in a graph file or in ``socratic show``).

Sampling options are applied by copying the chat model with the fields it has (``temperature``,
``max_tokens``, ``top_p``, ``seed``); ``stop`` is passed per call; ``n`` > 1 makes n calls at
once. Token usage is read from the answers' ``usage_metadata``. Retries are the chat model's own
(its ``max_retries``).

Images are sent as LangChain's standard image content blocks (``{"type": "image", "base64",
"mime_type"}``; an ``http(s)`` image as ``url``), which every multimodal chat model reads; the
base64 text is computed once per image (:mod:`socratic.llm.images`). Streaming uses the chat
model's own ``astream``.

Example:
    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> llm = LangChainLLM(chat_model=FakeListChatModel(responses=["meow"]), cache=False)
    >>> llm.generate("what does the cat say?").text
    'meow'
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from ..errors import LLMError, ModelLoadError
from .base import LLM, LLMChunk, LLMConfig, LLMRequest, LLMResult, TokenUsage
from .openai_errors import redact

_SECRET_HINTS = ("api_key", "apikey", "secret", "password", "access_token", "auth")
_SAMPLING_FIELDS = ("temperature", "max_tokens", "top_p", "seed")


class LangChainConfig(LLMConfig):
    """Options of the ``langchain`` backend (the chat model object itself is passed in Python).

    Example:
        >>> LangChainConfig(provider="openai", model="gpt-4o-mini", kwargs={"timeout": 30}).kwargs
        {'timeout': 30}
    """

    provider: Literal["openai"] | None = Field(
        None, description="build a chat model from YAML: 'openai' = langchain_openai.ChatOpenAI"
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="provider class arguments")

    @field_validator("kwargs")
    @classmethod
    def _no_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in v if any(h in k.lower() for h in _SECRET_HINTS)]
        if bad:
            raise ValueError(
                f"credentials do not belong in a graph file ({', '.join(bad)}): set them in the "
                "environment (e.g. OPENAI_API_KEY) where the provider reads them"
            )
        return v


def to_langchain_content(content: Any) -> Any:
    """socratic content (text, or text and image parts) -> LangChain content (standard blocks).

    Example:
        >>> to_langchain_content([{"type": "text", "text": "hi"}])
        [{'type': 'text', 'text': 'hi'}]
    """
    if isinstance(content, str):
        return content
    from .images import data_url

    blocks: list[dict[str, Any]] = []
    for p in content:
        if p["type"] == "text":
            blocks.append({"type": "text", "text": p["text"]})
            continue
        url = data_url(p["image"]).url
        if url.startswith("data:"):
            head, _, payload = url.partition(",")
            blocks.append({"type": "image", "base64": payload,
                           "mime_type": head.removeprefix("data:").removesuffix(";base64")})
        else:
            blocks.append({"type": "image", "url": url})
    return blocks


def to_langchain_messages(request: LLMRequest) -> list[Any]:
    """socratic chat messages -> LangChain message objects (images as standard blocks)."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m["role"]](content=to_langchain_content(m["content"])) for m in request.as_messages()]


class LangChainLLM(LLM):
    """A LangChain chat model behind the socratic LLM interface.

    Example:
        >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
        >>> llm = LangChainLLM(chat_model=FakeListChatModel(responses=["a", "b"]), cache=False)
        >>> llm.generate({"prompt": "two please", "n": 2}).texts
        ['a', 'b']

    In YAML: ``llm: {backend: langchain, provider: openai, model: gpt-4o-mini, kwargs: {}}``.
    """

    backend: ClassVar[str] = "langchain"
    Config: ClassVar[type[LangChainConfig]] = LangChainConfig
    default_concurrency: ClassVar[int] = 16
    config: LangChainConfig

    def __init__(self, chat_model: Any = None, **config: Any) -> None:
        super().__init__(**config)
        if chat_model is None and self.config.provider is None:
            raise ValueError(
                "the langchain backend needs a chat model: LangChainLLM(chat_model=...) in "
                "Python, or 'provider: openai' (+ model, kwargs) in YAML"
            )
        self._chat_model = chat_model

    @property
    def model_id(self) -> str:
        if self.config.model:
            return self.config.model
        cm = self._chat_model
        for attr in ("model_name", "model", "model_id"):
            value = getattr(cm, attr, None)
            if isinstance(value, str) and value:
                return value
        return type(cm).__name__

    @property
    def name(self) -> str:
        return f"langchain:{self.model_id}"

    def cache_identity(self) -> dict[str, Any]:
        cls = type(self._chat_model).__qualname__ if self._chat_model is not None else "ChatOpenAI"
        kwargs = getattr(self.config, "kwargs", None)  # base_url, temperature ... (no secrets)
        return {"backend": self.backend, "model": self.model_id, "class": cls,
                "provider": self.config.provider, "kwargs": kwargs}

    def _load(self) -> Any:
        if self._chat_model is not None:
            return self._chat_model
        try:
            from langchain_openai import ChatOpenAI
        except ImportError:
            raise ModelLoadError(
                "provider: openai needs langchain-openai (pip install langchain-openai)"
            ) from None
        try:
            return ChatOpenAI(model=self.config.model, **self.config.kwargs)
        except Exception as exc:  # e.g. a missing OPENAI_API_KEY
            reason = redact(str(exc), [])
            raise ModelLoadError(
                f"could not build ChatOpenAI for model '{self.config.model}': {reason}"
            ) from None

    def _configured(self, chat_model: Any, request: LLMRequest) -> Any:
        fields = getattr(type(chat_model), "model_fields", {})
        update = {
            k: v for k, v in request.sampling().items() if k in _SAMPLING_FIELDS and k in fields
        }
        return chat_model.model_copy(update=update) if update else chat_model

    async def _agenerate(self, request: LLMRequest) -> LLMResult:
        chat_model = self._configured(self.resource(), request)
        messages = to_langchain_messages(request)
        try:
            answers = await asyncio.gather(
                *(chat_model.ainvoke(messages, stop=request.stop) for _ in range(request.n))
            )
        except Exception as exc:
            raise LLMError(
                redact(f"langchain model '{self.model_id}' failed: {type(exc).__name__}: {exc}", [])
            ) from None
        texts: list[str] = []
        tokens = TokenUsage()
        for answer in answers:
            texts.append(_answer_text(answer.content))
            meta = getattr(answer, "usage_metadata", None) or {}
            tokens.prompt_tokens += int(meta.get("input_tokens", 0) or 0)
            tokens.completion_tokens += int(meta.get("output_tokens", 0) or 0)
        return LLMResult(texts=texts, usage=tokens, model=self.model_id)

    async def _astream(self, request: LLMRequest) -> AsyncIterator[LLMChunk]:
        """The chat model's own ``astream`` (n = 1; more samples come whole)."""
        if request.n > 1:
            result = await self._agenerate(request)
            for i, text in enumerate(result.texts):
                yield LLMChunk(text=text, index=i)
            yield LLMChunk(result=result)
            return
        chat_model = self._configured(self.resource(), request)
        parts: list[str] = []
        tokens = TokenUsage()
        try:
            async for chunk in chat_model.astream(to_langchain_messages(request), stop=request.stop):
                text = _answer_text(chunk.content)
                if text:
                    parts.append(text)
                    yield LLMChunk(text=text)
                meta = getattr(chunk, "usage_metadata", None) or {}
                tokens.prompt_tokens += int(meta.get("input_tokens", 0) or 0)
                tokens.completion_tokens += int(meta.get("output_tokens", 0) or 0)
        except Exception as exc:
            raise LLMError(
                redact(f"langchain model '{self.model_id}' failed: {type(exc).__name__}: {exc}", [])
            ) from None
        yield LLMChunk(result=LLMResult(texts=["".join(parts)], usage=tokens, model=self.model_id))


def _answer_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") if isinstance(b, dict) and b.get("type", "text") == "text"
                   else b if isinstance(b, str) else "" for b in content)
