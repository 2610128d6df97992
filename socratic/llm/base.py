"""The LLM interface every backend implements: one async call, the same options everywhere.

A request carries either chat ``messages`` or a plain ``prompt`` plus sampling options. The base
class validates it, answers what it can from the cache (each sample index cached on its own, so
``n=5`` at temperature 0.7 stays five honest samples), sends only the missing samples to the
backend, and records usage. Backends implement :meth:`LLM._agenerate` only.

Example:
    >>> import asyncio
    >>> from socratic.llm.base import LLM, LLMRequest, LLMResult
    >>> class Shout(LLM):
    ...     backend = "shout"
    ...     async def _agenerate(self, request):
    ...         text = request.as_messages()[-1]["content"].upper()
    ...         return LLMResult(texts=[text] * request.n)
    >>> Shout(model="s", cache=False).generate(LLMRequest(prompt="hi")).texts
    ['HI']
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .. import usage
from ..cache import request_key
from ..errors import InputError
from ..models import BackendConfig, ModelBackend


class ChatMessage(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str


class LLMRequest(BaseModel):
    """What to ask: messages or a prompt, and how to sample.

    Example:
        >>> LLMRequest(prompt="Q: 2+2?", temperature=0, max_tokens=5).as_messages()
        [{'role': 'user', 'content': 'Q: 2+2?'}]
        >>> LLMRequest(prompt="x", n=0)
        Traceback (most recent call last):
        pydantic_core._pydantic_core.ValidationError: 1 validation error for LLMRequest
        n
          Input should be greater than or equal to 1 [type=greater_than_equal, input_value=0, input_type=int]
            For further information visit https://errors.pydantic.dev/2.14/v/greater_than_equal
    """

    model_config = ConfigDict(extra="forbid")
    messages: list[ChatMessage] | None = None
    prompt: str | None = None
    n: int = Field(1, ge=1, le=128)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    stop: list[str] | None = None
    seed: int | None = None

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_of(self) -> LLMRequest:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("give exactly one of 'messages' or 'prompt'")
        return self

    def as_messages(self) -> list[dict[str, str]]:
        if self.messages is not None:
            return [m.model_dump() for m in self.messages]
        return [{"role": "user", "content": self.prompt or ""}]

    def as_prompt(self) -> str:
        """Flatten to one string (for completion-style backends without a chat template)."""
        if self.prompt is not None:
            return self.prompt
        parts = []
        for m in self.messages or []:
            parts.append(m.content if m.role == "user" else f"{m.role.capitalize()}: {m.content}")
        return "\n\n".join(parts)

    def sampling(self) -> dict[str, Any]:
        """The sampling options that are set (without n)."""
        return self.model_dump(
            include={"temperature", "top_p", "max_tokens", "stop", "seed"}, exclude_none=True
        )


class TokenUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LLMResult(BaseModel):
    """What came back: one text per sample, token usage, and how many came from the cache.

    Example:
        >>> LLMResult(texts=["a", "b"]).text
        'a'
    """

    texts: list[str]
    usage: TokenUsage = Field(default_factory=TokenUsage)
    cached: int = 0
    model: str = ""

    @property
    def text(self) -> str:
        return self.texts[0]


class LLMConfig(BackendConfig):
    """Options shared by every LLM backend; a request's own options win over these defaults."""

    model: str = Field("", description="model name, hub id or local directory")
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="default sampling temperature")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="default nucleus sampling mass")
    max_tokens: int | None = Field(None, ge=1, description="default cap on generated tokens")
    stop: list[str] | None = Field(None, description="default stop strings")
    seed: int | None = Field(None, description="default sampling seed")
    max_concurrency: int | None = Field(None, ge=1, description="calls in flight at once")
    cache: bool = Field(True, description="use the response cache")


class LLM(ModelBackend):
    """Base class of LLM backends (async first; ``generate`` is the sync convenience).

    Example:
        >>> from socratic.llm.replay import ReplayLLM   # doctest: +SKIP
    """

    kind: ClassVar[str] = "llm"
    Config: ClassVar[type[BackendConfig]] = LLMConfig
    default_concurrency: ClassVar[int] = 8
    #: whether sampling params are honoured (False for deterministic local echo-type backends)
    supports_n: ClassVar[bool] = True

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: Any = None

    # -- what backends implement ----------------------------------------------------------
    async def _agenerate(self, request: LLMRequest) -> LLMResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def cache_identity(self) -> dict[str, Any]:
        """What identifies this model in cache keys (backend + model id; never credentials)."""
        return {"backend": self.backend, "model": getattr(self.config, "model", "")}

    # -- the public interface -----------------------------------------------------------
    def with_defaults(self, request: LLMRequest) -> LLMRequest:
        """Fill the options the request leaves unset from the model's config (both validated
        already, so no second validation)."""
        defaults = self.__dict__.get("_defaults")
        if defaults is None:
            defaults = self._defaults = self.config.model_dump(
                include={"temperature", "top_p", "max_tokens", "stop", "seed"}, exclude_none=True
            )
        missing = {k: v for k, v in defaults.items() if getattr(request, k) is None}
        return request.model_copy(update=missing) if missing else request

    def _sem(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
            self._semaphore_loop = loop
        return self._semaphore

    async def agenerate(self, request: LLMRequest | dict[str, Any] | str) -> LLMResult:
        """Answer a request, using the cache per sample index; only misses reach the backend."""
        if isinstance(request, str):
            request = LLMRequest(prompt=request)
        elif isinstance(request, dict):
            try:
                request = LLMRequest(**request)
            except ValueError as exc:
                raise InputError(f"invalid LLM request: {exc}") from None
        request = self.with_defaults(request)
        cache = self.response_cache() if getattr(self.config, "cache", True) else None
        keys: list[str] = []
        hits: dict[str, Any] = {}
        if cache is not None:
            base = {
                **self.cache_identity(),
                "messages": request.messages and request.as_messages(),
                "prompt": request.prompt,
                **request.sampling(),
            }
            keys = [request_key({**base, "sample": i}) for i in range(request.n)]
            hits = cache.get_many("llm", keys)
        missing = [k for k in keys if k not in hits] if cache is not None else []
        n_missing = len(missing) if cache is not None else request.n
        fresh = LLMResult(texts=[])
        if n_missing:
            fresh = await self.send(request.model_copy(update={"n": n_missing}))
            if len(fresh.texts) != n_missing:
                raise RuntimeError(
                    f"{self.name} returned {len(fresh.texts)} samples, expected {n_missing}"
                )
            usage.record(
                requests=1,
                prompt_tokens=fresh.usage.prompt_tokens,
                completion_tokens=fresh.usage.completion_tokens,
            )
            if cache is not None:
                cache.put_many("llm", dict(zip(missing, ({"text": t} for t in fresh.texts), strict=True)))
        if cache is None:
            return fresh
        if hits:
            usage.record(cache_hits=len(hits))
        it = iter(fresh.texts)
        texts = [hits[k]["text"] if k in hits else next(it) for k in keys]
        return LLMResult(texts=texts, usage=fresh.usage, cached=len(hits), model=fresh.model)

    async def send(self, request: LLMRequest) -> LLMResult:
        """Send a request to the backend as it is: no cache, no usage count, under this model's
        concurrency limit (a recorder that wraps this model uses it)."""
        async with self._sem():
            return await self._agenerate(request)

    def generate(self, request: LLMRequest | dict[str, Any] | str) -> LLMResult:
        """Synchronous :meth:`agenerate` (not from inside a running event loop)."""
        return asyncio.run(self.agenerate(request))

    async def aclose(self) -> None:
        """Release clients / connections (optional)."""
