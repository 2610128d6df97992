"""The ``langchain`` backend: any LangChain chat model (``BaseChatModel``) as a socratic LLM.

In Python, pass the chat model object: ``LangChainLLM(chat_model=ChatAnthropic(...))``. From
YAML, ``provider: openai`` builds ``langchain_openai.ChatOpenAI(model=..., **kwargs)`` (its key
comes from the environment, as ChatOpenAI reads it; keys are refused in ``kwargs`` so they never
land in a graph file or in ``socratic show``).

Sampling options are applied by copying the chat model with the fields it has (``temperature``,
``max_tokens``, ``top_p``, ``seed``); ``stop`` is passed per call; ``n`` > 1 makes n calls at
once. Token usage is read from the answers' ``usage_metadata``. Retries are the chat model's own
(its ``max_retries``).

Example:
    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> llm = LangChainLLM(chat_model=FakeListChatModel(responses=["meow"]), cache=False)
    >>> llm.generate("what does the cat say?").text
    'meow'
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from ..errors import LLMError, ModelLoadError
from .base import LLM, LLMConfig, LLMRequest, LLMResult, TokenUsage
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


def to_langchain_messages(request: LLMRequest) -> list[Any]:
    """socratic chat messages -> LangChain message objects."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m["role"]](content=m["content"]) for m in request.as_messages()]


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
            content = answer.content
            if not isinstance(content, str):  # content blocks
                content = "".join(
                    b.get("text", "") if isinstance(b, dict) else str(b) for b in content
                )
            texts.append(content)
            meta = getattr(answer, "usage_metadata", None) or {}
            tokens.prompt_tokens += int(meta.get("input_tokens", 0) or 0)
            tokens.completion_tokens += int(meta.get("output_tokens", 0) or 0)
        return LLMResult(texts=texts, usage=tokens, model=self.model_id)
